"""Nothing open by default: secrets exist from the first bootstrap, and every component reads the same ones."""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from clipwatch.cli import app
from clipwatch.errors import ClipwatchError
from clipwatch.secrets import ensure_secrets
from clipwatch.settings import Settings


def test_missing_secrets_are_generated_private_and_kept(tmp_path):
    folder = tmp_path / "secrets"
    first = ensure_secrets(folder, env={})
    assert {how for _, how in first.values()} == {"generated"}
    key = (folder / "api_key").read_text().strip()
    assert len(key) >= 32 and stat.S_IMODE((folder / "api_key").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "webapp_password").stat().st_mode) == 0o600
    assert ensure_secrets(folder, env={})["api_key"][1] == "kept"  # a second start changes nothing
    assert (folder / "api_key").read_text().strip() == key
    # Every component reads the same key from there.
    s = Settings(_env_file=None, artifacts_dir=tmp_path, secrets_dir=folder)
    assert s.api_key.get_secret_value() == key and s.webapp_password is not None


def test_the_environment_wins_and_is_written_for_the_others(tmp_path, monkeypatch):
    folder = tmp_path / "secrets"
    ensure_secrets(folder, env={})
    chosen = {"CLIPWATCH_API_KEY": "from-dotenv-0123456789", "GRAFANA_ADMIN_PASSWORD": "grafana-0123456789"}
    done = ensure_secrets(folder, env=chosen)
    assert done["api_key"][1] == "from the environment"
    assert (folder / "api_key").read_text().strip() == "from-dotenv-0123456789"
    assert stat.S_IMODE((folder / "grafana_password").stat().st_mode) == 0o644  # Grafana runs as its own user
    monkeypatch.setenv("CLIPWATCH_API_KEY", "from-env")
    assert Settings(_env_file=None, secrets_dir=folder).api_key.get_secret_value() == "from-env"


@pytest.mark.parametrize("variable", ["CLIPWATCH_API_KEY", "CLIPWATCH_WEBAPP_PASSWORD", "GRAFANA_ADMIN_PASSWORD"])
def test_a_chosen_secret_shorter_than_16_characters_is_refused_and_nothing_is_written(tmp_path, variable):
    folder = tmp_path / "secrets"
    with pytest.raises(ClipwatchError, match=f"{variable} is 8 characters; use at least 16"):
        ensure_secrets(folder, env={variable: "admin123"})
    assert not folder.exists()  # checked before anything was written


def test_kubernetes_bootstrap_refuses_an_empty_key(monkeypatch, tmp_path):
    monkeypatch.setenv("CLIPWATCH_API_KEY", "")
    monkeypatch.setenv("CLIPWATCH_ARTIFACTS_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["bootstrap", "--require-key"])
    assert result.exit_code != 0 and "CLIPWATCH_API_KEY is empty" in str(result.exception)
    assert not (tmp_path / "secrets").exists()  # and wrote nothing
