"""The window planner: will the night's briefs be written by `window.finish_by`?

The window of night D ends at `finish_by` (a local time in the schedule's timezone) on the day
after D, when editors read D's digests. Before the run starts, the forecast comes from the
rate this machine measured on earlier runs (objects per minute per worker, kept beside the
models in the cache, one record per machine and settings); once objects are done, from the
run's own rate. A forecast past the window says by how much, and how many workers would fit.
Plain code: the clock and the rates are passed in.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from briefs.tasks.models.ct2 import machine

RATE_WEIGHT = 0.5  # a new run's weight in the kept rate (an exponential average)


def window_end(finish_by: str, night: str, timezone: str) -> datetime:
    """When the window of `night` (YYYY-MM-DD) closes: `finish_by` (HH:MM) the day after."""
    day = date.fromisoformat(night) + timedelta(days=1)
    return datetime.combine(day, time.fromisoformat(finish_by), tzinfo=ZoneInfo(timezone))


@dataclass(frozen=True)
class Forecast:
    """One forecast of the run's finish against its window."""

    at: str  # when it was made (ISO 8601)
    done: int
    total: int
    rate: float  # objects per minute, all workers together
    workers: int
    finish: str | None  # None: no rate to forecast from yet
    finish_by: str
    late_seconds: float  # > 0: the forecast misses the window by this much
    workers_to_fit: int | None  # workers that would finish in time at this rate per worker
    online_workers: int | None = None  # the pool's workers online when the run fanned out

    @property
    def late(self) -> bool:
        return self.late_seconds > 0

    def sentence(self) -> str:
        """The forecast in words, for the log and the alert."""
        if self.finish is None:
            return f"no forecast yet against the window ({self.finish_by}): no rate measured"
        if not self.late:
            return (f"forecast finish {self.finish}, within the window ({self.finish_by}) at "
                    f"{self.rate:.1f} objects/min")
        have = self.workers if self.online_workers is None else self.online_workers
        fit = ("the window has passed: no number of workers fits" if self.workers_to_fit is None
               else f"{self.workers_to_fit} workers would fit (add "
                    f"{max(self.workers_to_fit - have, 0)}"
                    + ("" if self.online_workers is None else
                       f" to the {self.online_workers} online in the pool") + ")")
        return (f"forecast finish {self.finish} misses the window ({self.finish_by}) by "
                f"{_minutes(self.late_seconds)} at {self.rate:.1f} objects/min on "
                f"{self.workers} workers; {fit}")

    def record(self) -> dict[str, object]:
        return asdict(self)


def forecast(now: datetime, end: datetime, done: int, total: int, rate: float | None,
             workers: int = 1, online_workers: int | None = None) -> Forecast:
    """The finish at `rate` (objects/min, all `workers` together) for what is left, against
    the window's `end`; `online_workers`: the pool's, which the workers to add count from."""
    left = max(total - done, 0)
    if not left:
        finish: datetime | None = now
    elif rate:
        finish = now + timedelta(minutes=left / rate)
    else:
        finish = None
    late = max((finish - end).total_seconds(), 0.0) if finish else 0.0
    minutes_left = (end - now).total_seconds() / 60
    per_worker = (rate or 0) / max(workers, 1)
    fit = (math.ceil(left / (per_worker * minutes_left)) if late and per_worker
           and minutes_left > 0 else None)
    zone = end.tzinfo
    return Forecast(
        at=now.astimezone(zone).isoformat(timespec="seconds"), done=done, total=total,
        rate=round(rate or 0.0, 2), workers=workers,
        finish=finish.astimezone(zone).isoformat(timespec="seconds") if finish else None,
        finish_by=end.isoformat(timespec="seconds"), late_seconds=round(late, 1),
        workers_to_fit=fit, online_workers=online_workers)


def workers_for(total: int, rate_per_worker: float | None, now: datetime, end: datetime,
                most: int) -> int:
    """How many workers to spread a night over so it ends in its window: the fewest that
    fit at the measured rate, at most `most` (all when there is no rate, or none fits)."""
    minutes = (end - now).total_seconds() / 60
    if not rate_per_worker or minutes <= 0:
        return most
    return max(1, min(most, math.ceil(total / (rate_per_worker * minutes))))


# --- the rate this machine measured ----------------------------------------------------------

def rate_file(cache: Path, settings_hash: str) -> Path:
    """Where machines of this kind (processor and cores, as for the compute type) keep their
    rate for these settings: `cache` is beside the models, shared by a pool's workers."""
    return cache / f"{machine()}-{settings_hash}.json"


def read_rate(path: Path) -> float | None:
    """The objects per minute per worker measured here on earlier runs, if any."""
    try:
        return float(json.loads(path.read_text())["objects_per_minute"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def keep_rate(path: Path, objects: int, seconds: float) -> float | None:
    """Fold one run's rate (objects in seconds, one worker) into the kept one; returns it.
    Written whole (a temporary file renamed), so a reader never sees half a record."""
    if objects <= 0 or seconds <= 0:
        return read_rate(path)
    measured = objects / (seconds / 60)
    earlier = read_rate(path)
    rate = measured if earlier is None else RATE_WEIGHT * measured + (1 - RATE_WEIGHT) * earlier
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as out:
        json.dump({"objects_per_minute": round(rate, 3), "last": round(measured, 3)}, out)
    os.replace(staging, path)
    return rate


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
