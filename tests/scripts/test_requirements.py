"""Each image's requirements.txt: its lock (make lock), one pinned package per line, covering what it imports."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from clipwatch.settings import PROJECT_ROOT

COMPONENTS = ("serving", "webapp", "reporting", "export")
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)$")
# Where each image's code starts: its own folder, and for the trainer the clipwatch command it runs.
ENTRY = {
    "serving": ["serving"],
    "webapp": ["webapp"],
    "reporting": ["reporting"],
    "export": ["export", "clipwatch/cli/main.py"],
}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(component: str) -> dict[str, str]:
    out = {}
    for line in (PROJECT_ROOT / component / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            m = PIN.match(line.strip())
            assert m, f"{component}/requirements.txt: {line!r} is not one pinned package"
            out[normalise(m.group(1))] = m.group(2)
    return out


def imported_modules(component: str) -> set[str]:
    """Top-level modules imported by the component's files, following every clipwatch (and local) import,
    lazy ones inside functions included."""
    todo = [
        p
        for e in ENTRY[component]
        for p in ((PROJECT_ROOT / e).rglob("*.py") if (PROJECT_ROOT / e).is_dir() else [PROJECT_ROOT / e])
    ]
    local_dir = PROJECT_ROOT / component
    seen: set[Path] = set()
    found: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text())
        skip = optional(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "clipwatch":
                    base = PROJECT_ROOT / Path(*name.split("."))
                    todo += [p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()]
                elif (local_dir / f"{top}.py").is_file():
                    todo.append(local_dir / f"{top}.py")
                else:
                    found.add(top)
    return found - set(sys.stdlib_module_names) - {"clipwatch", "__future__"}


def optional(tree: ast.Module) -> set[int]:
    """The imports inside `try: ... except ImportError`: a package the code does without when it is absent."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_imported_package_is_pinned_in_the_components_file(component):
    locked = pins(component)
    dists = packages_distributions()
    local = {p.stem for p in (PROJECT_ROOT / component).glob("*.py")} | {"views"}
    missing = {}
    for module in imported_modules(component) - local:
        names = dists.get(module)
        assert names, f"{component}: no installed distribution provides {module!r}"
        if not any(normalise(n) in locked for n in names):
            missing[module] = names
    assert not missing, f"{component}/requirements.txt lacks what its code imports: {missing}"


def test_serving_starts_with_fastapi_and_uvicorn_and_only_the_trainer_has_torch():
    assert list(pins("serving"))[:2] == ["fastapi", "uvicorn"]
    for component in ("serving", "webapp", "reporting"):
        assert "torch" not in pins(component), component
    assert pins("export")["torch"].startswith("2.13.0")  # the locally served CPU build


def test_a_package_shared_by_two_images_has_one_version():
    """The trainer pickles the model the API unpickles: scikit-learn and numpy above all must agree."""
    locks = {c: pins(c) for c in COMPONENTS}
    for package in ("scikit-learn", "numpy", "joblib"):
        assert len({locks[c][package] for c in ("serving", "export", "reporting")}) == 1, package
    for package in set().union(*locks.values()):
        versions = {locks[c][package] for c in COMPONENTS if package in locks[c]}
        assert len(versions) == 1, (package, versions)


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_image_installs_from_its_lock_then_the_package_without_dependencies(component):
    dockerfile = (PROJECT_ROOT / component / "Dockerfile").read_text()
    install = dockerfile.index(f"pip install -r {component}/requirements.txt")
    assert install < dockerfile.index("pip install --no-deps .")
    assert "pip install ." not in dockerfile.replace("pip install --no-deps .", "")


def test_the_web_app_image_carries_neither_the_model_stack_nor_the_cnn_runtime():
    """It is a client of the API: the core dependencies plus Streamlit, nothing that embeds or trains."""
    webapp = pins("webapp")
    for package in ("onnxruntime", "scikit-learn", "scipy", "decord", "matplotlib", "joblib", "torch"):
        assert package not in webapp, package
    for component in ("serving", "reporting", "export"):
        assert {"onnxruntime", "scikit-learn", "joblib"} <= set(pins(component)), component
