"""The documentation site (mkdocs.yml): it builds strict, and its reference pages cover the real app."""

import os
import re
import subprocess
import sys

import pytest
import typer

from clipwatch.cli import app as cli_app
from clipwatch.service.main import create_app
from clipwatch.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    return out


def test_every_page_in_docs_is_in_the_site(site):
    for page in (PROJECT_ROOT / "docs").glob("*.md"):
        assert (site / page.stem / "index.html").is_file() or page.stem == "index", page.name
    assert (site / "index.html").is_file()


def test_the_api_reference_lists_every_route_the_app_serves(site):
    html = (site / "reference" / "api" / "index.html").read_text()
    spec = create_app().openapi()
    for path, item in spec["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in html, (method, path)
    for schema in spec["components"]["schemas"]:
        assert f'id="{schema.lower()}"' in html, schema
    assert (site / "reference" / "openapi.json").is_file()


def test_the_cli_reference_lists_every_command_and_its_options(site):
    html = (site / "reference" / "cli" / "index.html").read_text()
    click_app = typer.main.get_command(cli_app)
    for name, command in click_app.commands.items():
        assert f"clipwatch {name}" in html, name
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert re.search(re.escape(opt) + r"\b", html), (name, opt)


def test_the_settings_page_lists_every_setting_with_its_description(site):
    from clipwatch.settings import Settings

    html = (site / "settings" / "index.html").read_text()
    assert "the settings' own" in html  # the hand-written introduction comes first
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description: the settings page would have no meaning for it"
        variable = f"CLIPWATCH_{name.upper()}"
        aliases = getattr(field.validation_alias, "choices", [variable])
        assert any(f"<code>{a}</code>" in html for a in aliases), name
