"""Feedback stores: where feedback rows and the prediction log live.

`open_store` picks the backend the settings name: files on one machine (`clipwatch.stores.csv`, the
default), PostgreSQL past it (`clipwatch.stores.postgres`, when CLIPWATCH_DATABASE_URL is set).
Every backend offers `FeedbackStore` (clipwatch.stores.base); callers use only that.
"""

from __future__ import annotations

from clipwatch.settings import Settings, get_settings
from clipwatch.stores.base import (
    PREDICTION_ID,
    AppendResult,
    CachedPrediction,
    FeedbackRow,
    FeedbackStore,
    FeedbackTable,
    StorageFullError,
    StoreMismatchError,
    sample_positions,
)

__all__ = [
    "PREDICTION_ID",
    "AppendResult",
    "CachedPrediction",
    "FeedbackRow",
    "FeedbackStore",
    "FeedbackTable",
    "StorageFullError",
    "StoreMismatchError",
    "open_store",
    "sample_positions",
]


def open_store(settings: Settings | None = None) -> FeedbackStore:
    """The store the settings name: PostgreSQL when CLIPWATCH_DATABASE_URL is set, else the files."""
    s = settings or get_settings()
    if s.database_url is not None:
        from clipwatch.stores.postgres import PostgresStore  # psycopg is imported only when it is used

        return PostgresStore(s)
    from clipwatch.stores.csv import CsvStore

    return CsvStore(s)
