"""The PostgreSQL store (CLIPWATCH_DATABASE_URL): feedback rows, the prediction log and the feedback
count, for API replicas on several machines. psycopg 3 with a connection pool; the schema is the
numbered SQL files in clipwatch/stores/migrations, applied at start-up under an advisory lock.

Vectors are stored as float32 bytes (5 KB for 1280 values, against 12 KB as CSV text).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clipwatch.errors import DatasetError
from clipwatch.settings import Settings
from clipwatch.stores.base import AppendResult, CachedPrediction, FeedbackRow, FeedbackTable, StoreMismatchError
from clipwatch.stores.csv_rows import CsvAppender  # the export writes the seed's file format
from clipwatch.stores.postgres_schema import migrate

log = logging.getLogger(__name__)

_MIGRATED: set[str] = set()  # database URLs this process has brought up to date
ROW_OVERHEAD = 200  # bytes a predictions row holds besides its vector (id, label, file name, tuple header)
COLUMNS = "seq, created, target, prediction, prediction_id, model_version, confidence, vector"


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blobs: list[bytes], dim: int | None = None) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim or 0), np.float32)
    X = np.frombuffer(b"".join(blobs), dtype="<f4")
    width = len(blobs[0]) // 4
    return X.reshape(-1, width).astype(np.float32)


class PostgresStore:
    kind = "postgres"
    where = "PostgreSQL"

    def __init__(self, settings: Settings):
        from psycopg_pool import ConnectionPool

        self.settings = settings
        url = settings.database_url.get_secret_value()
        timeout_ms = int(settings.database_statement_timeout_s * 1000)
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=settings.database_pool_size,
            timeout=settings.database_connect_timeout_s,
            kwargs={"options": f"-c statement_timeout={timeout_ms}", "connect_timeout": 10},
            open=False,
        )
        self.pool.open(wait=True, timeout=settings.database_connect_timeout_s)
        if url not in _MIGRATED:  # once per process: a retrain or a trigger check opens a store each time
            with self.pool.connection() as conn:
                migrate(conn)
            _MIGRATED.add(url)
        self.dim: int | None = None
        self.contract: dict | None = None
        self._checked = False
        self._last_prune = 0.0

    # -- feedback ---------------------------------------------------------------------------------

    def bind(self, dim: int, contract: dict | None) -> None:
        if (dim, contract) != (self.dim, self.contract):
            self.dim, self.contract, self._checked = dim, contract, False

    def _check_meta(self, conn) -> None:
        """Record the embedding with the first row; refuse rows of another one after (like the CSV's sidecar)."""
        if self._checked:
            return
        mine = {"dim": self.dim, "contract": self.contract}
        conn.execute(
            "INSERT INTO store_meta (key, value) VALUES ('embedding', %s) ON CONFLICT (key) DO NOTHING",
            (json.dumps(mine),),
        )
        stored = conn.execute("SELECT value FROM store_meta WHERE key = 'embedding'").fetchone()[0]
        if stored.get("dim") != self.dim or (
            self.contract is not None and stored.get("contract") not in (None, self.contract)
        ):
            raise StoreMismatchError(
                f"the database's feedback rows were built under another embedding ({stored.get('dim')} values, "
                f"contract {stored.get('contract')}); this install's has {self.dim}. Feedback was not stored: "
                "point CLIPWATCH_DATABASE_URL at a new database, or export and clear the old rows"
            )
        self._checked = True

    def append(self, rows: list[FeedbackRow]) -> AppendResult:
        if self.dim is None:
            raise RuntimeError("bind() the store to the live model before appending")
        for r in rows:
            if len(r.vector) != self.dim:
                raise ValueError(f"embedding has {len(r.vector)} values, the store expects {self.dim}")
        n = len(rows)
        with self.pool.connection() as conn, conn.transaction():
            self._check_meta(conn)
            # The counter's row lock orders concurrent appends: each gets the next n positions.
            after = conn.execute(
                "UPDATE feedback_counter SET rows = rows + %s WHERE id = 1 RETURNING rows", (n,)
            ).fetchone()[0]
            before = after - n
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO feedback (seq, target, prediction, prediction_id, model_version, confidence, vector)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            before + i,
                            r.target,
                            r.prediction,
                            r.prediction_id,
                            r.model_version,
                            r.confidence,
                            to_bytes(r.vector),
                        )
                        for i, r in enumerate(rows)
                    ],
                )
        return AppendResult(before, after)

    def count(self) -> int:
        with self.pool.connection() as conn:
            return int(conn.execute("SELECT rows FROM feedback_counter WHERE id = 1").fetchone()[0])

    def label_counts(self, start: int = 0) -> dict[str, int]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT target, count(*) FROM feedback WHERE seq >= %s GROUP BY target", (start,))
            return {t: int(n) for t, n in rows}

    def recent(self, n: int) -> list[dict[str, str]]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT target, prediction, created, prediction_id, model_version, confidence FROM feedback "
                "ORDER BY seq DESC LIMIT %s",
                (n,),
            ).fetchall()
        keys = ("target", "prediction", "timestamp", "prediction_id", "model_version", "confidence")
        return [
            {
                k: ("" if v is None else v.isoformat() if k == "timestamp" else str(v))
                for k, v in zip(keys, r, strict=True)
            }
            for r in reversed(rows)
        ]

    def read(self, positions: np.ndarray | None = None, chunk_rows: int = 5000) -> FeedbackTable:
        """The rows at these positions (all when None), fetched in chunks."""
        frames, blobs = [], []
        with self.pool.connection() as conn:
            if positions is None:
                batches = [conn.execute(f"SELECT {COLUMNS} FROM feedback ORDER BY seq").fetchall()]
            else:
                wanted = [int(p) for p in np.asarray(positions)]
                batches = (
                    conn.execute(
                        f"SELECT {COLUMNS} FROM feedback WHERE seq = ANY(%s) ORDER BY seq",
                        (wanted[i : i + chunk_rows],),
                    ).fetchall()
                    for i in range(0, len(wanted), chunk_rows)
                )
            for batch in batches:
                if not batch:
                    continue
                blobs.extend(r[7] for r in batch)
                frames.append(pd.DataFrame([r[:7] for r in batch], columns=COLUMNS.split(", ")[:7]))
        if not frames:
            return FeedbackTable.empty(self.dim or 0)
        frame = pd.concat(frames, ignore_index=True)
        X = from_bytes(blobs)
        frame["timestamp"] = frame.pop("created").map(lambda t: t.isoformat(timespec="milliseconds"))
        positions_out = frame.pop("seq").to_numpy(int)
        return FeedbackTable(X, frame["target"].to_numpy(str), positions_out, frame)

    def check_vectors(self, width: int, contract: dict) -> None:
        if width != contract["embedding_dim"]:
            raise DatasetError(
                f"the database's vectors have {width} values, this install's embedding {contract['embedding_dim']}"
            )

    def export_csv(self, out: Path, chunk_rows: int = 5000) -> int:
        """Write the seed's prod_data.csv format (emb_1..emb_D, target, prediction, metadata)."""
        out = Path(out)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.unlink(missing_ok=True)
        total = self.count()
        written = 0
        writer: CsvAppender | None = None
        for start in range(0, total, chunk_rows):
            table = self.read(np.arange(start, min(start + chunk_rows, total)))
            if not len(table):
                continue
            if writer is None:
                writer = CsvAppender(tmp, table.X.shape[1])
            f = table.frame
            writer.append(
                [
                    FeedbackRow(x, t, p, pid, mv, None if pd.isna(c) else float(c))
                    for x, t, p, pid, mv, c in zip(
                        table.X,
                        f["target"],
                        f["prediction"],
                        f["prediction_id"],
                        f["model_version"],
                        f["confidence"],
                        strict=True,
                    )
                ],
                timestamps=list(f["timestamp"]),
            )
            written += len(table)
        if writer is None:
            raise DatasetError("the database holds no feedback yet")
        tmp.replace(out)
        Path(f"{tmp}.lock").unlink(missing_ok=True)
        return written

    # -- the prediction log -----------------------------------------------------------------------

    def log_prediction(self, pid: str, item: CachedPrediction) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO predictions (id, model_version, label, confidence, filename, vector) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (pid, item.model_version, item.label, item.confidence, item.filename, to_bytes(item.vector)),
            )
        if time.monotonic() - self._last_prune > self.settings.prediction_prune_every_s:
            self.prune_predictions()

    def find_prediction(self, pid: str) -> CachedPrediction | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT vector, label, confidence, model_version, extract(epoch FROM created), filename "
                "FROM predictions WHERE id = %s AND created > now() - make_interval(secs => %s)",
                (pid, self.settings.prediction_ttl_s),
            ).fetchone()
        if row is None:
            return None
        return CachedPrediction(from_bytes([row[0]])[0], row[1], float(row[2]), row[3], float(row[4]), row[5])

    def prune_predictions(self) -> int:
        """Drop predictions older than CLIPWATCH_PREDICTION_TTL_S, then the oldest beyond
        CLIPWATCH_PREDICTION_LOG_MAX_MB (an anonymous /predict flood must not grow the database without
        bound within a TTL); how many went."""
        self._last_prune = time.monotonic()
        with self.pool.connection() as conn:
            gone = conn.execute(
                "DELETE FROM predictions WHERE created < now() - make_interval(secs => %s)",
                (self.settings.prediction_ttl_s,),
            ).rowcount
            row = conn.execute("SELECT avg(octet_length(vector)) FROM predictions").fetchone()
            if row[0] is None:
                return gone
            keep = max(1, int(self.settings.prediction_log_max_mb * 2**20 // (float(row[0]) + ROW_OVERHEAD)))
            over = conn.execute(
                "DELETE FROM predictions WHERE id IN "
                "(SELECT id FROM predictions ORDER BY created DESC, id DESC OFFSET %s)",
                (keep,),
            ).rowcount
        if over:
            log.warning(
                "prediction log over CLIPWATCH_PREDICTION_LOG_MAX_MB: dropped the %d oldest within their TTL", over
            )
        return gone + over

    def close(self) -> None:
        self.pool.close()
