"""What a run leaves under the destination at its end: the digests and the manifests.

The run's manifest is kept as `runs/<run_id>/manifest.json`, so concurrent or repeated runs
never lose each other's record; `manifest.json` is the night's: the run's, or after a partial
run (chosen articles, arrivals) the last one updated with the articles it touched (see
`layout.night_manifest`). The digests hold every brief of the night.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from briefs.tasks.core.records import Failure
from briefs.tasks.output.digest import Night, digest_entries, digest_languages, night_of_manifest
from briefs.tasks.output.documents import (
    digest_html,
    digest_markdown,
    manifest_document,
    to_json_bytes,
)
from briefs.tasks.output.layout import (
    MANIFEST_KEY,
    night_briefs,
    night_manifest,
    read_json,
    run_manifest_key,
    with_brief,
)
from briefs.tasks.output.storage import Store


@dataclass(frozen=True)
class RunRecord:
    """What a run hands to the night's record at its end: where every article landed
    (written, reused, unbriefed), its parameters and timings, and `extra` keys for its
    manifest (trigger, shards). A `partial` run (chosen articles, arrivals) updates the
    night's manifest; of the objects it read whole (`read_whole`: URIs) its entries are all
    there is now."""

    run_id: str
    started_at: str
    parameters: dict[str, Any]
    timings: dict[str, Any]
    written: list[dict[str, Any]]
    reused: list[dict[str, Any]] = field(default_factory=list)
    unbriefed: list[Failure] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    read_whole: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NightWritten:
    """The manifests written (the run's and the night's), and what the digests hold."""

    manifest: dict[str, Any]
    night: dict[str, Any]
    briefs: int
    languages: list[str]


def run_manifest(record: RunRecord) -> dict[str, Any]:
    """The run's manifest; a partial run's names the articles it `touched`."""
    manifest = manifest_document(record.run_id, record.started_at, record.parameters,
                                 record.written, record.unbriefed, record.timings)
    manifest.update(record.extra)
    if record.partial:
        manifest["touched"] = [e["article_id"] for e in manifest["articles"]]
    return manifest


def night_of_run(store: Store, record: RunRecord, manifest: dict[str, Any]
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The night's manifest after the run, and every brief of the night: written now or up
    to date from an earlier run, and after a partial run every other brief the night's
    manifest lists (but those its review dropped)."""
    briefs = record.written + record.reused
    if not record.partial:
        return manifest, briefs
    previous = read_json(store, MANIFEST_KEY)
    whole = night_manifest(previous, manifest, set(record.read_whole))
    dropped = dropped_by_review(previous)
    if previous and "review" in previous:  # the night's review stays, as its delivery does
        whole["review"] = previous["review"]
    briefs = record.written + [b for b in record.reused if b["article_id"] not in dropped]
    others = {e["article_id"] for e in whole["articles"] if with_brief(e)} - dropped
    return whole, briefs + night_briefs(store, others - {b["article_id"] for b in briefs})


def dropped_by_review(manifest: dict[str, Any] | None) -> set[str]:
    """The ids the night's review dropped from its delivered digests (see
    `tasks/output/review.py`): a partial run that rebuilds the digests leaves them out too,
    unless it briefed them anew."""
    review = (manifest or {}).get("review") or {}
    return {str(i) for i in review.get("dropped") or []}


def write_digests(store: Store, briefs: list[dict[str, Any]], run_id: str,
                  languages: list[str], night: Night | None = None) -> list[str]:
    """Write one digest per language (Markdown and HTML) of the briefs, in the reader's
    order with near-duplicates grouped, under the night's heading; returns the languages."""
    all_languages = digest_languages(languages)
    entries = digest_entries(briefs)
    for lang in all_languages:
        store.write(f"digests/{lang}.md",
                    digest_markdown(lang, entries, run_id, all_languages, night).encode(),
                    "text/markdown; charset=utf-8")
        store.write(f"digests/{lang}.html",
                    digest_html(lang, entries, run_id, all_languages, night).encode(),
                    "text/html; charset=utf-8")
    return all_languages


def write_night(store: Store, record: RunRecord, languages: list[str]) -> NightWritten:
    """Write the night's digests in `languages` (and English), then the run's manifest and
    the night's."""
    manifest = run_manifest(record)
    night, briefs = night_of_run(store, record, manifest)
    written_languages = write_digests(store, briefs, record.run_id, languages,
                                      night_of_manifest(night))
    store.write(run_manifest_key(record.run_id), to_json_bytes(manifest), "application/json")
    store.write(MANIFEST_KEY, to_json_bytes(night), "application/json")
    return NightWritten(manifest, night, len(briefs), written_languages)
