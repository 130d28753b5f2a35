"""The window planner in a run (`window.finish_by`; tasks/run/window.py): a forecast before the
run starts, from the rate this machine measured on earlier runs, and again as objects finish,
from the run's own rate. The first forecast that misses the window emits `briefs.run.late`
(an automation can page someone) and logs what would fit; the forecasts and the actual finish
go into the manifest (`window`) and the progress artifact."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
SURE_SHARE = 0.1  # a run's own rate is trusted for the alert once this share is done
RATE_SETTINGS = ("models", "generation", "batching", "runtime", "sources", "languages")


def rate_path(settings: BriefsConfig) -> Path:
    """Where the rate for these settings is kept: by what costs time (the models, their
    lengths, batching, the engine, the languages), not by where a run writes or who hears."""
    what = json.dumps(settings.model_dump(mode="json", include=set(RATE_SETTINGS)),
                      sort_keys=True)
    return rate_file(cache_dir("rates"), hashlib.sha256(what.encode()).hexdigest()[:16])


def keep_run_rate(settings: BriefsConfig, briefed: int, seconds: float) -> None:
    """Fold the rate of one worker that generated `briefed` briefs in `seconds` (reused
    ones cost nothing and are not counted) into the kept one."""
    if briefed:
        keep_rate(rate_path(settings), briefed, seconds)


class WindowWatch:
    """Forecasts one night's run against its window. It does nothing without `finish_by`,
    for a partial run (chosen articles, late arrivals), or for a run started a day or more
    after its window closed (a re-run of an old night)."""

    def __init__(self, settings: BriefsConfig, night: str, total: int, run_id: str,
                 dest: str, whole_night: bool = True) -> None:
        finish_by = settings.window.finish_by
        self.end = window_end(finish_by, night, settings.schedule.timezone) if finish_by else None
        if self.end is not None and (not whole_night or datetime.now(UTC) >= self.end
                                     + timedelta(days=1)):
            self.end = None
        self.total, self.run_id, self.dest, self.workers = total, run_id, dest, 1
        self.online: int | None = None  # the pool's workers online, when it fans out
        self.per_worker = read_rate(rate_path(settings))
        self.started = time.monotonic()
        self.forecasts: list[Forecast] = []
        self.late_sent = False

    def plan_workers(self, most: int, online: int | None = None) -> int:
        """The shard runs to keep going at once: the fewest that fit the window at the
        measured rate, at most `most` (scale.max_in_flight, the shards there are, the pool's
        limit). `online`: the pool's workers online now; forecasts count no more workers at
        work than that (one shard run each, as `--limit 1` gives), and a late one counts the
        workers to add from them. (Objects are taken as spread evenly.)"""
        self.online = online
        if self.end is not None:
            self.workers = workers_for(self.total, self.per_worker, datetime.now(UTC),
                                       self.end, most)
        else:
            self.workers = most
        return self.workers

    @property
    def working(self) -> int:
        """The workers the forecasts count: those planned, or fewer when fewer are online
        (none online: the shards wait for the planned ones)."""
        return min(self.workers, self.online) if self.online else self.workers

    def start(self) -> None:
        """The forecast before any object is briefed (from the measured rate, if any)."""
        rate = self.per_worker * self.working if self.per_worker else None
        self._forecast(0, rate, sure=rate is not None)

    def update(self, done: int) -> None:
        """A forecast from the run's own rate, `done` of its objects finished (its start,
        model loading included, counts: the first forecasts are on the slow side, so the
        alert waits for SURE_SHARE of the objects)."""
        minutes = (time.monotonic() - self.started) / 60
        self._forecast(done, done / minutes if done and minutes > 0 else None,
                       sure=done >= max(1, SURE_SHARE * self.total))

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

    def _forecast(self, done: int, rate: float | None, sure: bool) -> None:
        if self.end is None:
            return
        made = forecast(datetime.now(UTC), self.end, done, self.total, rate, self.working,
                        self.online)
        self.forecasts.append(made)
        if made.late and sure and not self.late_sent:
            self.late_sent = True
            get_run_logger().warning("window: %s", made.sentence())
            emit_event(event=LATE_EVENT,
                       resource={"prefect.resource.id": f"briefs.run.{self.run_id}",
                                 "prefect.resource.name": self.dest},
                       payload={**made.record(), "message": made.sentence()})
