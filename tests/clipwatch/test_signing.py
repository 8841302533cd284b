"""Signed model versions: a pickle the trainer did not write is never unpickled (clipwatch.signing)."""

import pickle

import pytest

from clipwatch.artifacts import ArtifactStore
from clipwatch.errors import ArtifactError
from clipwatch.paths import MODEL_FILE, Paths
from clipwatch.signing import SIGNATURE_FILE


class Planted:
    """What an attacker with write access to artifacts/ would leave: unpickling it runs a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("CLIPWATCH_MODEL_KEY", raising=False)
    s = ArtifactStore(Paths(tmp_path / "data", tmp_path / "artifacts"))
    s.paths.artifacts_dir.mkdir(parents=True)
    s.publish({"m": 1}, {"classes": ["a", "b"]})
    return s


def test_publishing_signs_with_a_key_generated_for_its_owner_only(store):
    key = store.paths.secrets / "model_key"
    assert key.is_file() and key.stat().st_mode & 0o077 == 0
    assert (store.paths.version_dir("v0001") / SIGNATURE_FILE).is_file()
    assert store.load().model == {"m": 1}


def test_a_planted_pickle_is_refused_before_it_runs(store, tmp_path):
    marker = tmp_path / "pwned"
    (store.paths.version_dir("v0001") / MODEL_FILE).write_bytes(pickle.dumps(Planted(marker)))
    with pytest.raises(ArtifactError, match="signature does not match"):
        store.load()
    assert not marker.exists()


def test_an_unsigned_version_is_refused_until_signed_on_purpose(store):
    (store.paths.version_dir("v0001") / SIGNATURE_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"unsigned.*--sign-existing"):
        store.load()
    assert store.sign_unsigned() == ["v0001"]
    assert store.load().model == {"m": 1}


def test_another_key_does_not_verify(store, monkeypatch):
    monkeypatch.setenv("CLIPWATCH_MODEL_KEY", "another-key-of-enough-length")
    with pytest.raises(ArtifactError, match="another model key"):
        store.load()


def test_without_any_key_nothing_is_unpickled(store):
    (store.paths.secrets / "model_key").unlink()
    with pytest.raises(ArtifactError, match="no model key"):
        store.load()
