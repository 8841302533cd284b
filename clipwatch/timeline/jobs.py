"""Timeline jobs on disk: one folder each under data/jobs, so any worker or replica answers for any job.

A job folder holds `status.json` (rewritten atomically), the uploaded video while the job runs,
`vectors.f32` (each window's clip vector, appended as windows are classified, for feedback on a
window) and, once finished, `result.json` (served as stored) and `windows.jsonl` (a window a line, for
pages of windows without parsing the whole result). A job's status names the bytes it may still write
(`reserved_bytes`), so a new job is refused while the volume can't hold what the running ones will
write too; finished jobs are held to a byte cap, oldest first. Cancelling writes a `cancel` file, which the process
running the job notices within a second, whichever process received the request. A running job
rewrites its status at least every few seconds; one silent for STALE_S is reported as failed (the
process making it stopped), so a restart never leaves a job "running" for ever.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipwatch.errors import ClipwatchError

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
FINISHED = ("done", "failed", "cancelled")
STALE_S = 60.0
HEARTBEAT_S = 5.0


class JobNotFound(ClipwatchError, LookupError):
    pass


@dataclass(frozen=True)
class JobFiles:
    folder: Path

    @property
    def status(self) -> Path:
        return self.folder / "status.json"

    @property
    def result(self) -> Path:
        return self.folder / "result.json"

    @property
    def vectors(self) -> Path:
        return self.folder / "vectors.f32"

    @property
    def windows(self) -> Path:
        return self.folder / "windows.jsonl"

    @property
    def cancel(self) -> Path:
        return self.folder / "cancel"

    def video(self, suffix: str) -> Path:
        return self.folder / f"video{suffix}"


class JobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def files(self, job_id: str) -> JobFiles:
        if not JOB_ID.match(job_id or ""):
            raise JobNotFound(f"no job {job_id[:40]!r}: job ids are 32 hex digits")
        return JobFiles(self.root / job_id)

    def create(self, **fields) -> tuple[str, JobFiles]:
        self.root.mkdir(parents=True, exist_ok=True)
        job_id = uuid.uuid4().hex
        files = JobFiles(self.root / job_id)
        files.folder.mkdir()
        now = time.time()
        self._write(
            files, {"id": job_id, "status": "queued", "created": now, "updated": now, "progress": 0.0, **fields}
        )
        return job_id, files

    def status(self, job_id: str) -> dict:
        files = self.files(job_id)
        try:
            status = json.loads(files.status.read_text())
        except (FileNotFoundError, NotADirectoryError):
            raise JobNotFound(f"no job {job_id}: it never existed, or it expired") from None
        if status["status"] not in FINISHED and time.time() - status["updated"] > STALE_S:
            status |= {"status": "failed", "error": "the process making this timeline stopped; submit it again"}
        if status["status"] not in FINISHED and files.cancel.exists():
            status["cancel_requested"] = True
        return status

    def update(self, job_id: str, **fields) -> dict:
        files = self.files(job_id)
        status = json.loads(files.status.read_text())
        status |= fields | {"updated": time.time()}
        self._write(files, status)
        return status

    def result(self, job_id: str) -> dict:
        files = self.files(job_id)
        try:
            return json.loads(files.result.read_text())
        except FileNotFoundError:
            raise JobNotFound(f"job {job_id} has no result (yet)") from None

    def result_bytes(self, job_id: str) -> bytes:
        """result.json as stored: a large timeline is not parsed and re-validated on every poll."""
        try:
            return self.files(job_id).result.read_bytes()
        except FileNotFoundError:
            raise JobNotFound(f"job {job_id} has no result (yet)") from None

    def windows_page(self, job_id: str, offset: int, limit: int) -> list[dict]:
        """Windows offset..offset+limit-1, read line by line (only those lines are parsed); from the whole
        result for a job finished before windows.jsonl existed."""
        try:
            with open(self.files(job_id).windows, encoding="utf-8") as fh:
                return [json.loads(line) for line in itertools.islice(fh, offset, offset + limit)]
        except FileNotFoundError:
            return self.result(job_id).get("windows", [])[offset : offset + limit]

    def finish(self, job_id: str, result: dict) -> None:
        files = self.files(job_id)
        _atomic_write(files.windows, "".join(json.dumps(w) + "\n" for w in result.get("windows", [])))
        _atomic_write(files.result, json.dumps(result))
        self.update(job_id, status="done", progress=1.0, reserved_bytes=0)

    def active(self) -> list[dict]:
        """The statuses of the jobs still queued or running (stale ones count as finished)."""
        out = []
        for folder in self.root.iterdir() if self.root.is_dir() else ():
            if JOB_ID.match(folder.name):
                with suppress(JobNotFound, OSError, ValueError, KeyError):
                    status = self.status(folder.name)
                    if status["status"] not in FINISHED:
                        out.append(status)
        return out

    def outstanding_bytes(self, but: str | None = None, active: list[dict] | None = None) -> int:
        """What the unfinished jobs (but one) may still write: each one's reservation less what it holds.
        active: their statuses, when the caller has just read them."""
        total = 0
        for status in self.active() if active is None else active:
            if status["id"] != but:
                total += max(0, int(status.get("reserved_bytes", 0)) - folder_bytes(self.root / status["id"]))
        return total

    def request_cancel(self, job_id: str) -> dict:
        status = self.status(job_id)
        if status["status"] not in FINISHED:
            self.files(job_id).cancel.touch()  # the process running it stops at its next progress report
            status = self.update(job_id, status="cancelled") if status["status"] == "queued" else status
            status["cancel_requested"] = True
        return status

    def cancel_requested(self, job_id: str) -> bool:
        return self.files(job_id).cancel.exists()

    def vector(self, job_id: str, window: int) -> np.ndarray:
        status = self.status(job_id)
        dim, windows = status.get("dim"), status.get("windows_done", 0)
        if status["status"] != "done" or not dim:
            raise JobNotFound(f"job {job_id} has not finished, so its windows have no vectors yet")
        if not 0 <= window < windows:
            raise IndexError(f"window {window} is out of range: this timeline has windows 0..{windows - 1}")
        data = np.memmap(self.files(job_id).vectors, dtype=np.float32, mode="r", shape=(windows, dim))
        return np.array(data[window])

    def delete(self, job_id: str) -> None:
        shutil.rmtree(self.files(job_id).folder, ignore_errors=True)

    def sweep(self, ttl_s: float, max_bytes: float | None = None) -> int:
        """Remove finished jobs older than ttl_s, and any job silent for that long; then the oldest finished
        jobs while all finished ones hold more than max_bytes. Returns how many."""
        if not self.root.is_dir():
            return 0
        removed, now, finished = 0, time.time(), []
        for folder in self.root.iterdir():
            if not JOB_ID.match(folder.name):
                continue
            try:
                status = json.loads((folder / "status.json").read_text())
                updated = status.get("updated", 0)
                done = status.get("status") in FINISHED
            except (OSError, ValueError):
                updated, done = folder.stat().st_mtime, True  # a job whose status never got written
            if now - updated > ttl_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
            elif done:
                finished.append((updated, folder, folder_bytes(folder)))
        held = sum(size for _, _, size in finished)
        for _, folder, size in sorted(finished, key=lambda f: f[0]):
            if max_bytes is None or held <= max_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            held -= size
            removed += 1
        if removed:
            log.info("removed %d timeline job(s): expired, or beyond CLIPWATCH_TIMELINE_JOBS_MAX_MB", removed)
        return removed

    @staticmethod
    def _write(files: JobFiles, status: dict) -> None:
        _atomic_write(files.status, json.dumps(status))


def folder_bytes(folder: Path) -> int:
    total = 0
    with suppress(OSError):
        for f in folder.iterdir():
            with suppress(OSError):
                total += f.stat().st_size
    return total


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
