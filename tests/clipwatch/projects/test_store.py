"""A project's clips and table: all or nothing, safe names, the embedding it was built under."""

import numpy as np
import pytest

from clipwatch.dataset import read_embeddings
from clipwatch.groups import ref_groups
from clipwatch.paths import Paths
from clipwatch.projects.store import NewClip, Project, ProjectError, _file_part, checked_action, checked_recording

CONTRACT = {"backbone_sha256": "ab" * 32, "num_frames": 8, "input_size": 224, "embedding_dim": 4}


def new(tmp_path, action: str, name: str, recording: str = "", value: float = 0.0) -> NewClip:
    src = tmp_path / "incoming" / f"{action}-{name}"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(b"clip bytes")
    still = np.full((32, 32, 3), 128, np.uint8)
    return NewClip(action, recording, name, src, np.full(4, value, np.float32), still)


@pytest.fixture
def project(tmp_path):
    return Project(Paths(tmp_path / "data", tmp_path / "artifacts"), "mine")


def test_added_clips_are_a_reference_set_train_reads_with_their_recordings(project, tmp_path):
    with project.locked():
        added = project.add(
            [new(tmp_path, "fall", "a.mp4", "cam1", 1.0), new(tmp_path, "ok", "b.mp4", "=HYPERLINK(1)", 2.0)],
            CONTRACT,
            max_clips=10,
        )
    X, y, _ = read_embeddings(project.table)
    assert list(y) == ["fall", "ok"] and X[1, 0] == 2.0
    # The recording that looks like a formula is stored defused, and read back as given.
    assert [c.recording for c in project.clips()] == ["cam1", "=HYPERLINK(1)"]
    assert "'=HYPERLINK" in project.table.read_text()
    groups = ref_groups(project.table, 2)
    assert groups is not None and groups[0] == "cam1"
    assert (project.videos / "fall" / f"{added[0].id}_a.mp4").read_bytes() == b"clip bytes"
    assert project.thumbnail(added[0].id).read_bytes()[:2] == b"\xff\xd8"


def test_an_add_that_fails_midway_leaves_the_project_as_it_was(project, tmp_path):
    with project.locked():
        project.add([new(tmp_path, "fall", "a.mp4")], CONTRACT, max_clips=10)
        before = project.table.read_bytes()
        broken = new(tmp_path, "ok", "gone.mp4")
        broken.source.unlink()  # the second clip's file vanished before it could be moved in
        with pytest.raises(OSError):
            project.add([new(tmp_path, "ok", "b.mp4"), broken], CONTRACT, max_clips=10)
    assert project.table.read_bytes() == before
    assert sorted(p.name for p in project.videos.rglob("*") if p.is_file())[0].endswith("_a.mp4")
    assert len([p for p in project.videos.rglob("*") if p.is_file()]) == 1


def test_clips_embedded_otherwise_are_refused_with_the_command_that_rebuilds(project, tmp_path):
    with project.locked():
        project.add([new(tmp_path, "fall", "a.mp4")], CONTRACT, max_clips=10)
        with pytest.raises(ProjectError) as exc:
            project.add([new(tmp_path, "fall", "b.mp4")], {**CONTRACT, "num_frames": 16}, max_clips=10)
    assert exc.value.status == 409 and "clipwatch build-ref --videos" in str(exc.value)


def test_the_clip_cap_counts_what_is_there(project, tmp_path):
    with project.locked():
        project.add([new(tmp_path, "fall", "a.mp4"), new(tmp_path, "fall", "b.mp4")], CONTRACT, max_clips=3)
        with pytest.raises(ProjectError) as exc:
            project.add([new(tmp_path, "ok", "c.mp4"), new(tmp_path, "ok", "d.mp4")], CONTRACT, max_clips=3)
    assert exc.value.status == 413 and len(project.clips()) == 2


def test_removing_the_last_clip_of_an_action_removes_its_folder_and_the_last_of_all_the_table(project, tmp_path):
    with project.locked():
        added = project.add([new(tmp_path, "fall", "a.mp4"), new(tmp_path, "ok", "b.mp4")], CONTRACT, max_clips=9)
        assert project.remove(action="ok") == 1
        assert not (project.videos / "ok").exists()
        assert project.remove(clip_id=added[0].id) == 1
        with pytest.raises(ProjectError):
            project.remove(clip_id=added[0].id)
    assert project.clips() == [] and not project.table.exists()


@pytest.mark.parametrize("name", ["../x", "A", "", "a/b", "x" * 41, "-x"])
def test_a_project_name_never_leaves_the_projects_folder(tmp_path, name):
    with pytest.raises(ProjectError):
        Project(Paths(tmp_path, tmp_path), name)


def test_client_names_become_safe_file_names_and_labels_follow_the_feedback_rule():
    assert _file_part("../../etc/pass wd;$(id).MP4") == "pass-wd-id.mp4"
    assert _file_part("noext") == "noext.bin" and _file_part("...") == "clip.bin"
    assert checked_action(" fall ") == "fall"
    for bad in ("", "../x", "=cmd", "a" * 65, "x\ny"):
        with pytest.raises(ProjectError):
            checked_action(bad)
    with pytest.raises(ProjectError):
        checked_recording("a/b")
    assert checked_recording("  ") == ""
