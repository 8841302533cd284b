"""The map of the disk follows the settings, including the ones that move a single folder."""

from clipwatch.paths import Paths
from clipwatch.settings import Settings


def test_every_folder_follows_its_setting(tmp_path):
    s = Settings(
        data_dir=tmp_path / "d",
        artifacts_dir=tmp_path / "a",
        report_workspace=tmp_path / "ws",
        upload_dir=tmp_path / "up",
        _env_file=None,
    )
    p = Paths.from_settings(s)
    assert p.workspace == tmp_path / "ws" and p.latest_report == tmp_path / "ws" / "latest.json"
    assert p.uploads == tmp_path / "up"
    assert p.history == tmp_path / "a" / "history.jsonl"
    assert p.prediction_cache.parent == p.data_dir == tmp_path / "d"


def test_defaults_keep_the_workspace_on_the_data_volume_and_uploads_off_it(tmp_path):
    p = Paths.from_settings(Settings(data_dir=tmp_path / "d", artifacts_dir=tmp_path / "a", _env_file=None))
    assert p.workspace == tmp_path / "d" / "workspace"
    assert not p.uploads.is_relative_to(tmp_path)
