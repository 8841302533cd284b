"""The "Your actions" projects: labelled clips, an estimate, a deploy (clipwatch.projects). All need the key."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from clipwatch.projects import jobs
from clipwatch.projects.store import Project, ProjectError, checked_action, list_projects
from clipwatch.service.deps import KeyRequired, ServiceDep
from clipwatch.service.openapi import BINARY, ERRORS, form, request_body

router = APIRouter(tags=["projects"], responses=ERRORS, dependencies=[KeyRequired])


class NewProject(BaseModel):
    name: str = Field(min_length=1, max_length=40, description="lower-case letters, digits, '_' or '-'")


class NewJob(BaseModel):
    kind: Literal["estimate", "deploy", "rollback"]
    version: str | None = Field(None, pattern=r"^v\d{1,9}$", description="rollback: the version to switch back to")


def _existing(service, name: str) -> Project:
    project = Project(service.paths, name)
    if not project.exists():
        raise ProjectError(f"no project {name!r}", 404)
    return project


def _view(project: Project) -> dict:
    clips = project.clips()
    return {
        "name": project.name,
        "actions": project.summary(clips),
        "clips": [vars(c) for c in clips],
        "bytes": sum(c.bytes for c in clips),
        "jobs": jobs.jobs_of(project)[:5],
    }


def _removed(project: Project, clip_id: str | None, action: str | None) -> dict:
    with project.locked():
        project.remove(clip_id=clip_id, action=action)
        return _view(project)


@router.get("/projects")
async def projects(service: ServiceDep) -> dict:
    """Every project, with its clips per action."""

    def listing() -> list[dict]:
        out = []
        for name in list_projects(service.paths):
            summary = Project(service.paths, name).summary()
            out.append({"name": name, "clips": sum(a["clips"] for a in summary), "actions": len(summary)})
        return out

    return {"projects": await run_in_threadpool(listing), "max": service.settings.project_max_count}


@router.post("/projects", status_code=201)
async def create_project(body: NewProject, service: ServiceDep) -> dict:
    """A new, empty project."""
    project = Project(service.paths, body.name.strip())
    if project.exists():
        raise ProjectError(f"a project {project.name!r} exists already", 409)
    if len(list_projects(service.paths)) >= service.settings.project_max_count:
        raise ProjectError(f"{service.settings.project_max_count} projects exist (CLIPWATCH_PROJECT_MAX_COUNT)", 409)
    try:
        project.root.mkdir(parents=True)
    except FileExistsError:  # created by another request meanwhile
        raise ProjectError(f"a project {project.name!r} exists already", 409) from None
    return _view(project)


@router.get("/projects/{name}")
async def project(name: str, service: ServiceDep) -> dict:
    """Its actions (clips, recordings, what each still needs), its clips and its latest jobs."""
    return await run_in_threadpool(_view, _existing(service, name))


@router.delete("/projects/{name}")
async def delete_project(name: str, service: ServiceDep) -> dict:
    """The project and its clips (a version deployed from it stays, with its archived reference set)."""
    project = _existing(service, name)

    def delete() -> None:
        with project.locked():
            if any(j["status"] in jobs.ACTIVE for j in jobs.jobs_of(project)):
                raise ProjectError("a job of this project has not finished yet", 409)
            project.delete()

    await run_in_threadpool(delete)
    return {"deleted": name}


@router.post(
    "/projects/{name}/clips",
    openapi_extra=request_body(
        {
            "multipart/form-data": form(
                ["files"],
                files={"type": "array", "items": BINARY, "minItems": 1},
                action={"type": "string", "description": "the clips' action (not needed for a zip of folders)"},
                recording={"type": "string", "description": "the recording every clip sent was cut from"},
                recording_from={"type": "string", "enum": ["name"], "description": "name: from each file's name"},
            )
        }
    ),
)
async def add_clips(name: str, request: Request, service: ServiceDep) -> dict:
    """Labelled clips (multipart `files`: clips with form field `action`, or zips laid out <action>/<clip>)."""
    return await service.add_clips(request, _existing(service, name))


@router.delete("/projects/{name}/clips/{clip_id}")
async def remove_clip(name: str, clip_id: str, service: ServiceDep) -> dict:
    project = _existing(service, name)
    return await run_in_threadpool(_removed, project, clip_id, None)


@router.delete("/projects/{name}/actions/{action}")
async def remove_action(name: str, action: str, service: ServiceDep) -> dict:
    project = _existing(service, name)
    return await run_in_threadpool(_removed, project, None, checked_action(action))


@router.get("/projects/{name}/clips/{clip_id}/thumbnail", response_class=FileResponse)
async def thumbnail(name: str, clip_id: str, service: ServiceDep) -> FileResponse:
    path = _existing(service, name).thumbnail(clip_id)
    if not path.is_file():
        raise ProjectError("no still for this clip", 404)
    return FileResponse(path, media_type="image/jpeg")


@router.post("/projects/{name}/jobs", status_code=202)
async def start_job(name: str, body: NewJob, service: ServiceDep) -> dict:
    """An estimate (grouped cross-validation, nothing published), a deploy (train, gate, go live), or a
    rollback (switch back to an earlier version, with its reference set); poll it. Deploys and rollbacks
    run in `clipwatch trainer` when this API's artifacts are read-only (CLIPWATCH_TRAINER=external)."""
    return await run_in_threadpool(service.projects.submit, _existing(service, name), body.kind, body.version)


@router.get("/projects/{name}/jobs/{job_id}")
async def job(name: str, job_id: str, service: ServiceDep) -> dict:
    return await run_in_threadpool(jobs.read_job, _existing(service, name), job_id)
