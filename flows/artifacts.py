"""What a run shows in the Prefect UI: progress while it runs, a table and a summary at the end.

The table and summary use stable keys, so the UI lines runs up against each other; the
progress artifact's key names the night (`briefs-progress-2026-12-05`), with its estimated
finish.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from briefs.flows.window_watch import WindowWatch
from briefs.tasks.output.documents import markdown_escape
from briefs.tasks.quality.warnings import CODES

TABLE_KEY = "briefs-articles"
SUMMARY_KEY = "briefs-summary"
PROGRESS_KEY = "briefs-progress"  # and the night: one key per night (progress_key)
PREVIEW_BRIEFS = 3


def progress_key(night: str) -> str:
    """The progress artifact's key for a night: `briefs-progress-2026-12-05` (Prefect keys
    hold only lowercase letters, digits and dashes)."""
    return PROGRESS_KEY + "-" + re.sub(r"[^a-z0-9-]+", "-", night.lower()).strip("-")


class Progress:
    """A progress artifact updated as batches finish: input objects done of the total, the
    rate, and the estimated finish (at the rate so far, from the run's start, model loading
    included). A night's run keys it by the night (`progress_key`), so the deployment's
    artifacts list it by that name, and describes it by the night; a shard's has no key (its
    parent's counts its objects)."""

    def __init__(self, total: int, night: str | None = None, timezone: str = "UTC",
                 title: str | None = None, window: WindowWatch | None = None) -> None:
        self.total, self.zone, self.window = total, ZoneInfo(timezone), window
        self.title = title or (f"Night {night}" if night else "Briefs run")
        self.key = progress_key(night) if night else None
        self.started = time.monotonic()
        self.artifact_id: UUID = create_progress_artifact(
            0.0 if total else 100.0, key=self.key, description=self.describe(0))

    def update(self, done: int) -> None:
        done = min(done, self.total)
        if self.window is not None:
            self.window.update(done)
        update_progress_artifact(self.artifact_id, 100.0 * done / max(self.total, 1),
                                 description=self.describe(done))

    def describe(self, done: int, now: float | None = None) -> str:
        """The title, and a table: done, total, rate (objects/min) and the estimated finish,
        in the schedule's timezone."""
        minutes = ((time.monotonic() if now is None else now) - self.started) / 60
        rate = done / minutes if done and minutes > 0 else 0.0
        if done >= self.total:
            finish = f"finished {self._clock(0)}"
        elif rate:
            seconds = (self.total - done) / rate * 60
            finish = f"{self._clock(seconds)} (in about {_duration(seconds)})"
        else:
            finish = "after the first batch"
        window = self.window.line() if self.window is not None else None
        return "\n".join([
            f"**{self.title}**: {done} of {self.total} input objects briefed", "",
            "| done | total | rate | estimated finish |", "|---|---|---|---|",
            f"| {done} | {self.total} | {rate:.1f} objects/min | {finish} |",
            *(["", f"Window: {window}"] if window else [])])

    def _clock(self, seconds_from_now: float) -> str:
        moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def publish_results(manifest: dict[str, Any], written: list[dict[str, Any]],
                    reused: list[dict[str, Any]], languages: list[str], seconds: float) -> None:
    """One row per article, and a Markdown summary with counts, timings and a preview."""
    briefs = written + reused
    by_id = {b["article_id"]: b for b in briefs}
    rows = []
    for entry in manifest["articles"]:
        brief = by_id.get(entry["article_id"], {})
        rows.append({
            "article_id": entry["article_id"],
            "title": brief.get("title", {}).get(brief.get("source_language") or "en", ""),
            "source": brief.get("source_language") or "",
            "route": (brief.get("route") or {}).get("name", ""),
            "languages": ", ".join(sorted(brief.get("summaries", {}))),
            "status": entry["status"],
            "reason": entry.get("reason", ""),
        })
    create_table_artifact(rows, key=TABLE_KEY, description="Every article of the run")
    create_markdown_artifact(summary_markdown(manifest, written, reused, languages, seconds),
                             key=SUMMARY_KEY, description="Counts, timings and a preview")


def summary_markdown(manifest: dict[str, Any], written: list[dict[str, Any]],
                     reused: list[dict[str, Any]], languages: list[str], seconds: float) -> str:
    """Counts and wall time; time per step of the briefs written by this run; previews."""
    counts = manifest["counts"]
    timings: dict[str, int] = {}
    for brief in written:  # reused briefs were timed by the run that wrote them
        for step, ms in brief.get("timings_ms", {}).items():
            timings[step] = timings.get(step, 0) + ms
    lines = [
        "# Briefs run", "",
        "| total | succeeded | failed | skipped | wall time |", "|---|---|---|---|---|",
        f"| {counts['total']} | {counts['succeeded']} | {counts['failed']} | "
        f"{counts['skipped']} | {seconds:.0f} s |", "",
        "## Time per step (all articles)", "", "| step | seconds |", "|---|---|",
        *(f"| {step} | {ms / 1000:.1f} |" for step, ms in sorted(timings.items())), "",
        "## Warnings by code (briefs written by this run)", "",
        "| code | briefs' warnings | what it means |", "|---|---|---|",
        *(f"| {code} | {n} | {CODES[code]} |" for code, n in manifest["warnings"].items()), "",
    ]
    for lang in dict.fromkeys(["en", *languages]):
        previews = [b for b in written + reused if lang in b.get("summaries", {})][:PREVIEW_BRIEFS]
        lines += [f"## Preview ({lang})", ""]
        for brief in previews:
            lines += [f"**{markdown_escape(brief['title'].get(lang, ''))}**", "",
                      markdown_escape(brief["summaries"][lang]), ""]
        if not previews:
            lines += ["No briefs.", ""]
    return "\n".join(lines)


PARTIAL_EVENT = "briefs.run.partial"
EVENT_FAILURES = 50  # failures named in the event's payload; the manifest has them all


def publish_partial_run(run_id: str, dest: str, manifest: dict[str, Any]) -> None:
    """Emit `briefs.run.partial`: the run completed with some failed articles, within the
    allowed share. An automation can match it; the flow run is attached as related."""
    from prefect.events import emit_event

    failed = [{"article_id": e["article_id"], "source": e["source"], "reason": e["reason"]}
              for e in manifest["articles"] if e["status"] == "failed"]
    emit_event(
        event=PARTIAL_EVENT,
        resource={"prefect.resource.id": f"briefs.run.{run_id}",
                  "prefect.resource.name": dest},
        payload={"counts": manifest["counts"], "dest": dest,
                 "failed": failed[:EVENT_FAILURES]},
    )


REVIEW_KEY = "briefs-review"


def publish_held_briefs(markdown: str) -> None:
    """The briefs held for review (`tasks/output/review.py` held_markdown), as a Markdown
    artifact beside the paused run's form."""
    create_markdown_artifact(markdown, key=REVIEW_KEY,
                             description="Briefs held for review before delivery")
