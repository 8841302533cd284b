"""The feedback-to-retrain loop, in one place: a row was appended -> is a retrain due -> queue it ->
run it under the lock -> publish -> notify.

A retrain is due each time the feedback count crosses a multiple of k. Triggers coalesce: one worker
thread runs them, and while it runs, at most one more waits, for the newest trigger (a run trains on
every row there is, so the one that waits covers all the triggers before it). A file lock keeps it
to one run at a time across every process sharing the artifacts directory. A process killed while a retrain was
queued or running loses it: `recover` finds that missed trigger at start-up from the history, and a
trigger that already has its run (several processes found the same one) is skipped under the lock.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from clipwatch.history import RetrainOutcome, append_history, now, read_history
from clipwatch.locking import exclusive
from clipwatch.paths import Paths
from clipwatch.retrain import challenge
from clipwatch.settings import Settings, get_settings
from clipwatch.triggers import Trigger, answered, due, latest_report, rows_trigger, seconds_since_last_retrain

log = logging.getLogger(__name__)


def retrain_due(rows_before: int, rows: int, k: int) -> bool:
    """Whether appending took the feedback count across a multiple of k (k=0: never)."""
    return bool(k) and rows // k > rows_before // k


def missed_trigger(paths: Paths, rows: int, k: int) -> int | None:
    """The last multiple of k the feedback count has reached if no retrain ran for it (a crash lost it)."""
    if not k or rows < k:
        return None
    boundary = rows // k * k
    answered = max((e.get("trigger_rows") or 0 for e in read_history(paths)), default=0)
    return boundary if boundary > answered else None


def retrain(
    settings: Settings | None = None, *, trigger_rows: int | None = None, trigger: Trigger | None = None
) -> RetrainOutcome:
    """One champion/challenger run under the lock, recorded in the history (`clipwatch retrain`, the worker).

    trigger: what started it (clipwatch.triggers); trigger_rows alone means the rows trigger at that count,
    neither means by hand."""
    s = settings or get_settings()
    paths = Paths.from_settings(s)
    if trigger is None:
        trigger = (
            rows_trigger(trigger_rows, s.retrain_every_k)
            if trigger_rows is not None
            else Trigger("manual", "run by hand (clipwatch retrain)")
        )
    with exclusive(paths.retrain_lock):
        if answered(trigger, read_history(paths)):
            # Several processes saw the same trigger (a missed one at start-up, one drift episode); the first ran it.
            return RetrainOutcome(
                uuid.uuid4().hex[:12],
                "skipped",
                now(),
                trigger_rows=trigger.rows,
                trigger=trigger.kind,
                trigger_keys=trigger.keys,
                reason=f"{trigger.reason}: already had its retrain",
            )
        outcome = challenge(s, paths, trigger)
        append_history(paths, outcome)
        return outcome


class RetrainLoop:
    """Owns the loop inside a serving process: routes report appended rows, on_outcome hears of each run."""

    def __init__(self, settings: Settings, on_outcome: Callable[[RetrainOutcome], None] | None = None):
        self.settings = settings
        self.paths = Paths.from_settings(settings)
        self._wake = threading.Condition()
        self._next: Trigger | None = None  # the trigger waiting for its run
        self._rows: int | None = None  # feedback rows this process last saw (appended, or at start-up)
        self._checked_rows: int | None = None  # ... when the performance trigger last looked
        self._stopping = False
        self._on_outcome = on_outcome
        self.running = False
        self.last: RetrainOutcome | None = None
        self.completed = 0
        self.coalesced = 0
        self._thread = threading.Thread(target=self._work, name="retrain-worker", daemon=True)
        self._thread.start()

    @property
    def every_k(self) -> int:
        return self.settings.retrain_every_k

    @property
    def pending(self) -> int:
        return int(self._next is not None)

    @property
    def counts_rows(self) -> bool:
        return "rows" in self.settings.retrain_triggers and bool(self.every_k)

    def _queue(self, trigger: Trigger) -> None:
        with self._wake:
            if self._next is not None:
                self.coalesced += 1
                trigger = self._next.merge(trigger)
            self._next = trigger
            self._wake.notify()

    def rows_appended(self, rows_before: int, rows: int) -> bool:
        """Queue a retrain if these rows crossed a multiple of k; True when one was queued."""
        self._rows = rows
        fire = self.counts_rows and retrain_due(rows_before, rows, self.every_k)
        if fire:
            self._queue(rows_trigger(rows, self.every_k))
        return fire

    def recover(self, rows: int) -> int | None:
        """At start-up: queue the retrain a killed process never finished, if any."""
        self._rows = rows
        missed = missed_trigger(self.paths, rows, self.every_k) if self.counts_rows else None
        if missed:
            log.warning("the retrain for feedback row %d never finished; running it now", missed)
            self._queue(rows_trigger(missed, self.every_k))
        return missed

    def poll(self, rows: int) -> int | None:
        """The trainer's look at the feedback count: queue the retrain for the last multiple of k it
        reached, unless one is queued or running, or the history shows it ran. Returns that count."""
        with self._wake:
            self._rows = rows
            if not self.counts_rows or self._next is not None or self.running:
                return None
            boundary = missed_trigger(self.paths, rows, self.every_k)
            if boundary:
                self._next = rows_trigger(boundary, self.every_k)
                self._wake.notify()
            return boundary

    def check_triggers(self) -> Trigger | None:
        """Queue a drift or performance retrain if one is due now (the worker calls it periodically)."""
        if not set(self.settings.retrain_triggers) & {"drift", "performance"} or self._next is not None:
            return None
        rows = self._rows or 0
        history = read_history(self.paths)
        since = seconds_since_last_retrain(history)
        if since is not None and since < self.settings.retrain_min_interval_s:
            return None  # too soon after the last retrain; look again at the next check
        latest = latest_report(self.paths)
        s = self.settings
        if rows == self._checked_rows:  # no new feedback since F1 was last scored: only drift can have changed
            s = s.model_copy(update={"retrain_triggers": [t for t in s.retrain_triggers if t != "performance"]})
        trigger = due(s, self.paths, rows, history, latest)
        self._checked_rows = rows
        if trigger is not None:
            log.warning("retrain triggered by %s: %s", trigger.kind, trigger.reason)
            self._queue(trigger)
        return trigger

    def state(self) -> dict:
        return {
            "running": self.running,
            "pending": self.pending,
            "completed": self.completed,
            "last": self.last.as_dict() if self.last else None,
        }

    def history(self, limit: int | None = None) -> list[dict]:
        return read_history(self.paths, limit)

    def _work(self) -> None:
        checks = bool(set(self.settings.retrain_triggers) & {"drift", "performance"})
        while True:
            with self._wake:
                while self._next is None and not self._stopping:
                    if not self._wake.wait(self.settings.trigger_check_s if checks else None):
                        break  # time to look at the drift and performance triggers
                if self._next is None and self._stopping:
                    return
            if self._next is None:
                try:
                    self.check_triggers()
                except Exception:
                    log.exception("checking the retrain triggers")
                continue
            with self._wake:
                trigger, self._next = self._next, None
                self.running = True
            try:
                self.last = retrain(self.settings, trigger=trigger)
                if self._on_outcome:
                    self._on_outcome(self.last)
            except Exception:
                log.exception("retrain worker")
            finally:
                self.running = False
                self.completed += 1

    def stop(self, timeout: float = 0) -> None:
        """Let the waiting trigger (if any) run, then end the worker; timeout: wait that long for it."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if timeout:
            self._thread.join(timeout)


class ExternalTrainer:
    """The API's side of the loop when `clipwatch trainer` runs the retrains (CLIPWATCH_TRAINER=external):
    it only says whether an append crossed a multiple of k, and reads the history the trainer writes."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.paths = Paths.from_settings(settings)

    @property
    def every_k(self) -> int:
        return self.settings.retrain_every_k

    def rows_appended(self, rows_before: int, rows: int) -> bool:
        return "rows" in self.settings.retrain_triggers and retrain_due(rows_before, rows, self.every_k)

    def recover(self, rows: int) -> None:
        return None  # the trainer finds missed triggers itself

    def state(self) -> dict:
        last = read_history(self.paths, 1)
        return {"running": False, "pending": 0, "completed": 0, "last": last[-1] if last else None}

    def history(self, limit: int | None = None) -> list[dict]:
        return read_history(self.paths, limit)

    def stop(self, timeout: float = 0) -> None:
        pass
