"""The night's record across runs: every brief under the destination, the night's manifest
that a partial run updates, and the history of replaced briefs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tasks.storage import StorageError, Store

BRIEFS_FOLDER = "briefs/"
HISTORY_FOLDER = "history/"
MANIFEST_KEY = "manifest.json"
NOT_FOUND = "not found: "  # a chosen article that is not in the night: the run's, not the night's


def brief_key(article_id: str) -> str:
    return f"{BRIEFS_FOLDER}{article_id}.json"


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


def keep_history(store: Store, article_id: str) -> str | None:
    """Copy the brief about to be replaced into the history; returns its history key, or
    None when there was no readable brief to keep."""
    earlier = store.read(brief_key(article_id))
    try:
        created_at = str(json.loads(earlier)["created_at"])
    except (ValueError, KeyError, TypeError):
        created_at = "unreadable"
    key = history_key(article_id, created_at)
    store.write(key, earlier, "application/json")
    return key


def night_briefs(store: Store, skip: set[str], threads: int = 16) -> list[dict[str, Any]]:
    """Every brief under the destination except those of `skip` (article ids), read in
    parallel; one that cannot be parsed is left out of the digests."""
    keys = [o.key for o in store.list(under=BRIEFS_FOLDER)
            if o.key.endswith(".json") and o.key[len(BRIEFS_FOLDER):-5] not in skip]
    with ThreadPoolExecutor(threads) as pool:
        documents = list(pool.map(lambda key: read_json(store, key), keys))
    return [d for d in documents if d is not None and "article_id" in d]


def night_manifest(previous: dict[str, Any] | None, run: dict[str, Any]) -> dict[str, Any]:
    """The night's manifest after a partial run: the previous one's articles, those the run
    touched replaced by its entries (a chosen article not found is not the night's); counts
    over the night. Everything else (parameters, trigger, warnings, timings, `touched`) is
    the run's."""
    entries = {e["article_id"]: e for e in (previous or {}).get("articles", [])
               if isinstance(e, dict) and "article_id" in e}
    entries.update({e["article_id"]: e for e in run["articles"]
                    if not str(e.get("reason", "")).startswith(NOT_FOUND)})
    articles = sorted(entries.values(), key=lambda e: str(e.get("source", "")))
    statuses = [e.get("status") for e in articles]
    counts = {"total": len(articles), **{s: statuses.count(s)
                                         for s in ("succeeded", "failed", "skipped")}}
    return {**run, "counts": counts, "run_counts": run["counts"], "articles": articles}
