"""Options several commands share, declared once so their names, defaults and help agree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

GroupRegex = Annotated[
    str | None,
    typer.Option(
        "--group",
        help="regex on the file name whose first capture group names the source recording, whatever the "
        "class; clips of one recording stay on one side of every split (default: CLIPWATCH_GROUP_REGEX; "
        "surveillance clips s07__x.mp4: '^(s\\d+)__'; UCF101, whose g08 repeats across classes: '(v_\\w+_g\\d+)_')",
    ),
]
GroupsManifest = Annotated[
    Path | None,
    typer.Option(
        "--groups-manifest",
        help="CSV clip,group naming each clip's recording (default: CLIPWATCH_GROUP_MANIFEST)",
    ),
]
Videos = Annotated[Path | None, typer.Option("--videos", help="folder-per-class clips (default: data/videos)")]
