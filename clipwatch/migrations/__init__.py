"""Numbered SQL migrations of the PostgreSQL store (clipwatch.pgstore applies them in order)."""
