"""Real servers the tests run against (built from source, started per session)."""
