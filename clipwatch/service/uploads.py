"""Receiving clips: the request body streamed to temporary files, with the size limit enforced as it arrives.

Multipart bodies are parsed incrementally (python-multipart's push parser), so
file parts go straight to disk and nothing holds a whole upload in memory. The
client's filename is kept only as a display string: temporary files get
random names and a fixed set of suffixes, in a directory private to the
process; a process killed mid-upload leaves its directory behind, and the
next one to start removes it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from clipwatch.errors import NO_SPACE
from clipwatch.paths import VIDEO_EXTENSIONS
from clipwatch.process_identity import alive
from clipwatch.process_identity import started as start_time

log = logging.getLogger(__name__)

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 16  # form fields besides the files (target, prediction, ...)
MAX_HEADER_BYTES = 8 * 1024  # per part
FEED_BLOCK = 1 << 20
RAW_TYPES = ("application/octet-stream",)


def process_dir(root: Path) -> Path:
    """This process's upload directory under root (Paths.uploads), after sweeping dead processes' ones.

    Named by PID and process start time: a container restarted as PID 1 gets a new folder, and the
    old one, whose owner is gone whatever its PID, is swept."""
    root.mkdir(parents=True, exist_ok=True)
    mine = root / f"p{os.getpid()}-{start_time(os.getpid())}"
    for old in root.glob("p*"):
        if old != mine and not _owner_alive(old.name):
            log.info("removing %s, left by a process that is gone", old)
            shutil.rmtree(old, ignore_errors=True)
    mine.mkdir(exist_ok=True)
    return mine


def _owner_alive(name: str) -> bool:
    pid, _, started = name[1:].partition("-")
    if not pid.isdigit():
        return True  # not one of ours: leave it
    return alive(int(pid), started)


@dataclass
class UploadedFile:
    field: str
    filename: str  # as the client sent it, for display only
    path: Path
    size: int = 0


@dataclass
class Upload:
    files: list[UploadedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def cleanup(self) -> None:
        for f in self.files:
            f.path.unlink(missing_ok=True)

    def clip(self) -> Path:
        return self.clip_file().path

    def clip_file(self) -> UploadedFile:
        """The one clip of a single-clip request: multipart field 'file', or the raw body."""
        files = [f for f in self.files if f.field == "file"]
        if not files:
            raise HTTPException(422, "missing clip: send it as multipart field 'file' (or as the raw body)")
        if files[0].size == 0:
            raise HTTPException(400, "the uploaded file is empty")
        return files[0]


def display_name(filename: str) -> str:
    """The last path component, printable, at most 200 characters: safe to echo back."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200] or "upload"


def _suffix(filename: str) -> str:
    ext = os.path.splitext(display_name(filename))[1].lower()
    return ext if ext in VIDEO_EXTENSIONS else ".bin"


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"upload exceeds the limit of {limit / 2**20:.0f} MB (MAX_UPLOAD_MB)")


async def receive(request: Request, *, tmp_dir: Path, max_bytes: int, max_files: int = 1) -> Upload:
    """Stream the body into temp files, each within max_bytes. Raises 413/415/400; cleans up after itself
    on error. The whole body's size and arrival time are clipwatch.service.limits's."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    ctype = ctype.decode("latin-1").lower()
    upload = Upload()
    try:
        if ctype == "multipart/form-data":
            boundary = params.get(b"boundary")
            if not boundary:
                raise HTTPException(400, "multipart body without a boundary")
            await _feed(request, MultipartSink(boundary, upload, tmp_dir, max_bytes, max_files))
        elif ctype.startswith("video/") or ctype in RAW_TYPES:
            await _feed(request, RawSink(upload, tmp_dir, max_bytes, request.headers.get("x-filename", "upload")))
        else:
            raise HTTPException(
                415,
                f"unsupported content type {ctype or '(none)'!r}: send multipart/form-data with a 'file' field, "
                "or the raw clip as video/* or application/octet-stream",
            )
    except ClientDisconnect:
        upload.cleanup()
        raise HTTPException(400, "client disconnected during upload") from None
    except OSError as exc:
        upload.cleanup()
        if exc.errno in NO_SPACE:
            raise HTTPException(507, "the server has no space left to receive the upload; try again later") from exc
        raise
    except BaseException:
        upload.cleanup()
        raise
    return upload


async def _feed(request: Request, sink) -> None:
    """Hand the body to the sink in blocks of about 1 MiB, in a worker thread: parsing and disk writes
    never hold the event loop."""
    block: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            block.append(chunk)
            size += len(chunk)
            if size >= FEED_BLOCK:
                await run_in_threadpool(sink.write, b"".join(block))
                block, size = [], 0
        await run_in_threadpool(sink.finish, b"".join(block))
    finally:
        sink.close()


def _new_file(upload: Upload, tmp_dir: Path, field_name: str, filename: str):
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=_suffix(filename), dir=tmp_dir)
    entry = UploadedFile(field_name, display_name(filename), Path(name))
    upload.files.append(entry)
    return os.fdopen(fd, "wb"), entry


class RawSink:
    """The body is the clip."""

    def __init__(self, upload: Upload, tmp_dir: Path, max_bytes: int, filename: str):
        self.max_bytes = max_bytes
        self.fh, self.entry = _new_file(upload, tmp_dir, "file", filename)

    def write(self, data: bytes) -> None:
        self.entry.size += len(data)
        if self.entry.size > self.max_bytes:
            raise too_large(self.max_bytes)
        self.fh.write(data)

    def finish(self, data: bytes) -> None:
        self.write(data)

    def close(self) -> None:
        self.fh.close()


class MultipartSink:
    """A multipart body, parsed incrementally: file parts to disk, small fields to memory.

    Every part's headers are held to MAX_HEADER_BYTES and the number of parts to the files allowed
    plus MAX_FIELDS, so a hostile body costs time linear in its size and memory bounded by the limits."""

    def __init__(self, boundary: bytes, upload: Upload, tmp_dir: Path, max_bytes: int, max_files: int):
        self.upload, self.tmp_dir, self.max_bytes, self.max_files = upload, tmp_dir, max_bytes, max_files
        self.parts = 0
        self.header_bytes = 0
        self.field = bytearray()
        self.value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.fh = None
        self.entry: UploadedFile | None = None
        self.buf: tuple[str, bytearray] | None = None
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self.on_part_begin,
                "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value,
                "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
            },
        )

    def write(self, data: bytes) -> None:
        try:
            self.parser.write(data)
        except (HTTPException, OSError):  # ours: a limit, or the disk
            raise
        except Exception as exc:  # python-multipart raises its own errors on malformed input
            raise HTTPException(400, f"malformed multipart body: {exc}") from exc

    def finish(self, data: bytes) -> None:
        self.write(data)
        self.parser.finalize()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_files + MAX_FIELDS:
            raise HTTPException(413, f"too many parts: at most {self.max_files} files and {MAX_FIELDS} fields")
        self.header_bytes = 0

    def _header_bytes(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > MAX_HEADER_BYTES:
            raise HTTPException(413, f"multipart part headers exceed {MAX_HEADER_BYTES} bytes")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_bytes(end - start)
        self.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_bytes(end - start)
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.field.decode("latin-1").lower()] = bytes(self.value)
        self.field, self.value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self.headers.get("content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        if filename is not None:
            if len(self.upload.files) >= self.max_files:
                raise HTTPException(413, f"too many files: at most {self.max_files} per request")
            self.fh, self.entry = _new_file(self.upload, self.tmp_dir, name, filename.decode("utf-8", "replace"))
        else:
            self.buf = (name, bytearray())

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.fh is not None:
            self.entry.size += end - start
            if self.entry.size > self.max_bytes:
                raise too_large(self.max_bytes)
            self.fh.write(data[start:end])
        elif self.buf is not None:
            self.buf[1].extend(data[start:end])
            if len(self.buf[1]) > MAX_FIELD_BYTES:
                raise HTTPException(413, f"form field {self.buf[0][:64]!r} is too long")

    def on_part_end(self) -> None:
        if self.fh is not None:
            self.fh.close()
        elif self.buf is not None:
            name, value = self.buf
            self.upload.fields[name] = value.decode("utf-8", "replace")
        self.headers, self.fh, self.entry, self.buf = {}, None, None, None
