"""Schema fuzzing with schemathesis, and the hostile corpus, against a live server.

`make fuzz` runs this module: a few hundred generated requests per endpoint plus every hostile
file, figures written to benchmarks/results/fuzz.json. The fast tier runs the same code with
fewer examples (tests/reliability/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.failures import FailureGroup

from clipwatch.paths import Paths
from clipwatch.settings import PROJECT_ROOT, Settings
from devtools.sandbox import private_copy
from tests.reliability.corpus import Case, build, judge

KEY = "fuzz-key"
# A schema cannot say "a decodable video", so schema-valid uploads of random bytes are rightly refused
# (422); every other check runs: no 5xx, status codes, content types and bodies as the schema says.
EXCLUDED = [positive_data_acceptance]


def fuzz_schema(url: str, examples: int, key: str | None = KEY) -> dict:
    """Fuzz every operation; returns per-operation counts of requests and failures (failures listed)."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    tried: Counter[str] = Counter()
    failed: dict[str, list[str]] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        fuzz_operation(op, url, examples, headers, tried, failed)
    return {
        label: {"requests": n, "failed": len(failed.get(label, [])), "failures": failed.get(label, [])[:5]}
        for label, n in sorted(tried.items())
    }


def fuzz_operation(op, url: str, examples: int, headers: dict, tried: Counter, failed: dict) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def run(case):
        tried[op.label] += 1
        try:
            case.call_and_validate(base_url=url, headers=headers, excluded_checks=EXCLUDED, timeout=60)
        except (Exception, FailureGroup) as exc:  # record and go on: the report counts every failure
            failed.setdefault(op.label, []).append(" ".join(str(exc).split())[:400])

    run()


def hostile(url: str, cases: list[Case], good_label: str, key: str | None = KEY) -> list[dict]:
    """Every hostile file against a live server; one row of figures each."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url, timeout=120, headers=headers) as c:
        return [judge(c, case, good_label) for case in cases]


def main() -> None:
    from tests.service.conftest import LiveServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="generated requests per endpoint")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "fuzz.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clipwatch-fuzz-") as tmp:
        root = Path(tmp)
        s = private_copy(root)
        server = LiveServer(s, env={"CLIPWATCH_API_KEY": KEY}).start()
        try:
            t0 = time.perf_counter()
            ops = fuzz_schema(server.url, args.examples)
            fuzz_s = time.perf_counter() - t0
            good = sorted((Paths.from_settings(Settings()).videos / "walk").glob("*.mp4"))[0]
            cases = build(good, root / "hostile")
            label = httpx.post(
                f"{server.url}/predict", files={"file": ("g.mp4", good.read_bytes())}, timeout=60
            ).json()["label"]
            rows = hostile(server.url, cases, label)
            leftovers = [p.name for p in (root / "uploads").rglob("*") if p.is_file()]
            rows_written = Paths.from_settings(s).prod_data.exists()
            alive = server.proc.poll() is None
            log = server.log.read_text()
        finally:
            server.stop()
    report = {
        "schema_fuzzing": {
            "examples_per_endpoint": args.examples,
            "seconds": round(fuzz_s, 1),
            "requests": sum(o["requests"] for o in ops.values()),
            "failed": sum(o["failed"] for o in ops.values()),
            "operations": ops,
        },
        "hostile_corpus": {
            "kinds": len(rows),
            "failed": sum(bool(r["problems"]) for r in rows),
            "temp_files_left": leftovers,
            "feedback_rows_written": rows_written,
            "cases": rows,
        },
        "server_survived": alive,
        "server_tracebacks": log.count("Traceback"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'operation':28} {'requests':>8} {'failed':>6}")
    for label, o in ops.items():
        print(f"{label:28} {o['requests']:8d} {o['failed']:6d}")
    print(f"\n{'hostile file':40} {'status':>6} {'seconds':>8}  ok")
    for r in rows:
        print(f"{r['kind']:40} {r['status']:6d} {r['seconds']:8.2f}  {'; '.join(r['problems']) or 'yes'}")
    bad = report["schema_fuzzing"]["failed"] + report["hostile_corpus"]["failed"] + len(leftovers)
    print(f"\nwrote {args.out}; {bad} problem(s)")
    sys.exit(1 if bad or rows_written or not alive else 0)


if __name__ == "__main__":
    main()
