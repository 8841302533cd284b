"""prod_data.csv, the file backend's append-only file of labelled production clips.

Columns: emb_1..emb_D, target, prediction, then metadata (timestamp,
prediction_id, model_version, confidence). Several processes may append at
once: an exclusive flock serialises them, each row goes out in one write, and
the file is fsynced before an append returns, so an acknowledged row survives
a crash. A row torn by a crash mid-write (never acknowledged) is cut off by
the next append, so the file always parses.
"""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from clipwatch.contract import check_table, write_sidecar
from clipwatch.dataset import (
    PREDICTION,
    TARGET,
    embedding_columns,
    embedding_width,
    format_vector,
    restore_cell,
    safe_cell,
)
from clipwatch.errors import NO_SPACE, DatasetError
from clipwatch.locking import exclusive
from clipwatch.paths import lock_for
from clipwatch.stores.base import AppendResult, FeedbackRow, StorageFullError, StoreMismatchError

META_COLUMNS = ("timestamp", "prediction_id", "model_version", "confidence")
QUOTE_OR_NEWLINE = re.compile(rb'["\n]')


class CsvAppender:
    """Appends rows to prod_data.csv and counts them; every process that writes the file goes through one."""

    def __init__(self, path: str | Path, dim: int, contract: dict | None = None):
        self.path = Path(path)
        self.dim = dim
        # The embedding contract (clipwatch.contract) the rows are built under: recorded beside a new file,
        # checked against an existing one's record before the first append.
        self.contract = contract
        self._checked: tuple[int, int] | None = None  # (device, inode) of the file found compatible
        self.lock_path = lock_for(self.path)
        self.columns = [*embedding_columns(dim), TARGET, PREDICTION, *META_COLUMNS]
        self._count_cache: tuple[int, int] | None = None  # (file size, data rows)

    def _locked(self):
        return exclusive(self.lock_path)

    def count(self) -> int:
        with self._locked():
            return self._count_rows()

    def append(self, rows: list[FeedbackRow], timestamps: list[str] | None = None) -> AppendResult:
        """Append rows durably; returns the row count before and after. timestamps: the rows' own (an
        export from another store), else now."""
        for r in rows:
            if len(r.vector) != self.dim:
                raise ValueError(f"embedding has {len(r.vector)} values, the store expects {self.dim}")
        payload = self._encode(rows, timestamps)
        with self._locked():
            self._repair_tail()
            before = self._count_rows()
            header = "" if self.path.exists() and self.path.stat().st_size else self._header()
            if header:
                if self.contract is not None:
                    write_sidecar(self.path, self.contract)
            else:
                self._check_existing()
            data = (header + payload).encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            size_before = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except OSError as exc:
                # Leave no partial row behind (e.g. ENOSPC half-way through).
                os.ftruncate(fd, size_before)
                os.fsync(fd)
                if exc.errno in NO_SPACE:
                    raise StorageFullError(f"no space left to store feedback in {self.path.parent}") from exc
                raise
            finally:
                os.close(fd)
            after = before + len(rows)
            self._count_cache = (self.path.stat().st_size, after)
            return AppendResult(before, after)

    def _check_existing(self) -> None:
        """Refuse to append to a file of other vectors: a row of another width would corrupt it for every reader."""
        st = self.path.stat()
        if self._checked == (st.st_dev, st.st_ino):
            return
        width = embedding_width(self.path)
        try:
            if width != self.dim:
                raise DatasetError(f"{self.path}: {width} embedding columns, this install's vectors have {self.dim}")
            if self.contract is not None:
                check_table(self.path, self.contract, width)
        except DatasetError as exc:
            raise StoreMismatchError(
                f"{exc}. Feedback was not stored: move {self.path.name} aside (its rows were built under the "
                "old embedding) and give feedback again"
            ) from exc
        self._checked = (st.st_dev, st.st_ino)

    def _header(self) -> str:
        return ",".join(self.columns) + "\n"

    def _encode(self, rows: list[FeedbackRow], timestamps: list[str] | None = None) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        for i, r in enumerate(rows):
            if timestamps is not None:
                now = timestamps[i]
            conf = "" if r.confidence is None else f"{r.confidence:.6f}"
            text = [safe_cell(t) for t in (r.target, r.prediction, now, r.prediction_id, r.model_version)]
            writer.writerow([*format_vector(r.vector), *text, conf])
        return buf.getvalue()

    def _repair_tail(self) -> None:
        """Cut a torn last line (a crash mid-append). Only unacknowledged bytes are dropped."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            pos = size
            while pos > 0:
                step = min(1 << 16, pos)
                fh.seek(pos - step)
                chunk = fh.read(step)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    fh.truncate(pos - step + nl + 1)
                    break
                pos -= step
            else:
                fh.truncate(0)
            fh.flush()
            os.fsync(fh.fileno())
        self._count_cache = None

    def _count_rows(self) -> int:
        """Data rows: CSV records after the header, so a newline inside a quoted cell is not a row."""
        if not self.path.exists():
            return 0
        size = self.path.stat().st_size
        cached = self._count_cache
        if cached and cached[0] == size:
            return cached[1]
        # Count from where we last counted (appends only ever grow the file, and end on a record).
        start, rows = cached if cached and cached[0] < size else (0, -1)
        with open(self.path, "rb") as fh:
            fh.seek(start)
            rows += count_records(iter(lambda: fh.read(1 << 20), b""))
        rows = max(rows, 0)
        self._count_cache = (size, rows)
        return rows


def count_records(blocks) -> int:
    """Newlines outside double-quoted cells, across blocks of a CSV file that starts on a record."""
    rows, quoted = 0, False
    for block in blocks:
        if not quoted and b'"' not in block:
            rows += block.count(b"\n")  # the common case: vectors and plain names, no quoting
            continue
        for mark in QUOTE_OR_NEWLINE.finditer(block):
            if mark.group() == b'"':
                quoted = not quoted  # an escaped "" toggles twice
            elif not quoted:
                rows += 1
    return rows


def recent_rows(path: str | Path, n: int) -> list[dict[str, str]]:
    """The last n rows' cells other than the vector (target, prediction, model_version, ...), oldest first.

    Read from the end of the file, so the cost is n rows whatever the file's size. Rows are single
    lines: nothing clipwatch writes after the vector can hold a newline."""
    path = Path(path)
    if n <= 0 or not path.is_file():
        return []
    with open(path, "rb") as fh:
        header = next(csv.reader([fh.readline().decode()]), [])
        body_start = fh.tell()
        end = fh.seek(0, os.SEEK_END)
        pos, chunks, newlines = end, [], 0
        while pos > body_start and newlines <= n:
            step = min(1 << 20, pos - body_start)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
    lines = b"".join(reversed(chunks)).decode().splitlines()[-n:]
    keep = [(i, c) for i, c in enumerate(header) if not c.startswith("emb_")]
    out = []
    for cells in csv.reader(lines):
        if len(cells) == len(header):  # a torn last line (a crash mid-append) is not a row
            out.append({c: restore_cell(cells[i]) for i, c in keep})
    return out
