import json

import pytest

from clipwatch.artifacts import ArtifactStore
from clipwatch.errors import ArtifactError
from clipwatch.paths import METADATA_FILE, Paths
from devtools.sandbox import private_copy


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(Paths(tmp_path / "data", tmp_path / "artifacts"))


def test_publish_numbers_versions_and_moves_current(store):
    assert store.current_name() is None
    store.paths.artifacts_dir.mkdir(parents=True)
    v1 = store.publish({"m": 1}, {"classes": ["a", "b"]})
    v2 = store.publish({"m": 2}, {"classes": ["a", "b"]})
    assert (v1, v2) == ("v0001", "v0002")
    assert store.current_name() == "v0002"
    assert store.load().model == {"m": 2}
    # The seed's top-level files mirror the current version.
    assert json.loads(store.paths.seed_copy(METADATA_FILE).read_text())["version"] == "v0002"
    store.promote("v0001")
    assert store.load().model == {"m": 1}
    assert json.loads(store.paths.seed_copy(METADATA_FILE).read_text())["version"] == "v0001"


def test_a_half_written_version_is_never_listed_or_promoted(store):
    store.paths.artifacts_dir.mkdir(parents=True)
    store.publish({"m": 1}, {"classes": ["a"]})
    # What a crash in the middle of publish leaves behind: a temporary dir, no rename.
    (store.paths.versions / ".v0002.abc").mkdir()
    (store.paths.versions / ".v0002.abc" / "model.pkl").write_bytes(b"torn")
    assert store.versions() == ["v0001"]
    assert store.publish({"m": 2}, {"classes": ["a"]}) == "v0002"
    (store.paths.versions / "v0003").mkdir()
    with pytest.raises(ArtifactError, match="incomplete"):
        store.promote("v0003")
    assert store.current_name() == "v0002"


def test_loading_without_a_model_says_what_to_run(store):
    with pytest.raises(ArtifactError, match="clipwatch train"):
        store.load()


def test_a_private_copy_runs_on_its_own_files_and_leaves_the_users_alone(settings, trained, tmp_path):
    src = Paths.from_settings(settings)
    before = src.ref_data.read_bytes(), ArtifactStore(src).current_name()
    s = private_copy(tmp_path / "sandbox", settings, retrain_every_k=7)
    copy = Paths.from_settings(s)
    assert copy.artifacts_dir == tmp_path / "sandbox" / "artifacts" and s.retrain_every_k == 7
    assert ArtifactStore(copy).current_name() == before[1]
    copy.ref_data.write_text("scribbled")
    ArtifactStore(copy).promote(ArtifactStore(copy).current_name())
    assert (src.ref_data.read_bytes(), ArtifactStore(src).current_name()) == before
    assert private_copy(tmp_path / "sandbox", settings).data_dir == s.data_dir  # reused, not copied again
    assert copy.ref_data.read_text() == "scribbled"


def test_a_private_copy_of_nothing_says_what_to_run(tmp_path):
    from clipwatch.settings import Settings

    empty = Settings(data_dir=tmp_path / "d", artifacts_dir=tmp_path / "a", _env_file=None)
    with pytest.raises(ArtifactError, match="make artifacts"):
        private_copy(tmp_path / "sandbox", empty)
