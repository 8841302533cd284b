"""What the reference set holds per action, and what each action still lacks for an honest estimate."""

from clipwatch.groups import write_clips
from clipwatch.reference import summarize


def test_each_action_says_its_clips_recordings_and_what_it_still_needs(tmp_path):
    ref = tmp_path / "ref_data.csv"
    rows = [("fall", "cam1"), ("fall", "cam2"), ("fall", "cam2"), ("ok", "cam1"), ("fight", ""), ("fight", "")]
    ref.write_text("emb_1,emb_2,target\n" + "".join(f"0.1,0.2,{a}\n" for a, _ in rows))
    write_clips(ref, [f"{a}/{i}.mp4" for i, (a, _) in enumerate(rows)], [g for _, g in rows])
    by = {a["action"]: a for a in summarize(ref)}
    assert by["fall"] == {"action": "fall", "clips": 3, "recordings": 2, "clips_without_recording": 0, "needs": []}
    assert by["ok"]["needs"] == [
        "at least 2 clips, for cross-validation",
        "clips from a second recording, for an estimate grouped by recording",
    ]
    assert by["fight"]["recordings"] == 0 and by["fight"]["clips_without_recording"] == 2
    assert by["fight"]["needs"] == ["the recording each clip was cut from, for an estimate grouped by recording"]
    assert summarize(tmp_path / "missing.csv") == []


def test_a_replaced_reference_set_is_archived_and_restored_by_its_digest(tmp_path):
    import pytest

    from clipwatch.errors import DatasetError
    from clipwatch.paths import Paths
    from clipwatch.reference import archive_reference, install_reference, restore_reference, table_sha256

    paths = Paths(tmp_path / "data", tmp_path / "artifacts")
    paths.data_dir.mkdir()
    paths.ref_data.write_text("emb_1,target\n0.1,walk\n")
    write_clips(paths.ref_data, ["walk/a.mp4"], ["cam1"])
    old = table_sha256(paths.ref_data)
    other = tmp_path / "project" / "ref_data.csv"
    other.parent.mkdir()
    other.write_text("emb_1,target\n0.9,fall\n")
    write_clips(other, ["fall/b.mp4"], ["cam9"])

    install_reference(paths, other)
    assert paths.ref_data.read_text() == other.read_text()
    assert "cam9" in (paths.data_dir / "ref_data.clips.csv").read_text()
    assert archive_reference(paths) == table_sha256(other)  # archiving twice keeps one copy per content
    assert restore_reference(paths, old) is True
    assert table_sha256(paths.ref_data) == old and "cam1" in (paths.data_dir / "ref_data.clips.csv").read_text()
    assert restore_reference(paths, old) is False  # already current
    with pytest.raises(DatasetError):
        restore_reference(paths, "f" * 64)
