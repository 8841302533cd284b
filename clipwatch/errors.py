"""Errors a user can act on; the CLI prints them as one line, the API as a 4xx."""

import errno

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)  # a full disk, or a full quota


class ClipwatchError(Exception):
    """Base for every error whose message is meant for the user."""


class DatasetError(ClipwatchError):
    """A dataset folder or CSV that cannot be used as it is."""


class ArtifactError(ClipwatchError):
    """Artifacts missing, incomplete, or inconsistent with each other."""
