"""The night's record across runs: every brief under the destination, the night's manifest
that a partial run updates, and the history of replaced briefs."""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from briefs.tasks.output.documents import step_runs
from briefs.tasks.output.storage import StorageError, Store

BRIEFS_FOLDER = "briefs/"
HISTORY_FOLDER = "history/"
MANIFEST_KEY = "manifest.json"
NOT_FOUND = "not found: "  # a chosen article that is not in the night: the run's, not the night's
ALREADY_BRIEFED = "already briefed: unchanged article, models and settings"


def brief_key(article_id: str) -> str:
    """Where an article's brief is written."""
    return f"{BRIEFS_FOLDER}{article_id}.json"


def run_manifest_key(run_id: str) -> str:
    """Where a run's own manifest is kept: `runs/<run_id>/manifest.json`."""
    return f"runs/{run_id}/manifest.json"


def history_key(article_id: str, created_at: str) -> str:
    """Where a replaced brief is kept: `history/<article_id>/<its created_at>.json`."""
    return f"{HISTORY_FOLDER}{article_id}/{created_at}.json"


def read_json(store: Store, key: str) -> dict[str, Any] | None:
    """The JSON object at `key`; None when it is missing, not JSON or not an object. Faults
    that may pass are raised, for the caller's retries."""
    try:
        document = json.loads(store.read(key))
    except StorageError as exc:
        if exc.transient:
            raise
        return None
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def keep_history(store: Store, article_id: str, run_id: str) -> str | None:
    """Copy the brief about to be replaced into the history, unless this run wrote it (a
    write tried again); returns its history key, or None when there was nothing to keep."""
    try:
        earlier = store.read(brief_key(article_id))
    except StorageError as exc:
        if exc.transient:
            raise
        return None  # gone since it was listed: nothing to keep
    try:
        document = json.loads(earlier)
        created_at = str(document["created_at"])
    except (ValueError, KeyError, TypeError):  # kept all the same, under its content's hash
        document, created_at = {}, f"unreadable-{hashlib.sha256(earlier).hexdigest()[:12]}"
    if run_id in step_runs(document).values():
        return None
    key = history_key(article_id, created_at)
    store.write(key, earlier, "application/json")
    return key


def night_briefs(store: Store, article_ids: set[str], threads: int = 16
                 ) -> list[dict[str, Any]]:
    """The briefs of these articles under the destination, read in parallel; one missing or
    unreadable is left out."""
    keys = [o.key for o in store.list(under=BRIEFS_FOLDER)
            if o.key.endswith(".json") and o.key[len(BRIEFS_FOLDER):-5] in article_ids]
    with ThreadPoolExecutor(threads) as pool:
        documents = list(pool.map(lambda key: read_json(store, key), keys))
    return [d for d in documents if d is not None and "article_id" in d]


def object_of(uri: str) -> str:
    """The object's URI of an article's source URI (a JSONL line's ends in `#L<n>`)."""
    return re.sub(r"#L\d+$", "", uri)


def with_brief(entry: dict[str, Any]) -> bool:
    """Whether a manifest entry's article has a brief of the night: briefed, or up to
    date from an earlier run."""
    return entry.get("status") == "succeeded" or entry.get("reason") == ALREADY_BRIEFED


def night_manifest(previous: dict[str, Any] | None, run: dict[str, Any],
                   read_whole: set[str] = frozenset()) -> dict[str, Any]:
    """The night's manifest after a partial run: the previous one's articles, those the run
    touched replaced by its entries, and counts over the night. Of an object the run read
    whole (`read_whole`: URIs), the run's entries are all there is now.

    An article the run found up to date keeps its entry; one it failed to brief again keeps
    its standing brief's entry, with the failure under `rebrief_failed`; a chosen article
    not found is the run's, not the night's. The night's `delivery` stays; everything else
    (parameters, trigger, warnings, timings, `touched`) is the run's.
    """
    touched = {e["article_id"] for e in run["articles"]}
    entries = {e["article_id"]: e for e in (previous or {}).get("articles", [])
               if isinstance(e, dict) and "article_id" in e
               and (e["article_id"] in touched
                    or object_of(str(e.get("source", ""))) not in read_whole)}
    for entry in run["articles"]:
        earlier = entries.get(entry["article_id"])
        if str(entry.get("reason", "")).startswith(NOT_FOUND):
            continue
        if earlier and with_brief(earlier) and entry.get("reason") == ALREADY_BRIEFED:
            continue
        if earlier and with_brief(earlier) and entry["status"] == "failed":
            entries[entry["article_id"]] = {**earlier, "rebrief_failed": entry["reason"]}
            continue
        entries[entry["article_id"]] = entry
    articles = sorted(entries.values(), key=lambda e: str(e.get("source", "")))
    statuses = [e.get("status") for e in articles]
    counts = {"total": len(articles), **{s: statuses.count(s)
                                         for s in ("succeeded", "failed", "skipped")}}
    kept = {"delivery": previous["delivery"]} if previous and "delivery" in previous else {}
    return {**run, **kept, "counts": counts, "run_counts": run["counts"], "articles": articles}
