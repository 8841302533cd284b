"""Does retraining recover from a shift? Shifted feedback through the real loop, under the default gate.

Renders three sets from ranges of the embedded dataset that never meet: held-back plain clips and
held-back shifted clips (`--shift`: darker, colour-cast, noisier, softer), never fed back, and shifted
traffic. The traffic's vectors go into a private copy's feedback store k rows at a time, each k
followed by the real champion/challenger retrain (`clipwatch.loop.retrain`, PROMOTION_POLICY=if_better,
the guard set on). After each retrain the live model is scored on both held-back sets, beside the
"ceiling": the classifier fitted on the reference set plus every shifted row so far, with no gate at all.
When the loop tracks the ceiling, what is left of the drop is what that much feedback can teach, not
the loop. Writes benchmarks/results/recovery.json. Run: make bench
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import private_copy, table, write_results

from clipwatch import classifiers
from clipwatch.artifacts import ArtifactStore
from clipwatch.client.simulate import EVAL_START, HELD_ASIDE_START, traffic_clips
from clipwatch.dataset import embed_many, read_embeddings
from clipwatch.embedding import ClipEmbedder
from clipwatch.loop import retrain
from clipwatch.paths import Paths
from clipwatch.settings import get_settings
from clipwatch.stores import FeedbackRow, open_store
from clipwatch.synth.actions import ACTIONS


def embedded(embedder: ClipEmbedder, clips: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(v, p.parent.name) for p, v, _ in embed_many(embedder, clips) if v is not None]
    return np.array([v for v, _ in pairs]), np.array([y for _, y in pairs])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held-back", type=int, default=120, help="clips per held-back set")
    ap.add_argument("--traffic", type=int, default=180, help="shifted feedback rows")
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    base = get_settings()
    tmp = Path(tempfile.mkdtemp(prefix="clipwatch-bench-recovery-"))
    classes = sorted(ACTIONS)
    embedder = ClipEmbedder.from_settings(base)
    sets = {
        "plain": embedded(
            embedder, traffic_clips(tmp / "plain", classes, args.held_back, shift=False, seed=0, start=EVAL_START)
        ),
        "shifted": embedded(
            embedder, traffic_clips(tmp / "shifted", classes, args.held_back, shift=True, seed=0, start=EVAL_START)
        ),
    }
    X_t, y_t = embedded(
        embedder, traffic_clips(tmp / "traffic", classes, args.traffic, shift=True, seed=0, start=HELD_ASIDE_START)
    )

    s = private_copy(tmp / "copy", base, promotion_policy="if_better", retrain_every_k=args.k)
    paths = Paths.from_settings(s)
    X_ref, y_ref, _ = read_embeddings(paths.ref_data)
    store = open_store(s)
    store.bind(embedder.dim, embedder.contract())

    def scores(model) -> dict:
        return {name: round(float((model.predict(X) == y).mean()), 4) for name, (X, y) in sets.items()}

    def ceiling(n: int) -> float:
        model = classifiers.from_settings(s).fit(np.vstack([X_ref, X_t[:n]]), np.concatenate([y_ref, y_t[:n]]))
        return scores(model)["shifted"]

    live = ArtifactStore(paths).load()
    rows = [{"rows": 0, "outcome": "", "version": live.name, **scores(live.model), "ceiling_shifted": ceiling(0)}]
    for start in range(0, len(y_t), args.k):
        end = min(start + args.k, len(y_t))
        store.append([FeedbackRow(X_t[i], str(y_t[i]), "", f"{i:032x}", live.name, 0.5) for i in range(start, end)])
        outcome = retrain(s, trigger_rows=end)
        live = ArtifactStore(paths).load()
        rows.append(
            {
                "rows": end,
                "outcome": outcome.outcome,
                "version": live.name,
                **scores(live.model),
                "ceiling_shifted": ceiling(end),
            }
        )
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(table(rows, ["rows", "outcome", "version", "plain", "shifted", "ceiling_shifted"]))
    first, last = rows[0], rows[-1]
    print(
        f"held-back shifted clips: {first['shifted']:.3f} -> {last['shifted']:.3f} after {last['rows']} shifted "
        f"feedback rows under if_better (ceiling {last['ceiling_shifted']:.3f}); plain clips "
        f"{first['plain']:.3f} -> {last['plain']:.3f}"
    )
    write_results(
        "recovery",
        {
            "protocol": f"{args.held_back} held-back plain and {args.held_back} held-back shifted rendered clips, "
            "never fed back; shifted traffic from another range, k rows per retrain",
            "k": args.k,
            "policy": "if_better",
            "steps": rows,
        },
    )


if __name__ == "__main__":
    main()
