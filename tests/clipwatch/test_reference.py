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
