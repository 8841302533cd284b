"""pip-audit over each image's requirements: known vulnerabilities, and what could not be checked.

A vulnerability we have looked at and accepted goes in EXPLAINED with the reason; anything else fails
the run, and so does a package the vulnerability service could not be asked about (no network to
pypi.org's per-release JSON or to OSV is a failure to audit, not a clean result).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ("serving", "webapp", "reporting", "export")
EXPLAINED: dict[str, str] = {}  # vulnerability id -> why it does not affect clipwatch


def audit(component: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "pip_audit", "-r", f"{component}/requirements.txt", "-f", "json", "-o", out.name]
        cmd += ["--no-deps", "--progress-spinner", "off", "--desc", "off"]  # a lock: every package is pinned
        for vid in EXPLAINED:
            cmd += ["--ignore-vuln", vid]
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        try:
            deps = json.loads(Path(out.name).read_text() or "{}").get("dependencies", [])
        except json.JSONDecodeError:
            deps = []
    if not deps:
        return {"error": (res.stderr.strip().splitlines() or ["pip-audit produced no report"])[-1]}
    vulns = [{"package": d["name"], "version": d["version"], **v} for d in deps for v in d.get("vulns", [])]
    return {
        "packages": len(deps),
        "not_audited": sorted(d["name"] for d in deps if "skip_reason" in d and d["name"] != "clipwatch"),
        "vulnerabilities": vulns,
        "unexplained": [v for v in vulns if v["id"] not in EXPLAINED],
    }


def main() -> None:
    report = {c: audit(c) for c in COMPONENTS}
    out = ROOT / "build" / "audit.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"explained": EXPLAINED, "components": report}, indent=2) + "\n")
    print(f"{'image':10} {'packages':>8} {'not audited':>11} {'vulns':>5} {'unexplained':>11}")
    failed = False
    for c, r in report.items():
        if "error" in r:
            print(f"{c:10} pip-audit failed: {r['error']}")
            failed = True
            continue
        print(
            f"{c:10} {r['packages']:8d} {len(r['not_audited']):11d} {len(r['vulnerabilities']):5d} "
            f"{len(r['unexplained']):11d}"
        )
        failed |= bool(r["not_audited"] or r["unexplained"])
    if any(r.get("not_audited") for r in report.values()):
        print("some packages could not be checked: is the vulnerability service (pypi.org or OSV) reachable?")
    print(f"wrote {out.relative_to(ROOT)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
