"""Review hold: which briefs of a night wait for an editor before delivery, and what the
editor's decision (or the timeout's) does to the digests and the manifest.

A brief is held when it carries a warning whose code is in `review.hold_on`. The flow pauses
with the held briefs (`held_markdown`: title, warnings, link) and a form to drop any of them;
`decided` or `timed_out` makes the decision, `apply_review` carries it out: the digests are
written again without the dropped briefs (their JSON stays under briefs/), and the manifest
records the review under `review`. Plain: no Prefect here; the pause is the flow's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from briefs.tasks.core.config import ReviewConfig
from briefs.tasks.output.digest import night_of_manifest, original_url
from briefs.tasks.output.documents import markdown_escape, markdown_url, to_json_bytes
from briefs.tasks.output.layout import MANIFEST_KEY, run_manifest_key
from briefs.tasks.output.run_outputs import write_digests
from briefs.tasks.output.storage import Store
from briefs.tasks.quality.cleaning import clean_shown
from briefs.tasks.quality.warnings import as_notice

UNKNOWN = "unknown"  # who decided, when Prefect records nobody (Prefect OSS records no user)
TIMEOUT = "review.timeout_seconds"  # who decided a review nobody answered


@dataclass(frozen=True)
class Held:
    """A brief held for review: its id, English title, the warnings that hold it (`code:
    detail`), their codes, and its link (the original URL, else where it was read)."""

    article_id: str
    title: str
    warnings: list[str]
    codes: list[str]
    link: str


def held_briefs(briefs: Iterable[dict[str, Any]], hold_on: Iterable[str]) -> list[Held]:
    """The briefs with a warning whose code is in `hold_on`, in the order given; none when
    `hold_on` is empty."""
    codes = set(hold_on)
    held = []
    for brief in briefs:
        notices = [as_notice(w) for w in brief.get("warnings") or []]
        holding = [n for n in notices if n.code in codes]
        if not holding:
            continue
        source = brief.get("source") or {}
        title = (brief.get("title") or {}).get("en") or next(
            iter((brief.get("title") or {}).values()), "")
        held.append(Held(
            article_id=brief["article_id"], title=clean_shown(title),
            warnings=[clean_shown(f"{n.code}: {n.detail}" if n.detail else n.code)
                      for n in holding],
            codes=list(dict.fromkeys(n.code for n in holding)),
            link=original_url(source) or str(source.get("uri") or source.get("key") or "")))
    return held


@dataclass(frozen=True)
class Decision:
    """What becomes of the held briefs: `action` `deliver` (every brief but the `dropped`)
    or `hold` (nothing is delivered); `decision` `reviewed` (an editor's input) or
    `timed_out` (review.on_timeout); who and when, as Prefect recorded them."""

    action: Literal["deliver", "hold"]
    decision: Literal["reviewed", "timed_out"]
    dropped: list[str] = field(default_factory=list)
    by: str = UNKNOWN
    reviewer: str | None = None
    at: str | None = None  # when the decision came: the input's, else the resumed state's
    paused_at: str | None = None


def decided(held: list[Held], dropped: Iterable[str], reviewer: str | None = None,
            sender: str | None = None, at: str | None = None,
            paused_at: str | None = None) -> Decision:
    """An editor's decision: deliver all but `dropped` (held ids only: ValueError names
    any other). `by` is who Prefect says sent the input (`sender`), else "unknown";
    `reviewer` the name the editor typed into the form, if any; `at` when the input came,
    `paused_at` when the run paused."""
    ids = [h.article_id for h in held]
    dropped = list(dict.fromkeys(dropped))
    if stray := [d for d in dropped if d not in ids]:
        raise ValueError(f"not held for review, so not to be dropped: {', '.join(stray)}")
    name = (reviewer or "").strip() or None
    return Decision("deliver", "reviewed", [i for i in ids if i in dropped],
                    sender or UNKNOWN, name, at, paused_at)


def timed_out(on_timeout: Literal["deliver", "hold"], at: str | None = None,
              paused_at: str | None = None) -> Decision:
    """Nobody answered within review.timeout_seconds: `deliver` everything (nothing is
    dropped), or `hold` it all back (nothing is delivered)."""
    return Decision(on_timeout, "timed_out", [], TIMEOUT, None, at, paused_at)


def review_record(settings: ReviewConfig, held: list[Held], decision: Decision
                  ) -> dict[str, Any]:
    """The manifest's `review`: the codes that hold, the held and dropped ids (with each
    held brief's codes), the decision, what was delivered, who and when."""
    return {
        "hold_on": list(settings.hold_on),
        "held": [h.article_id for h in held],
        "held_codes": {h.article_id: h.codes for h in held},
        "dropped": list(decision.dropped),
        "decision": decision.decision,
        "action": decision.action,
        "delivered": decision.action == "deliver",
        "by": decision.by,
        "reviewer": decision.reviewer,
        "paused_at": decision.paused_at,
        "decided_at": decision.at,
        "timeout_seconds": settings.timeout_seconds,
        "on_timeout": settings.on_timeout,
    }


@dataclass(frozen=True)
class Reviewed:
    """The manifest with its `review`, and the briefs the delivered digests hold."""

    manifest: dict[str, Any]
    briefs: list[dict[str, Any]]


def apply_review(store: Store, manifest: dict[str, Any], briefs: list[dict[str, Any]],
                 languages: list[str], record: dict[str, Any]) -> Reviewed:
    """Carry out a review: write the digests again without the dropped briefs (when any;
    their JSON stays under briefs/), then both manifests (the run's and the night's: a
    whole night's run, the only kind reviewed) with `record` under `review`."""
    dropped = set(record["dropped"])
    kept = [b for b in briefs if b["article_id"] not in dropped]
    if dropped:
        write_digests(store, kept, manifest["run_id"], languages,
                      night_of_manifest(manifest))
    manifest = {**manifest, "review": record}
    store.write(run_manifest_key(manifest["run_id"]), to_json_bytes(manifest),
                "application/json")
    store.write(MANIFEST_KEY, to_json_bytes(manifest), "application/json")
    return Reviewed(manifest, kept)


def _cell(text: str) -> str:
    """Text as one cell of a Markdown table: escaped, on one line, its `|` no separator."""
    return _one_line(markdown_escape(text).replace("|", "\\|"))


def _code(text: str) -> str:
    """Text as a code span in a table's cell: on one line, no backtick to end it early."""
    return "`" + _one_line(text.replace("`", "")).replace("|", "\\|") + "`"


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n]+", " ", text)


def held_markdown(held: list[Held], settings: ReviewConfig, night: str | None = None,
                  until: str | None = None) -> str:
    """What the paused run shows above its form (and in a Markdown artifact): the held
    briefs, one row each (id, title, warnings, link), and what happens without an answer."""
    when = f" of {night}" if night else ""
    deadline = f", until {until}" if until else ""
    fallback = ("delivers everything, held briefs included" if settings.on_timeout == "deliver"
                else "delivers nothing")
    lines = [
        f"## {len(held)} brief{'s' if len(held) != 1 else ''} held for review", "",
        f"The digests{when} are written; delivery waits. These briefs carry warning codes "
        f"of `review.hold_on` ({', '.join(f'`{c}`' for c in settings.hold_on)}).", "",
        "Pick the briefs to **drop** from the delivered digests (their briefs stay under "
        "`briefs/`), then resume: the rest is delivered. Resume with none picked to "
        "deliver them all.", "",
        f"Without an answer within {settings.timeout_seconds} s{deadline}, the run "
        f"{fallback} (`review.on_timeout: {settings.on_timeout}`).", "",
        "| article | title | warnings | link |", "|---|---|---|---|",
    ]
    for h in held:
        link = (f"[original](<{markdown_url(h.link)}>)"
                if h.link.startswith(("http://", "https://"))
                else _code(h.link) if h.link else "")
        lines.append(f"| `{h.article_id}` | {_cell(h.title)} | "
                     f"{'<br>'.join(_cell(w) for w in h.warnings)} | {link} |")
    return "\n".join(lines) + "\n"
