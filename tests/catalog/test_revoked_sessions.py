"""Signed-out sessions live in the catalog, so every replica refuses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.catalog.conftest import MakeCatalog


def test_a_revocation_is_seen_by_another_replica(make_catalog: MakeCatalog) -> None:
    one, two = make_catalog(), make_catalog()
    one.create_schema()
    later = datetime.now(UTC) + timedelta(hours=1)
    assert not two.session_revoked("sid-a")
    one.revoke_session("sid-a", later)
    assert two.session_revoked("sid-a")
    assert not two.session_revoked("sid-b")
    # Twice (two replicas signing out the same cookie) is not an error.
    two.revoke_session("sid-a", later)
    assert one.session_revoked("sid-a")


def test_expired_revocations_are_purged(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog()
    catalog.create_schema()
    catalog.revoke_session("old", datetime.now(UTC) - timedelta(seconds=1))
    catalog.revoke_session("new", datetime.now(UTC) + timedelta(hours=1))
    # The old session's cookie has expired anyway; its row is gone.
    assert not catalog.session_revoked("old")
    assert catalog.session_revoked("new")
