"""Webhooks (README: Webhooks): signed POSTs when a version becomes ready or failed."""
