"""The PostgreSQL store's schema: the numbered SQL files in clipwatch/stores/migrations, applied in order
under an advisory lock, so the first replica to start migrates and the others wait."""

from __future__ import annotations

import logging
from importlib import resources

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x636C6970  # "clip": one migrator at a time, whichever replica starts first


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, SQL) of every migration file, in order."""
    files = sorted(f for f in resources.files("clipwatch.stores.migrations").iterdir() if f.name.endswith(".sql"))
    return [(int(f.name.split("_", 1)[0]), f.name, f.read_text()) for f in files]


def migrate(conn) -> list[str]:
    """Apply the migrations this database lacks; the names applied."""
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
            "applied timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for number, name, sql in migrations():
            if number in done:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (number, name))
            applied.append(name)
    if applied:
        log.info("database: applied %s", ", ".join(applied))
    return applied
