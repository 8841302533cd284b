from pathlib import Path

import pytest

from tests.reliability.corpus import build
from tests.service.conftest import client, client_for, live_server, make_settings  # noqa: F401


@pytest.fixture(scope="session")
def good_clip(videos) -> Path:
    return sorted((videos / "walk").glob("*.mp4"))[0]


@pytest.fixture(scope="session")
def corpus(good_clip, tmp_path_factory):
    return build(good_clip, tmp_path_factory.mktemp("hostile"))
