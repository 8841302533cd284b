"""The documentation site's reference pages, generated at every `mkdocs build` (mkdocs-gen-files).

- `reference/api.md`: every route of the serving API, from the app's own OpenAPI schema, so the page
  cannot drift from what `/docs` serves. The schema itself is published beside it as `openapi.json`.
- `reference/cli.md`: every `clipwatch` command and option, from the Typer app (Typer's own docs
  generator, the text `--help` prints).
- `settings.md`: the hand-written introduction in docs/settings.md, then a table of every setting
  from `clipwatch.settings.Settings`: its variable names, default and description.

By hand, `python scripts/docs_reference.py --out DIR` writes the same files into OUT_DIR.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

METHODS = ("get", "post", "put", "patch", "delete")


def openapi() -> dict:
    from clipwatch.service.main import create_app

    return create_app().openapi()


def schema_type(schema: dict) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(schema_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {schema_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("type") == "object" and schema.get("properties"):
        required = set(schema.get("required", []))
        fields = ", ".join(
            f"`{name}`{'' if name in required else ' (optional)'}: {schema_type(prop)}"
            for name, prop in schema["properties"].items()
        )
        return f"fields {fields}"
    fmt = f" ({schema['format']})" if "format" in schema else ""
    return f"{schema.get('type', 'any')}{fmt}"


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def api_markdown(spec: dict) -> str:
    out = [
        "# HTTP API reference",
        "",
        f"Generated from the serving API's OpenAPI schema ({spec['info']['title']} {spec['info']['version']}); "
        "the same schema a running server serves at `/openapi.json` and renders at `/docs`. "
        "[Download it](openapi.json). The guide to using it is [Serving API](../serving-api.md).",
        "",
    ]
    for path, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            out += [f"## `{method.upper()} {path}`", ""]
            if op.get("summary"):
                out += [f"**{op['summary']}**", ""]
            if op.get("description"):
                out += [op["description"].strip(), ""]
            params = op.get("parameters", [])
            if params:
                out += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
                for p in params:
                    out.append(
                        f"| `{p['name']}` | {p['in']} | {schema_type(p.get('schema', {}))} | "
                        f"{'yes' if p.get('required') else 'no'} | {cell(p.get('description', ''))} |"
                    )
                out.append("")
            body = op.get("requestBody", {}).get("content", {})
            if body:
                kinds = ", ".join(f"`{kind}`: {schema_type(c.get('schema', {}))}" for kind, c in body.items())
                out += [f"Request body: {kinds}", ""]
            out += ["| status | meaning | body |", "|---|---|---|"]
            for status, resp in op.get("responses", {}).items():
                content = resp.get("content", {})
                shape = ", ".join(schema_type(c.get("schema", {})) for c in content.values()) or "none"
                out.append(f"| {status} | {cell(resp.get('description', ''))} | {shape} |")
            out.append("")
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        out += ["## Schemas", ""]
    for name, schema in schemas.items():
        out += [f"### {name}", ""]
        if schema.get("description"):
            out += [cell(schema["description"]), ""]
        props = schema.get("properties", {})
        if props:
            required = set(schema.get("required", []))
            out += ["| field | type | required | description |", "|---|---|---|---|"]
            for field, prop in props.items():
                out.append(
                    f"| `{field}` | {schema_type(prop)} | {'yes' if field in required else 'no'} | "
                    f"{cell(prop.get('description', ''))} |"
                )
            out.append("")
    return "\n".join(out) + "\n"


def cli_markdown() -> str:
    """Typer's docs generator on the clipwatch app: the same words `clipwatch COMMAND --help` prints."""
    text = subprocess.run(
        [sys.executable, "-m", "typer", "clipwatch.cli", "utils", "docs", "--name", "clipwatch"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    intro = "Generated from the Typer app at every docs build: the same text as `clipwatch COMMAND --help`.\n\n"
    title, _, rest = text.partition("\n")
    return f"{title.replace('`clipwatch`', 'CLI reference: `clipwatch`')}\n\n{intro}{rest.lstrip()}"


def env_names(name: str, field) -> list[str]:
    from pydantic import AliasChoices

    alias = field.validation_alias
    return list(alias.choices) if isinstance(alias, AliasChoices) else [f"CLIPWATCH_{name.upper()}"]


def default_text(field) -> str:
    from clipwatch.settings import PROJECT_ROOT

    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return f"`./{value.relative_to(PROJECT_ROOT)}`" if value.is_relative_to(PROJECT_ROOT) else f"`{value}`"
    if isinstance(value, (list, tuple)):
        return f"`{','.join(map(str, value))}`" if value else "`[]`"
    return f"`{value}`"


def settings_table() -> str:
    """Every setting: its variable names (the handout's unprefixed ones first), default and description."""
    from clipwatch.settings import Settings

    out = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        names = ", ".join(f"`{n}`" for n in env_names(name, field) if n.isupper())
        out.append(f"| {names} | {default_text(field)} | {cell(field.description or '')} |")
    return "\n".join(out) + "\n"


def pages() -> dict[str, str]:
    spec = openapi()
    return {
        "reference/api.md": api_markdown(spec),
        "reference/openapi.json": json.dumps(spec, indent=2) + "\n",
        "reference/cli.md": cli_markdown(),
    }


APPENDED = {"settings.md": settings_table}  # hand-written pages that end in a generated part


def write_with_gen_files() -> None:
    import mkdocs_gen_files

    for name, text in pages().items():
        with mkdocs_gen_files.open(name, "w") as fh:
            fh.write(text)
    for name, part in APPENDED.items():
        with mkdocs_gen_files.open(name, "a") as fh:  # the page from docs/, then the generated part
            fh.write(part())


if "--out" in sys.argv:  # by hand
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    docs = Path(__file__).resolve().parent.parent / "docs"
    written = {**pages(), **{name: (docs / name).read_text() + part() for name, part in APPENDED.items()}}
    for name, text in written.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
        print(out / name)
else:  # by mkdocs-gen-files, during a build
    write_with_gen_files()
