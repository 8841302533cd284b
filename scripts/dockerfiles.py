"""`make dockerfiles`: write each component's Dockerfile from the one multi-stage Dockerfile at the root.

The seed's layout asks for `serving/Dockerfile`, `webapp/Dockerfile`, `reporting/Dockerfile` and
`export/Dockerfile`, each building its image on its own (`docker build -f serving/Dockerfile .`). Each is
the root file's base stage plus that component's stage, so none of them is ever edited by hand and the
base layers are written once. `--check` exits 1 when one is out of date (the tests run the same check).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = {"serving": "serving", "webapp": "webapp", "reporting": "reporting", "bootstrap": "export"}
STAGE = re.compile(r"^FROM \S+ AS (\w+)$", re.MULTILINE)


def stages(text: str) -> dict[str, str]:
    """Stage name -> its paragraph (the comment lines above FROM included)."""
    out = {}
    for block in text.strip().split("\n\n"):
        m = STAGE.search(block)
        if m:
            out[m.group(1)] = block.strip()
    return out


def render(target: str, text: str | None = None) -> str:
    found = stages(text if text is not None else (ROOT / "Dockerfile").read_text())
    folder = FOLDER[target]
    return (
        "\n\n".join(
            [
                f"# Written by `make dockerfiles` from the repository's Dockerfile (its base and {target} stages):\n"
                "# edit that file, not this one. Build from the repository root:\n"
                f"#   docker build -f {folder}/Dockerfile -t clipwatch-{target} .",
                found["base"],
                found[target],
            ]
        )
        + "\n"
    )


def main() -> int:
    stale = []
    for target, folder in FOLDER.items():
        path = ROOT / folder / "Dockerfile"
        want = render(target)
        if "--check" in sys.argv:
            if not path.is_file() or path.read_text() != want:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(want)
            print(f"{path.relative_to(ROOT)}: base + {target}")
    if stale:
        print(f"out of date (run make dockerfiles): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
