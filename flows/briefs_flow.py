"""The `briefs` flow: articles under a source → multilingual briefs, digests and a manifest."""

from __future__ import annotations

import time
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows.artifacts import Progress, publish_results
from tasks.articles import article_id_for, input_format
from tasks.config import SUPPORTED_LANGUAGES, BriefsConfig, load_config
from tasks.pipeline import drop_duplicates
from tasks.records import Article, Brief, Failure
from tasks.render import now_iso
from tasks.schedule import fill_date, run_date
from tasks.steps import (
    list_articles,
    list_existing_briefs,
    load_models,
    read_articles,
    reuse_briefs,
    summarise,
    translate,
    write_briefs,
    write_digests_and_manifest,
)

ALREADY_BRIEFED = "already briefed: unchanged content under the same configuration"
Language = Literal[SUPPORTED_LANGUAGES]  # a multi-select in the UI's run form


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@flow(name="briefs", log_prints=True)
def briefs(
    source: str,
    dest: str,
    date: str | None = None,
    languages: list[Language] | None = None,
    models: str = "default",
    config: str | None = None,
    limit: int | None = None,
):
    """Summarise every article under `source`, translate the summaries, write them to `dest`.

    Args:
        source: Folder or `s3://bucket/prefix/` of .txt, .md, .json, .jsonl and .html
            articles (each optionally .gz); `{date}` is replaced by the run's date.
        dest: Folder or `s3://bucket/prefix/` for briefs/, digests/ and manifest.json;
            `{date}` is replaced by the run's date.
        date: The night to brief, YYYY-MM-DD; empty means yesterday in the schedule's
            timezone.
        languages: Target languages; empty means the config's list.
        models: Model preset (`default`, `tiny`) or a local summariser model folder.
        config: A YAML config file that replaces the preset.
        limit: Brief only the first N input objects (for trial runs); empty means all.
    """
    logger = get_run_logger()
    started_at, clock = now_iso(), time.perf_counter()
    settings = load_config(models, config, list(languages) if languages else None)
    day = run_date(date, settings.schedule.timezone, flow_run.get_scheduled_start_time())
    source, dest = fill_date(source, day), fill_date(dest, day)
    run_id = str(flow_run.get_id() or "local")
    logger.info("run %s: %s → %s, languages %s, config %s", run_id, source, dest,
                ",".join(settings.languages), settings.config_hash())
    versions = load_models(settings)
    existing = list_existing_briefs(dest, settings)
    objects = list_articles(source, settings)

    unbriefed = [_object_failure(source, o.key, "unsupported file type", "skipped")
                 for o in objects if input_format(o.key) is None]
    supported = [o for o in objects if input_format(o.key) is not None][:limit]
    progress = Progress(len(supported))
    written: list[dict[str, Any]] = []
    reused: list[dict[str, Any]] = []
    seen: dict[str, Article] = {}
    size = settings.batching.articles_per_task
    batches = _chunks(supported, size)
    for number, objects_batch in enumerate(batches, start=1):
        label = f"{number}/{len(batches)}"
        try:
            items = read_articles(source, objects_batch, settings, batch=label)
        except Exception as exc:  # retries exhausted or permanent: the whole batch fails
            unbriefed += [_object_failure(source, o.key, f"could not be read: {exc}")
                          for o in objects_batch]
            continue
        unbriefed += [i for i in items if isinstance(i, Failure)]
        articles, duplicates = drop_duplicates([i for i in items if isinstance(i, Article)], seen)
        unbriefed += duplicates
        groups = _chunks(articles, size)
        for part, group in enumerate(groups, start=1):
            group_label = label if len(groups) == 1 else f"{label}.{part}"
            written += _brief_group(group, settings, dest, versions, existing, group_label,
                                    reused, unbriefed)
        progress.update(number * size)

    parameters = {"source": source, "dest": dest, "date": day, "languages": settings.languages,
                  "models": models, "config": config, "limit": limit,
                  "config_hash": settings.config_hash()}
    manifest = write_digests_and_manifest(dest, settings, written, reused, unbriefed,
                                          run_id, started_at, parameters)
    publish_results(manifest, written, reused, settings.languages, time.perf_counter() - clock)
    counts = manifest["counts"]
    message = (f"{counts['succeeded']} of {counts['total']} briefed, {counts['failed']} failed, "
               f"{counts['skipped']} skipped; manifest at {dest.rstrip('/')}/manifest.json")
    if counts["failed"]:
        return Failed(message=message, data=manifest)
    return Completed(message=message, data=manifest)


def _brief_group(group: list[Article], settings: BriefsConfig, dest: str,
                 versions: dict[str, Any], existing: set[str], label: str,
                 reused: list[dict[str, Any]], unbriefed: list[Failure]) -> list[dict[str, Any]]:
    """Brief one group of articles: skip unchanged ones, summarise, translate, write.

    Every article that gets no new brief is recorded in `reused` or `unbriefed`.
    """
    try:
        if existing:
            group, earlier = reuse_briefs(dest, group, settings, existing, batch=label)
            reused += earlier
            unbriefed += [Failure(d["article_id"], d["source"]["uri"], ALREADY_BRIEFED,
                                  status="skipped") for d in earlier]
        if not group:
            return []
        summarised = summarise(group, settings, batch=label)
        unbriefed += [b for b in summarised if isinstance(b, Failure)]
        summaries = [b for b in summarised if isinstance(b, Brief)]
        translated = translate(summaries, settings, batch=label) if summaries else []
        unbriefed += [b for b in translated if isinstance(b, Failure)]
        done = [b for b in translated if isinstance(b, Brief)]
        return write_briefs(dest, done, settings, versions, batch=label) if done else []
    except Exception as exc:  # e.g. writes still failing after retries
        recorded = {f.article_id for f in unbriefed}
        unbriefed += [Failure(a.article_id, a.source.uri, f"batch {label} failed: {exc}")
                      for a in group if a.article_id not in recorded]
        return []


def _object_failure(source: str, key: str, reason: str, status: str = "failed") -> Failure:
    return Failure(article_id_for(key), f"{source.rstrip('/')}/{key}", reason, status)
