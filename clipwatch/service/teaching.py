"""Adding labelled clips to a project: the Service's part behind POST /projects/{name}/clips.

The clips arrive like a batch to /predict/batch (MAX_UPLOAD_MB each, CLIPWATCH_BATCH_MAX_FILES per
request, one decode budget for the request) and become vectors through the same ClipEmbedder.embed
as every prediction. A zip laid out folder-per-class (`<action>/<clip>`: the folder that holds a clip
names its action) is unpacked member by member within the same limits, counting the bytes actually
written, never the sizes the archive claims. Recordings come from form field `recording` (one for
every clip sent), or `recording_from=name` (each file name up to its last '_' or '-').
"""

from __future__ import annotations

import asyncio
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from clipwatch.decode_budget import Cancelled, RequestBudget
from clipwatch.paths import VIDEO_EXTENSIONS
from clipwatch.projects.store import NewClip, Project, ProjectError, checked_action, checked_recording
from clipwatch.service.predicting import watch_disconnect
from clipwatch.service.uploads import Upload, UploadedFile
from clipwatch.video import ClipError

HEADROOM = 512 * 2**20  # free space a project upload leaves on the data volume, at least
# What reading a zip's table of contents may cost: zipfile holds one object per entry, so a small
# archive of a million empty entries would otherwise cost hundreds of MB before a byte is unpacked.
MAX_ZIP_ENTRIES = 10_000
MAX_ZIP_DIRECTORY = 2 * 2**20  # bytes of names: what ZipFile parses, whatever count the end record claims
EOCD = b"PK\x05\x06"


def zip_directory(path: Path) -> tuple[int, int]:
    """(entries, bytes) of a zip's central directory, read from its end record alone; ProjectError for
    zip64 archives (their counts live elsewhere) and files with no end record."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - (22 + 65535)))  # the end record, after at most a 64 KiB comment
        tail = fh.read()
    at = tail.rfind(EOCD)
    if at < 0 or len(tail) - at < 22:
        raise ProjectError("not a zip file (no end of central directory)", 422)
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    directory = int.from_bytes(tail[at + 12 : at + 16], "little")
    if entries == 0xFFFF or directory == 0xFFFFFFFF:
        raise ProjectError("zip64 archives are not taken: send the clips in smaller zips", 413)
    return entries, directory


def name_prefix(filename: str) -> str:
    """A recording named by the file: its stem up to the last '_' or '-' ("kitchen_03.mp4" -> "kitchen")."""
    stem = PurePosixPath(filename).stem
    cut = max(stem.rfind("_"), stem.rfind("-"))
    return stem[:cut] if cut > 0 else stem


class Teaching:
    """Mixed into clipwatch.service.runtime.Service, which provides the attributes used here."""

    def _unzip(self, zf: UploadedFile, out: Path, count: int) -> list[tuple[UploadedFile, str, str]]:
        """The clips of a folder-per-class zip as (file, action, recording), written under out."""
        limit, total_limit = int(self.settings.max_upload_mb * 2**20), int(self.settings.project_zip_max_mb * 2**20)
        found, total = [], 0
        entries, directory = zip_directory(zf.path)
        if entries > MAX_ZIP_ENTRIES or directory > MAX_ZIP_DIRECTORY:
            raise ProjectError(
                f"{zf.filename}: {entries} entries ({directory / 2**20:.1f} MB of names) is more than a zip of clips "
                f"needs (at most {MAX_ZIP_ENTRIES} entries, {MAX_ZIP_DIRECTORY // 2**20} MB)",
                413,
            )
        try:
            archive = zipfile.ZipFile(zf.path)
        except zipfile.BadZipFile:
            raise ProjectError(f"{zf.filename}: not a zip file", 422) from None
        with archive:
            for info in archive.infolist():
                parts = [p for p in PurePosixPath(info.filename.replace("\\", "/")).parts if p not in ("", ".")]
                if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
                    continue
                if PurePosixPath(parts[-1]).suffix.lower() not in VIDEO_EXTENSIONS or len(parts) < 2:
                    continue
                if count + len(found) >= self.settings.batch_max_files:
                    raise ProjectError(
                        f"more than {self.settings.batch_max_files} clips in one upload "
                        "(CLIPWATCH_BATCH_MAX_FILES): split the zip",
                        413,
                    )
                action = parts[-2]  # the folder that holds the clip, whatever folders lie above it
                # Numbered after the clips before it, this zip's and earlier zips' of the same request alike.
                dest = out / f"z{count + len(found)}{PurePosixPath(parts[-1]).suffix.lower()}"
                written = 0
                with archive.open(info) as src, open(dest, "wb") as fh:
                    while block := src.read(1 << 20):
                        written += len(block)
                        total += len(block)
                        if written > limit:
                            raise ProjectError(f"{parts[-1]} in the zip unpacks past MAX_UPLOAD_MB", 413)
                        if total > total_limit:
                            raise ProjectError("the zip unpacks past CLIPWATCH_PROJECT_ZIP_MAX_MB", 413)
                        fh.write(block)
                found.append((UploadedFile("files", parts[-1], dest, written), action, ""))
        if not found:
            raise ProjectError(f"{zf.filename}: no clips laid out as <action>/<clip> in the zip", 422)
        return found

    def _labelled(self, upload: Upload, unpack: Path) -> list[tuple[UploadedFile, str, str]]:
        """Each received clip with its action and recording, from the form fields or the zip's folders."""
        fields = upload.fields
        default_action = fields.get("action", "").strip()
        recording = checked_recording(fields.get("recording", ""))
        by_name = fields.get("recording_from", "") == "name"
        files = [f for f in upload.files if f.field == "files"]
        if not files:
            raise ProjectError("no clips: send them as repeated multipart field 'files' (clips, or a zip)", 422)
        out: list[tuple[UploadedFile, str, str]] = []
        for f in files:
            if f.size and zipfile.is_zipfile(f.path):
                for clip, action, rec in self._unzip(f, unpack, len(out)):
                    out.append((clip, checked_action(action), checked_recording(rec or recording)))
                continue
            if not default_action:
                raise ProjectError(f"{f.filename}: say its action (form field 'action'), or send a zip of folders", 422)
            out.append((f, checked_action(default_action), recording))
        if by_name:
            out = [(f, a, r or checked_recording(name_prefix(f.filename))) for f, a, r in out]
        return out

    def _room(self, project: Project, incoming: int) -> None:
        cap = int(self.settings.project_max_mb * 2**20)
        used = project.bytes_used()
        if used + incoming > cap:
            raise ProjectError(
                f"the project would hold {(used + incoming) / 2**20:.0f} MB of clips, past CLIPWATCH_PROJECT_MAX_MB "
                f"({cap / 2**20:.0f}); remove some first",
                507,
            )
        if shutil.disk_usage(self.paths.data_dir).free < incoming + HEADROOM:
            raise ProjectError("the data volume is nearly full: nothing was added", 507)

    async def add_clips(self, request: Request, project: Project) -> dict:
        """Receive, embed and add a request's clips; a clip that can't be decoded fails alone."""
        upload = await self.receive(request, self.settings.batch_max_files)
        unpack = self.tmp_dir / f"unzip-{id(upload)}"
        unpack.mkdir()
        try:
            labelled = await run_in_threadpool(self._labelled, upload, unpack)
            await run_in_threadpool(self._room, project, sum(f.size for f, _, _ in labelled))
            embedder = self.predictor().embedder
            budget = RequestBudget(self.settings.batch_decode_cpu_s)

            async def one(f: UploadedFile, action: str, recording: str) -> NewClip | str:
                if f.size == 0:
                    return "the uploaded file is empty"
                async with self.slots:
                    try:
                        emb = await run_in_threadpool(embedder.embed, f.path, gone)
                    except ClipError as exc:
                        return str(exc).replace(f.path.name, "uploaded file")
                return NewClip(action, recording, f.filename, f.path, emb.vector, emb.still)

            async with watch_disconnect(request, budget) as gone:
                try:
                    results = await asyncio.gather(*(one(*item) for item in labelled))
                except Cancelled:
                    raise HTTPException(400, "the client went away, or the upload's decode budget ran out") from None
            new = [r for r in results if isinstance(r, NewClip)]
            failed = [
                {"filename": f.filename, "action": a, "error": r}
                for (f, a, _), r in zip(labelled, results, strict=True)
                if isinstance(r, str)
            ]

            def store() -> list:
                with project.locked():
                    return project.add(new, embedder.contract(), max_clips=self.settings.project_max_clips)

            added = await run_in_threadpool(store) if new else []
            return {"added": [vars(c) for c in added], "failed": failed, "actions": project.summary()}
        finally:
            upload.cleanup()
            shutil.rmtree(unpack, ignore_errors=True)
