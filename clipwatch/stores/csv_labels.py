"""How many feedback rows name each action, counted in prod_data.csv from where the last count ended.

The Model page lists actions that so far exist only in feedback; a file of 100k rows is read once, then
only what was appended since. Rows are single lines (nothing written after the vector can hold a
newline), so a row's target is the first cell after its vector.
"""

from __future__ import annotations

import csv
from array import array
from pathlib import Path

import numpy as np

from clipwatch.dataset import TARGET, restore_cell


class LabelCounter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        # Bytes counted, the header's target index, each action's index, and each row's action index in order.
        self._seen: tuple[int, int, dict[str, int], array] | None = None

    def counts(self, start: int = 0) -> dict[str, int]:
        """Rows per action among those at positions start.. (a deployed project's lineage starts later)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return {}
        if self._seen and self._seen[0] <= size:
            begin, index, names, rows = self._seen[0], self._seen[1], dict(self._seen[2]), self._seen[3]
        else:
            begin, index, names, rows = 0, -1, {}, array("I")
        fresh = array("I")  # this read's rows, added to the kept ones only once the read has finished
        with open(self.path, "rb") as fh:
            fh.seek(begin)
            if begin == 0:
                header = next(csv.reader([fh.readline().decode("utf-8", "replace")]), [])
                if TARGET not in header:
                    return {}
                index = header.index(TARGET)
            done = fh.tell()
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # a row still being written: counted next time
                rest = line.split(b",", index)[-1].decode("utf-8", "replace")
                fresh.append(names.setdefault(restore_cell(next(csv.reader([rest]))[0]), len(names)))
                done += len(line)
        rows.extend(fresh)
        self._seen = (done, index, names, rows)
        tally = np.bincount(np.frombuffer(rows, dtype=np.uint32)[max(0, start) :], minlength=len(names))
        return {name: int(tally[i]) for name, i in names.items() if tally[i]}
