"""How many feedback rows name each action, counted in prod_data.csv from where the last count ended.

The Model page lists actions that so far exist only in feedback; a file of 100k rows is read once, then
only what was appended since. Rows are single lines (nothing written after the vector can hold a
newline), so a row's target is the first cell after its vector.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from clipwatch.dataset import TARGET, restore_cell


class LabelCounter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._seen: tuple[int, int, Counter] | None = None  # (bytes counted, the header's target index, counts)

    def counts(self) -> dict[str, int]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return {}
        start, index, counts = self._seen if self._seen and self._seen[0] <= size else (0, -1, Counter())
        counts = Counter(counts)
        with open(self.path, "rb") as fh:
            fh.seek(start)
            if start == 0:
                header = next(csv.reader([fh.readline().decode("utf-8", "replace")]), [])
                if TARGET not in header:
                    return {}
                index = header.index(TARGET)
            done = fh.tell()
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # a row still being written: counted next time
                rest = line.split(b",", index)[-1].decode("utf-8", "replace")
                counts[restore_cell(next(csv.reader([rest]))[0])] += 1
                done += len(line)
        self._seen = (done, index, counts)
        return dict(counts)
