"""The model store: numbered version directories, an atomic CURRENT pointer, seed-style copies.

artifacts/
  backbone.onnx, backbone.json     exported once, shared by every version
  versions/v0001/                  model.pkl, metadata.json, confusion_matrix.png, reliability.png,
                                   novelty.npz
  CURRENT                          "v0001", replaced atomically
  model.pkl, metadata.json, ...    copies of the current version (the seed's layout)

A version directory is complete before it gets its name (written under a
temporary name, fsynced, renamed), and CURRENT only ever names complete
versions, so a crash at any point leaves the previous version serving.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from clipwatch import signing
from clipwatch.errors import ArtifactError
from clipwatch.novelty import NOVELTY_FILE, Novelty
from clipwatch.paths import METADATA_FILE, MODEL_FILE, VERSION_FILES, Paths


@dataclass
class ModelVersion:
    name: str
    model: Any
    metadata: dict
    novelty: Novelty | None = None  # how far a clip lies from this version's training clips (older: None)

    @property
    def temperature(self) -> float:
        """The calibration temperature of this version's probabilities (1: uncalibrated, older versions)."""
        return float(self.metadata.get("metrics", {}).get("calibration", {}).get("temperature", 1.0))

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


class ArtifactStore:
    def __init__(self, paths: Paths):
        self.paths = paths

    def _key(self, create: bool = False) -> bytes | None:
        key = signing.model_key(self.paths, create=create)
        if key is None and create:
            raise ArtifactError(f"no model key in {self.paths.secrets} to sign with")
        return key

    def sign_unsigned(self) -> list[str]:
        """Sign every version that has no signature yet (an install from before signing); their names."""
        key = self._key(create=True)
        done = []
        for name in self.versions():
            vdir = self.paths.version_dir(name)
            if not (vdir / signing.SIGNATURE_FILE).is_file() and all((vdir / f).is_file() for f in signing.SIGNED):
                signing.sign(key, vdir)
                done.append(name)
        return done

    def versions(self) -> list[str]:
        root = self.paths.versions
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("v") and p.name[1:].isdigit())

    def current_name(self) -> str | None:
        try:
            name = self.paths.current_pointer.read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def publish(self, model: Any, metadata: dict, extra_files: dict[str, Path] | None = None) -> str:
        """Write a new version and make it current. Returns its name (v0001, ...)."""
        self.paths.versions.mkdir(parents=True, exist_ok=True)
        existing = self.versions()
        name = f"v{(int(existing[-1][1:]) + 1) if existing else 1:04d}"
        metadata = {**metadata, "version": name}
        tmp = Path(tempfile.mkdtemp(dir=self.paths.versions, prefix=f".{name}."))
        try:
            joblib.dump(model, tmp / MODEL_FILE)
            (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
            signing.sign(self._key(create=True), tmp)
            for dest, src in (extra_files or {}).items():
                shutil.copyfile(src, tmp / dest)
            for f in tmp.iterdir():
                with open(f, "rb+") as fh:
                    os.fsync(fh.fileno())
            os.rename(tmp, self.paths.version_dir(name))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_dir(self.paths.versions)
        self.promote(name)
        return name

    def promote(self, name: str) -> None:
        """Point CURRENT at a complete version and refresh the seed-layout copies."""
        src = self.paths.version_dir(name)
        if not (src / MODEL_FILE).is_file() or not (src / METADATA_FILE).is_file():
            raise ArtifactError(f"version {name} is incomplete or missing")
        atomic_write_bytes(self.paths.current_pointer, f"{name}\n".encode())
        for f in VERSION_FILES:
            if (src / f).is_file():
                atomic_write_bytes(self.paths.seed_copy(f), (src / f).read_bytes())

    def load(self, name: str | None = None) -> ModelVersion:
        name = name or self.current_name()
        if name is None:
            raise ArtifactError(
                f"no trained model in {self.paths.artifacts_dir}: run `clipwatch train` (or `make run`) first"
            )
        vdir = self.paths.version_dir(name)
        try:
            signing.verify(self._key(), vdir, name)  # before anything of it is parsed or unpickled
            metadata = json.loads((vdir / METADATA_FILE).read_text())
            if not isinstance(metadata, dict) or not isinstance(metadata.get("classes"), list):
                raise ValueError("metadata.json has no list of classes")
            check_libraries(metadata)  # before unpickling anything another version wrote
            model = joblib.load(vdir / MODEL_FILE)
            novelty = Novelty.load(vdir / NOVELTY_FILE) if (vdir / NOVELTY_FILE).is_file() else None
        except ArtifactError:
            raise
        except FileNotFoundError as exc:
            raise ArtifactError(f"model version {name} is incomplete: {Path(exc.filename).name} missing") from exc
        except Exception as exc:  # corrupt JSON, a truncated pickle, anything unpickling can raise
            raise ArtifactError(f"model version {name} cannot be loaded: {type(exc).__name__}: {exc}"[:300]) from exc
        return ModelVersion(name, model, metadata, novelty)

    def signature(self, name: str) -> tuple:
        """Changes whenever the version's files do: a version that failed to load is retried only then."""
        vdir = self.paths.version_dir(name)
        stats = []
        for f in (MODEL_FILE, METADATA_FILE, signing.SIGNATURE_FILE):
            try:
                st = (vdir / f).stat()
                stats.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stats.append(None)
        return (name, *stats)

    def summaries(self) -> list[dict]:
        """One line per version, oldest first: when, how good, how measured."""
        out = []
        for name in self.versions():
            try:
                meta = self.metadata(name)
            except (OSError, ValueError):
                continue
            m = meta.get("metrics", {})
            out.append(
                {
                    "version": name,
                    "created_at": meta.get("created_at"),
                    "macro_f1": m.get("macro_f1"),
                    "guard_f1": m.get("guard", {}).get("macro_f1"),
                    "accuracy": m.get("accuracy"),
                    "evaluation": m.get("evaluation"),
                    "parent": meta.get("training", {}).get("parent_version"),
                    "rows_prod": meta.get("training", {}).get("rows_prod", 0),
                }
            )
        return out

    def metadata(self, name: str) -> dict:
        return json.loads((self.paths.version_dir(name) / METADATA_FILE).read_text())


def library_versions() -> dict[str, str]:
    """The versions a pickled model depends on, as metadata.json records them."""
    import numpy
    import sklearn

    return {"sklearn": sklearn.__version__, "numpy": numpy.__version__}


def check_libraries(metadata: dict) -> None:
    """Refuse a model pickled by another scikit-learn minor or numpy major version: unpickling it
    may fail, or worse, load and predict differently."""
    recorded = metadata.get("versions", {})
    here = library_versions()
    problems = []
    for lib, parts in (("sklearn", 2), ("numpy", 1)):
        theirs = recorded.get(lib)
        if theirs and theirs.split(".")[:parts] != here[lib].split(".")[:parts]:
            problems.append(f"{lib} {theirs} (this process has {here[lib]})")
    if problems:
        raise ArtifactError(
            f"model {metadata.get('version', '?')} was built with {', '.join(problems)}: "
            "retrain it with `clipwatch train`, or install the versions it was built with"
        )


def check_compatible(metadata: dict, contract: dict) -> None:
    """Refuse a model trained on embeddings the running embedder (its ClipEmbedder.contract()) would not produce."""
    from clipwatch.contract import REBUILD, from_metadata, mismatches

    problems = mismatches(from_metadata(metadata), contract)
    if problems:
        raise ArtifactError(
            f"model {metadata.get('version', '?')} does not match this embedder: {'; '.join(problems)}: {REBUILD}"
        )
