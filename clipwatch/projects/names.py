"""What a project, a clip and a job are called: shared by the routes, the store and the API client (which
sends the key only to paths of these forms)."""

from __future__ import annotations

import re

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
PROJECT_RULE = "a project name is 1-40 lower-case letters, digits, '_' or '-', starting with a letter or digit"
CLIP_ID = re.compile(r"^[0-9a-f]{12}$")
PROJECT_JOB_ID = CLIP_ID
