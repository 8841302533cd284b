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
from starlette.requests import ClientDisconnect

from clipwatch.errors import NO_SPACE
from clipwatch.paths import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

MAX_FIELD_BYTES = 64 * 1024
RAW_TYPES = ("application/octet-stream",)


def process_dir(root: Path) -> Path:
    """This process's upload directory under root (Paths.uploads), after sweeping dead processes' ones."""
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("p*"):
        pid = old.name[1:]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            log.info("removing %s, left by a process that is gone", old)
            shutil.rmtree(old, ignore_errors=True)
    mine = root / f"p{os.getpid()}"
    mine.mkdir(exist_ok=True)
    return mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to clean
        pass
    return True


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
        """The one clip of a single-clip request: multipart field 'file', or the raw body."""
        files = [f for f in self.files if f.field == "file"]
        if not files:
            raise HTTPException(422, "missing clip: send it as multipart field 'file' (or as the raw body)")
        if files[0].size == 0:
            raise HTTPException(400, "the uploaded file is empty")
        return files[0].path


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
    """Stream the body into temp files. Raises 413/415/400; cleans up after itself on error."""
    declared = request.headers.get("content-length")
    # Multipart framing adds a little; allow it without letting a file exceed the limit.
    slack = 64 * 1024 + max_files * 1024
    if declared and declared.isdigit() and int(declared) > max_bytes + slack:
        raise too_large(max_bytes)
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    ctype = ctype.decode("latin-1").lower()
    upload = Upload()
    try:
        if ctype == "multipart/form-data":
            boundary = params.get(b"boundary")
            if not boundary:
                raise HTTPException(400, "multipart body without a boundary")
            await _receive_multipart(request, boundary, upload, tmp_dir, max_bytes, max_files, slack)
        elif ctype.startswith("video/") or ctype in RAW_TYPES:
            await _receive_raw(request, upload, tmp_dir, max_bytes)
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


def _new_file(upload: Upload, tmp_dir: Path, field_name: str, filename: str):
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=_suffix(filename), dir=tmp_dir)
    entry = UploadedFile(field_name, display_name(filename), Path(name))
    upload.files.append(entry)
    return os.fdopen(fd, "wb"), entry


async def _receive_raw(request: Request, upload: Upload, tmp_dir: Path, max_bytes: int) -> None:
    name = request.headers.get("x-filename", "upload")
    fh, entry = _new_file(upload, tmp_dir, "file", name)
    with fh:
        async for chunk in request.stream():
            entry.size += len(chunk)
            if entry.size > max_bytes:
                raise too_large(max_bytes)
            fh.write(chunk)


async def _receive_multipart(
    request: Request, boundary: bytes, upload: Upload, tmp_dir: Path, max_bytes: int, max_files: int, slack: int
) -> None:
    state: dict = {"headers": {}, "field": b"", "value": b"", "fh": None, "entry": None, "buf": None, "error": None}

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        _, opts = parse_options_header(state["headers"].get("content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        if filename is not None:
            if len(upload.files) >= max_files:
                state["error"] = HTTPException(413, f"too many files: at most {max_files} per request")
                return
            state["fh"], state["entry"] = _new_file(upload, tmp_dir, name, filename.decode("utf-8", "replace"))
        else:
            state["buf"] = (name, bytearray())

    def on_part_data(data, start, end):
        if state["error"]:
            return
        chunk = data[start:end]
        if state["fh"] is not None:
            state["entry"].size += len(chunk)
            if state["entry"].size > max_bytes:
                state["error"] = too_large(max_bytes)
                return
            state["fh"].write(chunk)
        elif state["buf"] is not None:
            state["buf"][1].extend(chunk)
            if len(state["buf"][1]) > MAX_FIELD_BYTES:
                state["error"] = HTTPException(413, f"form field {state['buf'][0]!r} is too long")

    def on_part_end():
        if state["fh"] is not None:
            state["fh"].close()
        elif state["buf"] is not None:
            name, value = state["buf"]
            upload.fields[name] = value.decode("utf-8", "replace")
        state.update(headers={}, fh=None, entry=None, buf=None)

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_bytes + slack:
                raise too_large(max_bytes)
            try:
                parser.write(chunk)
            except OSError:  # from our callbacks writing to disk, not the parser
                raise
            except Exception as exc:  # python-multipart raises its own errors on malformed input
                raise HTTPException(400, f"malformed multipart body: {exc}") from exc
            if state["error"]:
                raise state["error"]
        parser.finalize()
    finally:
        if state["fh"] is not None:
            state["fh"].close()
