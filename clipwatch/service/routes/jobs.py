"""Timeline jobs: POST /jobs/timeline, GET /jobs/{id}, GET /jobs/{id}/result.csv, DELETE /jobs/{id},
POST /jobs/{id}/feedback (the true label of one window)."""

from __future__ import annotations

import json
import shutil
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from clipwatch.service.clients import request_client
from clipwatch.service.deps import KeyRequired, ServiceDep
from clipwatch.service.errors import problems
from clipwatch.service.openapi import BINARY, ERRORS, form, request_body
from clipwatch.service.runtime import Service
from clipwatch.service.schemas import FeedbackResponse, JobStatus, WindowFeedbackRequest
from clipwatch.service.uploads import display_name, receive
from clipwatch.timeline.jobs import JobNotFound, folder_bytes
from clipwatch.timeline.windows import Timeline, Windowing
from clipwatch.video import ClipError, probe

router = APIRouter(prefix="/jobs", tags=["timeline"], responses=ERRORS)
TIMELINE = "/timeline"
LONG_UPLOADS = frozenset({router.prefix + TIMELINE})  # long videos: their own upload limit and deadline

# Room on the jobs volume beyond the upload itself, so a timeline never fills the disk feedback lands on.
DISK_HEADROOM = 512 * 2**20
PAGE_MAX = 5000


def _status(service: Service, job_id: str) -> dict:
    try:
        return service.jobs.status(job_id)
    except JobNotFound as exc:
        raise HTTPException(404, str(exc)) from None


def _check_disk(service: Service, need: int, but: str | None = None, active: list[dict] | None = None) -> None:
    """507 unless the jobs volume holds `need` more bytes beside what the unfinished jobs (but `but`) have
    reserved and not yet written: two jobs must not both pass one free-space check."""
    root = service.jobs.root
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free - service.jobs.outstanding_bytes(but, active)
    if free < need + DISK_HEADROOM:
        raise HTTPException(
            507,
            f"not enough disk for this timeline: {max(free, 0) // 2**20} MB free on the jobs volume beside what "
            f"running timelines will write, {need // 2**20} MB needed",
        )


def expected_bytes(upload: int, duration_s: float, stride_s: float, dim: int, classes: int) -> int:
    """What a job writes: its upload, a float32 vector per window, and the window twice as JSON (result.json
    and windows.jsonl), with room for the segments."""
    windows = int(duration_s / stride_s) + 2
    return upload + windows * (4 * dim + 2 * (24 * classes + 160))


@router.post(
    TIMELINE,
    status_code=202,
    response_model=JobStatus,
    dependencies=[KeyRequired],
    openapi_extra=request_body(
        {"multipart/form-data": form(["file"], file=BINARY), "application/octet-stream": {"schema": BINARY}}
    ),
)
async def create_timeline(
    request: Request,
    response: Response,
    service: ServiceDep,
    window_s: Annotated[float | None, Query(ge=0.5, le=120, description="window length W (default setting)")] = None,
    stride_s: Annotated[float | None, Query(ge=0.1, le=120, description="stride S (default setting)")] = None,
    smooth: Annotated[
        int | None, Query(ge=1, le=15, description="windows the segments' probabilities are averaged over")
    ] = None,
) -> JobStatus:
    """Start a timeline of a long video: the upload streams to disk, the answer comes at once with the job id."""
    s = service.settings
    predictor = service.predictor()
    windowing = Windowing.of(window_s or s.timeline_window_s, stride_s or s.timeline_stride_s, predictor.embedder.k)
    declared = request.headers.get("content-length", "")
    upload_need = int(declared) if declared.isdigit() else int(s.timeline_max_upload_mb * 2**20)
    active = await run_in_threadpool(service.jobs.active)  # the unfinished jobs' status files, read once
    await run_in_threadpool(_check_disk, service, upload_need, None, active)
    who = request_client(request, s.trusted_proxies)
    mine = sum(j.get("client") == who for j in active)
    if mine >= s.timeline_jobs_per_client:
        raise HTTPException(
            429,
            f"{mine} of your timelines are queued or running (CLIPWATCH_TIMELINE_JOBS_PER_CLIENT "
            f"{s.timeline_jobs_per_client}): wait for one to finish, or cancel one",
            headers={"Retry-After": "30"},
        )
    if not service.timelines.reserve():
        raise HTTPException(
            503,
            f"busy: {s.timeline_jobs} timeline(s) running and {s.timeline_queue} waiting (CLIPWATCH_TIMELINE_QUEUE); "
            "retry later",
            headers={"Retry-After": "30"},
        )
    smooth = smooth or s.timeline_smooth_windows
    job_id, files = service.jobs.create(
        window_s=round(windowing.window_s, 3),
        stride_s=round(windowing.stride_s, 3),
        smooth=smooth,
        client=who,
        reserved_bytes=upload_need,
    )
    submitted = False
    try:
        max_bytes = int(s.timeline_max_upload_mb * 2**20)
        upload = await receive(request, tmp_dir=files.folder, max_bytes=max_bytes)
        path = upload.clip()
        name = display_name(upload.files[0].filename)
        try:
            info = await run_in_threadpool(
                probe, path, max_pixels=s.max_frame_pixels, max_duration_s=s.timeline_max_duration_s
            )
        except ClipError as exc:
            raise HTTPException(422, str(exc).replace(path.name, "uploaded file")) from None
        pictures = windowing.grid_points(info.duration_s) * predictor.embedder.frames_per_segment
        if pictures > s.timeline_max_frames:  # what the job's CNN would have to do, refused before it starts
            raise HTTPException(
                422,
                f"{pictures} pictures to embed at {windowing.window_s:g} s windows exceeds "
                f"CLIPWATCH_TIMELINE_MAX_FRAMES ({s.timeline_max_frames}): use longer windows or trim the video",
            )
        # Now the length is known: reserve what the job will write, or refuse it before it writes any.
        expected = expected_bytes(
            path.stat().st_size,
            info.duration_s,
            windowing.stride_s,
            predictor.embedder.dim,
            len(predictor.version.classes),
        )
        await run_in_threadpool(_check_disk, service, expected - folder_bytes(files.folder), job_id)
        status = service.jobs.update(
            job_id, filename=name, duration_s=round(info.duration_s, 3), reserved_bytes=expected
        )
        service.timelines.submit(job_id, path, windowing, info, smooth)
        submitted = True
        response.headers["Location"] = f"/jobs/{job_id}"
        return JobStatus(**status)  # the model drops the fields kept for the server (client, reserved_bytes)
    finally:
        if not submitted:
            service.timelines.release()
            await run_in_threadpool(service.jobs.delete, job_id)


@router.get("/{job_id}", response_model=JobStatus)
async def job_status(
    job_id: str,
    service: ServiceDep,
    windows_offset: Annotated[int | None, Query(ge=0, description="first window of a page (then no result)")] = None,
    windows_limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="windows in a page")] = 500,
):
    """Progress of a timeline job and, once it is done, the timeline: windows and segments. With
    windows_offset, a page of windows instead of the whole result."""
    status = await run_in_threadpool(_status, service, job_id)
    public = JobStatus(**status).model_dump(mode="json", exclude={"result", "windows", "windows_total"})
    if status["status"] != "done":
        return public
    if windows_offset is not None:
        page = await run_in_threadpool(service.jobs.windows_page, job_id, windows_offset, windows_limit)
        return {**public, "windows": page, "windows_total": status.get("windows_done", 0)}
    # The stored result, as stored: it was validated when the job made it, and may be megabytes.
    raw = await run_in_threadpool(service.jobs.result_bytes, job_id)
    return Response(json.dumps(public)[:-1].encode() + b', "result": ' + raw + b"}", media_type="application/json")


@router.get(
    "/{job_id}/result.csv",
    response_class=Response,
    responses={200: {"description": "one row per window", "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def job_csv(job_id: str, service: ServiceDep) -> Response:
    """The timeline as CSV: one row per window, with every class's probability."""
    status = await run_in_threadpool(_status, service, job_id)
    if status["status"] != "done":
        raise HTTPException(409, f"job {job_id} is {status['status']}: its result is not ready")
    result = await run_in_threadpool(service.jobs.result, job_id)
    timeline = Timeline.from_dict(result)
    name = (status.get("filename") or "timeline").rsplit(".", 1)[0]
    return Response(timeline.to_csv(), media_type="text/csv", headers={"Content-Disposition": attachment(name)})


def attachment(stem: str) -> str:
    """Content-Disposition for `<stem>-timeline.csv`, whatever the upload was called: an ASCII fallback
    (no quote, backslash or control character can end the parameter early) and the real name in RFC 5987's
    filename*, which a header of Latin-1 cannot break."""
    full = f"{stem}-timeline.csv"
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;=' else "_" for ch in full)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(full, safe='')}"


@router.delete("/{job_id}", response_model=JobStatus, dependencies=[KeyRequired])
async def cancel_job(job_id: str, service: ServiceDep) -> JobStatus:
    """Cancel a queued or running job (it stops within a second or two), or delete a finished one's files."""
    status = await run_in_threadpool(_status, service, job_id)
    if status["status"] in ("done", "failed", "cancelled"):
        await run_in_threadpool(service.jobs.delete, job_id)
        return JobStatus(**status)
    return JobStatus(**await run_in_threadpool(service.jobs.request_cancel, job_id))


@router.post(
    "/{job_id}/feedback",
    response_model=FeedbackResponse,
    dependencies=[KeyRequired],
    openapi_extra=request_body({"application/json": {"schema": WindowFeedbackRequest.model_json_schema()}}),
)
async def window_feedback(job_id: str, request: Request, service: ServiceDep) -> FeedbackResponse:
    """The true label of one window: its clip vector becomes a prod_data.csv row, as clip feedback does."""
    service.predictor()
    try:
        body = WindowFeedbackRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(422, f"invalid feedback JSON: {problems(exc.errors())}") from exc
    return await service.feedback_for_window(job_id, body.window, body.target)
