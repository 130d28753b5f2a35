"""How a run ends: the failure-share policy and the time limit, as plain decisions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

Ending = Literal["completed", "partial", "failed", "timed_out"]


class Deadline:
    """The run's time limit (`timeouts.run_seconds`), counted from when the run started."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.missed = False  # set by mark_missed: work was left undone because time ran out

    def remaining(self) -> float:
        """Seconds left, never below 0."""
        return max(self.ends - time.monotonic(), 0.0)

    def passed(self) -> bool:
        """Whether no more work may start: the time is up, or work was already cut off by
        it. Changes nothing (see `mark_missed`)."""
        return self.missed or self.remaining() <= 0

    def mark_missed(self) -> None:
        """Record that work is left undone because of the limit: the run ends timed out."""
        self.missed = True

    @property
    def reason(self) -> str:
        return (f"not briefed: the run passed its time limit of {self.seconds:.0f} s "
                "(timeouts.run_seconds)")


@dataclass(frozen=True)
class RunEnding:
    ending: Ending
    message: str


def run_ending(counts: dict[str, int], unsupported: int, max_failed_share: float,
               timed_out: bool, manifest_uri: str) -> RunEnding:
    """Decide the run's final state from the manifest's counts.

    Above `alerts.max_failed_share` of the articles failed (input objects of unsupported
    types are not counted) the run fails; at or below it, a run with failures completes as
    `partial` (its failures are published, not alerted).
    """
    total, failed = counts["total"], counts["failed"]
    message = (f"{counts['succeeded']} of {total} briefed, {failed} failed, "
               f"{counts['skipped']} skipped; manifest at {manifest_uri}")
    articles = total - unsupported  # objects of other types are no articles to brief
    share = failed / articles if articles else 0.0
    if timed_out:
        return RunEnding("timed_out", f"the run passed its time limit (timeouts.run_seconds): "
                                      f"{message}")
    if share > max_failed_share:
        return RunEnding("failed", f"{message}; {share:.1%} failed, above "
                                   f"alerts.max_failed_share ({max_failed_share:.1%})")
    if failed:
        return RunEnding("partial", f"{message}; {share:.1%} failed, within "
                                    f"alerts.max_failed_share ({max_failed_share:.1%})")
    return RunEnding("completed", message)
