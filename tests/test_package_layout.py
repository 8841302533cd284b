"""The package's shape, as a newcomer relies on it: the import graph's rules, and the README's map.

- no import cycle among clipwatch's modules (an import inside a function counts: a cycle is a cycle);
- nothing outside clipwatch/service imports it, but the command line (clipwatch/cli);
- no route imports another route: shared work lives in the Service;
- the README's "Where things go" names every sub-package and every module at the package root;
- helpers for development (local servers, a private copy of an install) are not shipped.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from clipwatch.settings import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "clipwatch"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(f): f for f in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The clipwatch modules `name` imports, anywhere in its body."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                stem = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*stem, base] if base else stem)
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (a package and its own child aside)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return [c for c in found if not (len(c) == 2 and c[1].startswith(c[0] + "."))]


def test_there_is_no_import_cycle():
    assert cycles() == []


def test_only_the_service_and_the_command_line_import_the_service():
    outside = [
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if t.startswith("clipwatch.service")
        and not m.startswith(("clipwatch.service", "clipwatch.cli"))
        and m != "clipwatch.__main__"
    ]
    assert outside == []


def test_no_route_imports_another_route():
    crossing = [f"{m} -> {t}" for m, targets in GRAPH.items() for t in targets if ".routes." in m and ".routes." in t]
    assert crossing == []


def test_the_graph_is_read_from_real_imports():
    # The checks above would pass on an empty graph: make sure they see edges they must see.
    assert "clipwatch.stores.base" in GRAPH["clipwatch.stores.csv"]
    assert "clipwatch.live_model" in GRAPH["clipwatch.watch.watcher"]
    assert "clipwatch.stores.postgres" in GRAPH["clipwatch.stores"]  # an import inside a function counts


def where_things_go() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text()
    return readme.split("## Where things go", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("sub", sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()))
def test_the_readme_names_every_sub_package(sub):
    assert f"`clipwatch/{sub}/`" in where_things_go(), f"README's 'Where things go' lacks clipwatch/{sub}/"


def test_the_readme_names_every_module_at_the_package_root():
    table = where_things_go()
    named = set(re.findall(r"`(?:clipwatch/)?([a-z_]+\.py)`", table))
    root = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert root - named == set()


def test_development_helpers_are_not_shipped():
    for helper in ("processes", "pg_local", "nginx_local"):
        assert not (PACKAGE / f"{helper}.py").exists()
        assert (PROJECT_ROOT / "devtools" / f"{helper}.py").is_file()
