"""Numbered SQL migrations of the PostgreSQL store (clipwatch.stores.postgres applies them in order)."""
