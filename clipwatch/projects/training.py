"""A project's estimate and its deploy, through `clipwatch.train.train`: the same cross-validation, guard set,
metadata and publishing as `clipwatch train`, and the same history and rollback as every retrain.

Estimate: grouped cross-validation on the project's clips (by the recordings named for them; random
folds, labelled as such, where too few are named), nothing fitted or published.

Deploy: under the retrain lock, the project's table becomes data/ref_data.csv (the one before is
archived, so a rollback brings it back), a version is trained on it alone and published if it beats
chance on its own estimate (under PROMOTION_POLICY=if_better). Feedback rows from before the deploy
named the old actions: the new version's lineage learns only from the rows that come after it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from clipwatch.artifacts import ArtifactStore
from clipwatch.history import RetrainOutcome, append_history, now
from clipwatch.locking import exclusive
from clipwatch.paths import Paths
from clipwatch.projects.store import Project, ProjectError
from clipwatch.quality import headline
from clipwatch.reference import (
    install_reference,
    note_unrecorded,
    reference_files,
    restore_reference,
    summarize,
    table_sha256,
)
from clipwatch.settings import Settings
from clipwatch.stores import open_store
from clipwatch.train import Refused, train

log = logging.getLogger(__name__)


def _snapshot(project: Project, into: Path) -> Path:
    """A copy of the project's table and sidecars, so clips added meanwhile wait for the next run."""
    with project.locked():
        if not project.table.is_file():
            raise ProjectError("the project has no clips yet", 409)
        for f in reference_files(project.table):
            if f.is_file():
                shutil.copy2(f, into / f.name)
    return into / project.table.name


def _checked(table: Path) -> int:
    """The snapshot's clips, after refusing one no model can be trained on."""
    actions = {a["action"]: a["clips"] for a in summarize(table)}
    if len(actions) < 2:
        raise ProjectError("a model needs at least 2 actions; add clips of another one", 409)
    if small := {a: n for a, n in actions.items() if n < 2}:
        raise ProjectError(
            "every action needs at least 2 clips: " + ", ".join(f"{a} ({n})" for a, n in sorted(small.items())), 409
        )
    return sum(actions.values())


def summary_of(metrics: dict) -> dict:
    """What the page shows of a cross-validation: the protocol, the figures, the confusion, calibration."""
    cal = metrics.get("calibration", {})
    return {
        "protocol": metrics["protocol"],
        "evaluation": metrics["evaluation"],
        "folds": metrics["cv_folds"],
        **headline(metrics),
        "per_class_recall": metrics["per_class_recall"],
        "confusion_matrix": metrics["confusion_matrix"],
        "calibration": {k: cal.get(k) for k in ("temperature", "ece", "ece_uncalibrated", "reliability")},
        **({"guard": metrics["guard"]} if "guard" in metrics else {}),
    }


def estimate(s: Settings, paths: Paths, project: Project) -> dict:
    with tempfile.TemporaryDirectory(prefix="clipwatch-estimate-") as tmp:
        table = _snapshot(project, Path(tmp))
        clips = _checked(table)
        _, out = train(s, ref=table, use_prod=False, estimate_only=True)
    return {
        "classes": out["classes"],
        "clips": clips,
        **summary_of(out["metrics"]),
    }


def beats_chance(metrics: dict) -> str | None:
    """The deploy gate: balanced accuracy above chance (1 / actions) on held-out clips, else the reason."""
    chance = 1 / len(metrics["per_class_recall"])
    if metrics["balanced_accuracy"] <= chance:
        return (
            f"balanced accuracy {metrics['balanced_accuracy']:.3f} in {metrics['evaluation']} is no better than "
            f"chance ({chance:.3f}): add clips (from more recordings) before deploying"
        )
    return None


def deploy(s: Settings, paths: Paths, project: Project) -> dict:
    """Train on the project's clips and make it live; the history records it as a run like any retrain."""
    started = time.perf_counter()
    outcome = RetrainOutcome(
        id=uuid.uuid4().hex[:12],
        outcome="failed",
        started_at=now(),
        trigger="project",
        trigger_reason=f"deployed from project {project.name!r}",
        policy=s.promotion_policy,
    )
    with tempfile.TemporaryDirectory(prefix="clipwatch-deploy-") as tmp, exclusive(paths.retrain_lock):
        table = _snapshot(project, Path(tmp))
        _checked(table)
        artifacts = ArtifactStore(paths)
        outcome.champion_version = artifacts.current_name()
        store = open_store(s)
        try:
            n_prod = store.count()
        finally:
            store.close()
        before = table_sha256(paths.ref_data)
        note_unrecorded(paths, {v: artifacts.metadata(v) for v in artifacts.versions()}, before)
        install_reference(paths, table)
        try:
            version, metadata = train(
                s,
                use_prod=False,
                training_extra={"feedback_from": n_prod, "prod_rows_seen": n_prod, "project": project.name},
                accept=beats_chance if s.promotion_policy == "if_better" else None,
            )
        except Refused as exc:
            restore_reference(paths, before)
            outcome.outcome, outcome.reason = "kept", str(exc)
        except Exception as exc:
            restore_reference(paths, before)
            outcome.reason = f"{type(exc).__name__}: {exc}"
            outcome.duration_s = round(time.perf_counter() - started, 3)
            append_history(paths, outcome)
            raise
        else:
            outcome.outcome, outcome.new_version = "promoted", version
            outcome.challenger_f1 = round(metadata["metrics"]["macro_f1"], 4)
            outcome.train_rows = sum(metadata["training"]["class_counts"].values())
        outcome.duration_s = round(time.perf_counter() - started, 3)
        append_history(paths, outcome)
    log.info("project %s: %s %s", project.name, outcome.outcome, outcome.new_version or outcome.reason)
    result = {"outcome": outcome.outcome, "previous_version": outcome.champion_version, "reason": outcome.reason}
    if outcome.new_version:
        result.update(version=outcome.new_version, classes=metadata["classes"], **summary_of(metadata["metrics"]))
    return result


def switch_back(s: Settings, version: str | None) -> dict:
    """Roll back to `version` (default: the one before the live one) with its reference set, as
    `clipwatch rollback` does; run where the artifacts are writable."""
    from clipwatch.live_model import ModelHolder
    from clipwatch.rollback import RollbackRefused, roll_back

    holder = ModelHolder(s)
    holder.reload()
    try:
        before, after = roll_back(holder, version)
    except RollbackRefused as exc:
        raise ProjectError(str(exc), exc.status) from None
    return {"outcome": "rolled back", "previous_version": before, "version": after}
