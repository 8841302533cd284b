"""The CLI as a user runs it: one-line errors, useful output."""

import os
import subprocess
import sys

import pytest


def run_cli(settings, *args):
    env = {
        **os.environ,
        "CLIPWATCH_DATA_DIR": str(settings.data_dir),
        "CLIPWATCH_ARTIFACTS_DIR": str(settings.artifacts_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "clipwatch", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_predict_prints_label_and_confidence(settings, trained, videos):
    clip = sorted((videos / "squat").glob("*.mp4"))[0]
    res = run_cli(settings, "predict", str(clip))
    assert res.returncode == 0, res.stderr
    path, label, conf, _ = res.stdout.strip().split("\t")
    assert path == str(clip) and label in trained[1]["classes"] and 0 < float(conf) <= 1


def test_predict_on_a_broken_file_gives_a_one_line_error(settings, trained, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("hello")
    res = run_cli(settings, "predict", str(bad))
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "bad.mp4" in res.stderr


def test_build_ref_on_a_missing_folder_is_a_one_line_error(settings, tmp_path, export_report):
    res = run_cli(settings, "build-ref", "--videos", str(tmp_path / "nope"), "--out", str(tmp_path / "r.csv"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope'}: no such folder (expected <folder>/<class>/<clip>.mp4)"
    ]


@pytest.mark.parametrize("args", [["--help"], ["data", "synth", "--help"], ["train", "--help"]])
def test_help_works(settings, args):
    assert run_cli(settings, *args).returncode == 0


def test_info_reports_the_current_version(settings, trained):
    res = run_cli(settings, "info")
    assert res.returncode == 0
    assert f"model {trained[0]}" in res.stdout and "macro F1" in res.stdout
    assert "reference: " in res.stdout and " actions: clap " in res.stdout  # the reference set per action


def test_a_command_needing_the_trainer_extras_says_so_in_one_line(settings, tmp_path):
    # What `clipwatch data synth` does in the serving image, which leaves OpenCV and torch out.
    env = {**os.environ, "CLIPWATCH_DATA_DIR": str(settings.data_dir)}
    code = "import sys; sys.modules['cv2'] = None; sys.argv = ['clipwatch', *sys.argv[1:]]; "
    code += "from clipwatch.cli import main; main()"
    res = subprocess.run(
        [sys.executable, "-c", code, "data", "synth", "--out", str(tmp_path / "v"), "--per-class", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: this command needs cv2, which this install leaves out; "
        "use the bootstrap image or pip install -r export/requirements.txt 'clipwatch[export]'"
    ]
    assert not (tmp_path / "v").exists()
