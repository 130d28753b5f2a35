"""The window planner in a run (`window.finish_by`; tasks/run/window.py): a forecast before the
run starts, from the rate this machine measured on earlier runs, and again as objects finish,
from the run's own rate. The first forecast that misses the window emits `briefs.run.late`
(an automation can page someone) and logs what would fit; the forecasts and the actual finish
go into the manifest (`window`) and the progress artifact."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger
from prefect.events import emit_event

from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.models.cache import cache_dir
from briefs.tasks.run.window import (
    Forecast,
    forecast,
    keep_rate,
    rate_file,
    read_rate,
    window_end,
    workers_for,
)

LATE_EVENT = "briefs.run.late"
KEPT_FORECASTS = 20  # the manifest keeps the first forecast and the last ones


class WindowWatch:
    """Forecasts one night's run against its window; does nothing without `finish_by`."""

    def __init__(self, settings: BriefsConfig, night: str, total: int, run_id: str,
                 dest: str) -> None:
        finish_by = settings.window.finish_by
        self.end = window_end(finish_by, night, settings.schedule.timezone) if finish_by else None
        self.total, self.run_id, self.dest, self.workers = total, run_id, dest, 1
        self.rate_path = rate_file(cache_dir("rates"), settings.config_hash())
        self.per_worker = read_rate(self.rate_path)
        self.started = time.monotonic()
        self.forecasts: list[Forecast] = []
        self.late_sent = False

    def plan_workers(self, most: int) -> int:
        """The shard runs to keep going at once: the fewest that fit the window at the
        measured rate, at most `most` (scale.max_in_flight); then forecast on them."""
        if self.end is not None:
            self.workers = workers_for(self.total, self.per_worker, datetime.now(UTC),
                                       self.end, most)
        else:
            self.workers = most
        return self.workers

    def start(self) -> None:
        """The forecast before any object is briefed (from the measured rate, if any)."""
        rate = self.per_worker * self.workers if self.per_worker else None
        self._forecast(0, rate)

    def update(self, done: int) -> None:
        """A forecast from the run's own rate, `done` of its objects finished."""
        minutes = (time.monotonic() - self.started) / 60
        self._forecast(done, done / minutes if done and minutes > 0 else None)

    def line(self) -> str | None:
        """The latest forecast in words (for the progress artifact)."""
        return self.forecasts[-1].sentence() if self.forecasts else None

    def record(self) -> dict[str, Any] | None:
        """The manifest's `window`: the deadline, the forecasts and the actual finish."""
        if self.end is None:
            return None
        finished = datetime.now(UTC).astimezone(self.end.tzinfo)
        kept = self.forecasts[:1] + self.forecasts[1:][-(KEPT_FORECASTS - 1):]
        return {"finish_by": self.end.isoformat(timespec="seconds"),
                "finished": finished.isoformat(timespec="seconds"),
                "late_seconds": round(max((finished - self.end).total_seconds(), 0.0), 1),
                "forecasts": [f.record() for f in kept]}

    def keep_rate(self, objects: int, seconds: float) -> None:
        """Fold this run's rate (one worker) into the one kept for the next forecasts."""
        keep_rate(self.rate_path, objects, seconds)

    def _forecast(self, done: int, rate: float | None) -> None:
        if self.end is None:
            return
        made = forecast(datetime.now(UTC), self.end, done, self.total, rate, self.workers)
        self.forecasts.append(made)
        if made.late and not self.late_sent:
            self.late_sent = True
            get_run_logger().warning("window: %s", made.sentence())
            emit_event(event=LATE_EVENT,
                       resource={"prefect.resource.id": f"briefs.run.{self.run_id}",
                                 "prefect.resource.name": self.dest},
                       payload={**made.record(), "message": made.sentence()})
