"""The settings of the "Your actions" projects (clipwatch.projects; /projects routes and the web page): a part
of the one settings object (clipwatch.settings.Settings inherits them), kept apart only to keep that module
readable; the environment sets them the same way (CLIPWATCH_PROJECT_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class ProjectSettings(BaseSettings):
    project_max_mb: float = Field(
        2048, gt=0, description="disk one project's kept clips may take; an upload past it gets 507"
    )
    project_max_clips: int = Field(2000, ge=2, description="clips one project holds, at most")
    project_max_count: int = Field(20, ge=1, description="projects one install holds, at most")
    project_zip_max_mb: float = Field(
        2048, gt=0, description="what a zip of clips may unpack to, at most (each clip within MAX_UPLOAD_MB too)"
    )
