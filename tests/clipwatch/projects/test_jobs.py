"""Project jobs: one at a time per project, claimed once, and never stuck behind a process that died."""

import json
import os
import socket
import time

import pytest

from clipwatch.paths import Paths
from clipwatch.projects import jobs
from clipwatch.projects.store import Project, ProjectError


@pytest.fixture
def project(tmp_path):
    p = Project(Paths(tmp_path / "data", tmp_path / "artifacts"), "mine")
    p.root.mkdir(parents=True)
    return p


def test_a_project_runs_one_job_at_a_time_and_a_job_runs_once(project, settings):
    job = jobs.create(project, "estimate", "api")
    with pytest.raises(ProjectError) as exc:
        jobs.create(project, "deploy", "api")
    assert exc.value.status == 409
    paths = Paths(project.root.parent.parent, project.root.parent.parent)
    done = jobs.run(settings, paths, project, job["id"])
    assert done["status"] == "failed" and done["error"] == "the project has no clips yet"
    assert jobs.run(settings, paths, project, job["id"]) is None  # claimed already: nobody runs it again
    assert jobs.create(project, "deploy", "trainer")["status"] == "queued"


def test_a_job_whose_process_died_is_failed_at_start_up_and_queued_ones_are_picked_up(project):
    dead = {"id": "a" * 12, "kind": "deploy", "status": "running", "runs_in": "api", "created": 1.0}
    dead.update(started=time.time(), owner=f"{socket.gethostname()}:999999999:0")
    queued = {"id": "b" * 12, "kind": "estimate", "status": "queued", "runs_in": "api", "created": 2.0}
    elsewhere = {**dead, "id": "c" * 12, "owner": "another-host:1:0", "created": 3.0}
    for job in (dead, queued, elsewhere):
        (project.root / "jobs").mkdir(exist_ok=True)
        (project.root / "jobs" / f"{job['id']}.json").write_text(json.dumps(job))
    paths = Paths(project.root.parent.parent, project.root.parent.parent)
    todo = jobs.recover(paths, "api")
    assert [job_id for _, job_id in todo] == ["b" * 12]
    assert jobs.read_job(project, "a" * 12)["status"] == "failed"
    assert jobs.read_job(project, "c" * 12)["status"] == "running"  # another host's process: not ours to judge


def test_job_ids_from_a_url_never_name_another_file(project):
    for bad in ("../../x", "a" * 11, "A" * 12, "aaaaaaaaaaaa.json"):
        with pytest.raises(ProjectError):
            jobs.read_job(project, bad)


def test_the_trainer_reads_a_projects_jobs_only_when_its_jobs_folder_changed(project, settings, monkeypatch):
    paths = Paths(project.root.parent.parent, project.root.parent.parent)
    monkeypatch.setattr(Paths, "from_settings", classmethod(lambda cls, s=None: paths))
    seen: dict = {}
    job = jobs.create(project, "deploy", "trainer")
    assert jobs.run_queued(settings, seen=seen) == 1  # a new folder: read, and the queued deploy run
    assert jobs.read_job(project, job["id"])["status"] == "failed"  # no clips: but it ran
    old = (project.root / "jobs").stat().st_mtime_ns - 10_000_000_000
    os.utime(project.root / "jobs", ns=(old, old))
    seen["mine"] = old
    reads = []
    monkeypatch.setattr(jobs, "jobs_of", lambda p: reads.append(p) or [])
    assert jobs.run_queued(settings, seen=seen) == 0 and not reads  # unchanged for 10 s: no job file read
    os.utime(project.root / "jobs", None)  # touched now
    jobs.run_queued(settings, seen=seen)
    assert reads  # changed: read again
