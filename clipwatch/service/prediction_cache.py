"""Recent predictions by id, in memory in front of the feedback store's prediction log."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from clipwatch.stores import PREDICTION_ID, CachedPrediction


class PredictionCache:
    """Recent predictions by id: a bounded in-memory LRU in front of the store's prediction log (the
    data volume's folder, or PostgreSQL), which lets feedback for a prediction made by another worker
    or replica find its vector, for CLIPWATCH_PREDICTION_TTL_S."""

    def __init__(self, backing, max_items: int, ttl_s: float):
        self.backing = backing
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._mem: OrderedDict[str, CachedPrediction] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, pid: str, item: CachedPrediction) -> None:
        with self._lock:
            self._mem[pid] = item
            self._mem.move_to_end(pid)
            while len(self._mem) > self.max_items:
                self._mem.popitem(last=False)
        self.backing.log_prediction(pid, item)

    def get(self, pid: str) -> CachedPrediction | None:
        if not PREDICTION_ID.match(pid):
            return None
        with self._lock:
            item = self._mem.get(pid)
        if item is None:
            item = self.backing.find_prediction(pid)
        if item is None or time.time() - item.created > self.ttl_s:
            return None
        return item
