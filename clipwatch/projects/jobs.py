"""A project's estimates and deploys as jobs: a JSON status file each, in the project's jobs/ folder on the data
volume, so whichever process runs it, any replica answers a poll.

The API runs estimates in one worker thread per process. Deploys run there too on one machine
(CLIPWATCH_TRAINER=thread); with CLIPWATCH_TRAINER=external the API's artifacts are read-only, so a
deploy stays queued until `clipwatch trainer` claims it (`run_queued`, on each of its looks). A job is
claimed under the project's lock, so two processes never run the same one, and a project runs one
job at a time (another is refused with 409 while one is queued or running).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from pathlib import Path

from clipwatch.errors import ClipwatchError
from clipwatch.paths import Paths
from clipwatch.process_identity import alive
from clipwatch.process_identity import started as start_time
from clipwatch.projects.names import PROJECT_JOB_ID
from clipwatch.projects.store import Project, ProjectError, list_projects
from clipwatch.projects.training import deploy, estimate, switch_back
from clipwatch.settings import Settings

log = logging.getLogger(__name__)

KINDS = ("estimate", "deploy", "rollback")  # rollback: switch back to an earlier version (one click on the page)
ACTIVE = ("queued", "running")
KEEP = 20  # finished jobs kept per project
STALE_S = 6 * 3600  # a job running longer than this is taken for dead


def _path(project: Project, job_id: str) -> Path:
    if not PROJECT_JOB_ID.match(job_id):
        raise ProjectError("no such job", 404)
    return project.root / "jobs" / f"{job_id}.json"


def _write(path: Path, job: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(job, indent=1))
    os.replace(tmp, path)


def read_job(project: Project, job_id: str) -> dict:
    path = _path(project, job_id)
    if not path.is_file():
        raise ProjectError("no such job", 404)
    return json.loads(path.read_text())


def jobs_of(project: Project) -> list[dict]:
    """The project's jobs, newest first."""
    folder = project.root / "jobs"
    found = [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(found, key=lambda j: j["created"], reverse=True)


def create(project: Project, kind: str, runs_in: str, version: str | None = None) -> dict:
    """A queued job; refused while another of the project's is queued or running."""
    if kind not in KINDS:
        raise ProjectError(f"a job is one of {', '.join(KINDS)}", 422)
    with project.locked():
        jobs = jobs_of(project)
        if busy := [j for j in jobs if j["status"] in ACTIVE]:
            raise ProjectError(f"the project's {busy[0]['kind']} job {busy[0]['id']} has not finished yet", 409)
        for old in jobs[KEEP - 1 :]:
            _path(project, old["id"]).unlink(missing_ok=True)
        job = {
            "id": uuid.uuid4().hex[:12],
            "kind": kind,
            "status": "queued",
            "runs_in": runs_in,
            "created": time.time(),
        }
        _write(_path(project, job["id"]), job)
    return job


def _claim(project: Project, job_id: str) -> dict | None:
    with project.locked():
        job = read_job(project, job_id)
        if job["status"] != "queued":
            return None
        job.update(status="running", started=time.time(), owner=_me())
        _write(_path(project, job_id), job)
    return job


def _me() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_time(pid)}"


def _orphaned(job: dict) -> bool:
    """A running job whose process is gone: it ran on this host (this container) under a process that
    is no longer the one with its pid, or it has run for longer than any deploy may."""
    if job["status"] != "running":
        return False
    if time.time() - job.get("started", 0) > STALE_S:
        return True
    host, _, rest = job.get("owner", "").partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not alive(int(pid), started)


def recover(paths: Paths, runs_in: str) -> list[tuple[Project, str]]:
    """At start-up: fail the jobs a dead process was running; the queued ones this process should run."""
    todo = []
    for name in list_projects(paths):
        project = Project(paths, name)
        with project.locked():
            for job in jobs_of(project):
                if _orphaned(job):
                    job.update(
                        status="failed", error="the process running it stopped; start it again", finished=time.time()
                    )
                    _write(_path(project, job["id"]), job)
                elif job["status"] == "queued" and job.get("runs_in") == runs_in:
                    todo.append((project, job["id"]))
    return todo


def run(s: Settings, paths: Paths, project: Project, job_id: str, on_live=None) -> dict | None:
    """Claim a queued job and run it to the end; its final status, or None if another process had it."""
    job = _claim(project, job_id)
    if job is None:
        return None
    try:
        if job["kind"] == "rollback":
            job["result"] = switch_back(s, job.get("version"))
        else:
            job["result"] = (estimate if job["kind"] == "estimate" else deploy)(s, paths, project)
        job["status"] = "done"
        if on_live is not None and job["kind"] != "estimate":
            on_live()  # this process serves the new version before the job says it is done
    except ClipwatchError as exc:
        job.update(status="failed", error=str(exc))
    except Exception as exc:
        log.exception("project %s: %s job %s failed", project.name, job["kind"], job_id)
        job.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    job["finished"] = time.time()
    with project.locked():
        _write(_path(project, job_id), job)
    return job


def run_queued(s: Settings, kinds: tuple[str, ...] = ("deploy", "rollback"), seen: dict | None = None) -> int:
    """Run every queued job of these kinds in any project (the trainer's part); how many ran.

    seen: the jobs folders' modification times at the last look, kept by the caller. Every job file is
    written by renaming into its folder, so a folder that has not changed holds no new queued job, and
    a trainer that looks every second reads no job file until one is added."""
    paths, ran = Paths.from_settings(s), 0
    for name in list_projects(paths):
        project = Project(paths, name)
        folder = project.root / "jobs"
        if seen is not None:
            try:
                stamp = folder.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            # Unchanged, and not within the last 2 s: a coarse clock could give a change made just after
            # the last look that very stamp.
            if seen.get(name) == stamp and time.time_ns() - stamp > 2_000_000_000:
                continue
            seen[name] = stamp
        for job in reversed(jobs_of(project)):
            if job["status"] == "queued" and job["kind"] in kinds and run(s, paths, project, job["id"]):
                ran += 1
    return ran


class ProjectRunner:
    """The API process's worker: one job at a time, in the order submitted."""

    def __init__(self, settings: Settings, on_deployed=None):
        self.settings = settings
        self.paths = Paths.from_settings(settings)
        self.on_deployed = on_deployed
        self._queue: queue.Queue = queue.Queue()
        for item in reversed(recover(self.paths, "api")):
            self._queue.put(item)
        self._thread = threading.Thread(target=self._work, name="project-jobs", daemon=True)
        self._thread.start()

    def runs_here(self, kind: str) -> bool:
        return kind == "estimate" or self.settings.trainer == "thread"

    def submit(self, project: Project, kind: str, version: str | None = None) -> dict:
        job = create(project, kind, "api" if self.runs_here(kind) else "trainer", version)
        if self.runs_here(kind):
            self._queue.put((project, job["id"]))
        return job

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            project, job_id = item
            run(self.settings, self.paths, project, job_id, self.on_deployed)

    def stop(self) -> None:
        self._queue.put(None)
