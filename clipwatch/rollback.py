"""Make an earlier model version current: `POST /model/rollback` and `clipwatch rollback` share this.

Under the retrain lock, so a retrain finishing meanwhile cannot undo it; the target must load (its
signature, the live backbone, K, sampling, pooling and library versions) before CURRENT moves, and
the reference set it was trained on comes back with it (a project's deploy replaced it).
"""

from __future__ import annotations

import logging
import os

from clipwatch.errors import ArtifactError, ClipwatchError, DatasetError
from clipwatch.live_model import ModelHolder
from clipwatch.locking import Busy, exclusive
from clipwatch.reference import reference_of, restore_reference

log = logging.getLogger(__name__)

WAIT_S = 10.0
ELSEWHERE = (
    "this API's artifacts are read-only (the trainer publishes models): roll back where the trainer runs with "
    "`clipwatch rollback [VERSION]` (Compose: `docker compose exec trainer clipwatch rollback`; Kubernetes: "
    "`kubectl -n clipwatch exec deploy/trainer -- clipwatch rollback`)"
)


class RollbackRefused(ClipwatchError):
    """Why a rollback did not happen, with the HTTP status the API answers it with."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def roll_back(holder: ModelHolder, target: str | None = None, wait_s: float | None = None) -> tuple[str, str]:
    """Make `target` (default: the version before the live one) current; (from, to)."""
    paths, store = holder.paths, holder.store
    wait_s = WAIT_S if wait_s is None else wait_s
    if not os.access(paths.artifacts_dir, os.W_OK):
        raise RollbackRefused(ELSEWHERE, 409)
    live_predictor = holder.predictor
    if live_predictor is None:
        raise RollbackRefused("no model is live to roll back from", 503)
    try:
        with exclusive(paths.retrain_lock, wait_s=wait_s):
            versions = store.versions()
            live = live_predictor.version.name
            if target is None:
                older = [v for v in versions if v < live]
                if not older:
                    raise RollbackRefused(f"no version before {live} to roll back to", 404)
                target = older[-1]
            if target not in versions:
                raise RollbackRefused(f"no model version {target!r}; versions: {', '.join(versions)}", 404)
            live_backbone = live_predictor.embedder.backbone.sha256
            if store.metadata(target).get("backbone", {}).get("sha256", live_backbone) != live_backbone:
                # Its vectors live in the tables archived with its backbone: moving CURRENT alone would
                # leave ref_data and prod_data on the other one.
                raise RollbackRefused(
                    f"cannot roll back to {target}: it uses another backbone (a fine-tune lies between); "
                    "run `clipwatch finetune --rollback`, which restores that backbone with its tables",
                    409,
                )
            try:
                holder.load(target)
            except ArtifactError as exc:
                raise RollbackRefused(f"cannot roll back to {target}: {exc}", 409) from exc
            try:
                # Its reference set too: the next retrain on it learns its actions, not the ones rolled back from.
                restored = restore_reference(paths, reference_of(paths, target, store.metadata(target)))
            except DatasetError as exc:
                raise RollbackRefused(f"cannot roll back to {target}: {exc}", 409) from exc
            store.promote(target)
            holder.reload()
            if restored:
                log.warning("restored the reference set %s was trained on", target)
    except Busy:
        raise RollbackRefused(
            f"a retrain is running; roll back once it has finished (waited {wait_s:.0f} s)", 409
        ) from None
    log.warning("rolled back from %s to %s", live, target)
    return live, target
