"""The `briefs` flow: articles under a source → multilingual briefs, digests and a manifest."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from tasks.articles import article_id_for, input_format
from tasks.config import load_config
from tasks.records import Article, Brief, Failure
from tasks.render import now_iso
from tasks.steps import (
    list_articles,
    load_models,
    read_articles,
    summarise,
    translate,
    write_briefs,
    write_digests_and_manifest,
)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@flow(name="briefs", log_prints=True)
def briefs(
    source: str,
    dest: str,
    languages: list[str] | None = None,
    models: str = "default",
    config: str | None = None,
):
    """Summarise every article under `source` and translate the summaries; write to `dest`.

    Args:
        source: folder or `s3://bucket/prefix/` holding .txt, .md, .json, .jsonl and .html
            articles (each optionally .gz).
        dest: folder or `s3://bucket/prefix/` for briefs/, digests/ and manifest.json.
        languages: target languages (ISO 639-1 codes); empty means the config's list.
        models: model preset (`default`, `tiny`) or a local summariser model folder.
        config: a YAML config file that replaces the preset.
    """
    logger = get_run_logger()
    started_at = now_iso()
    settings = load_config(models, config, languages)
    run_id = str(flow_run.get_id() or "local")
    logger.info("run %s: %s → %s, languages %s, config %s", run_id, source, dest,
                ",".join(settings.languages), settings.config_hash())
    versions = load_models(settings)

    objects = list_articles(source)
    failures = [_object_failure(source, o.key, "unsupported file type", "skipped")
                for o in objects if input_format(o.key) is None]
    supported = [o for o in objects if input_format(o.key) is not None]
    written: list[Brief] = []
    batches = _chunks(supported, settings.batching.articles_per_task)
    for number, objects_batch in enumerate(batches, start=1):
        label = f"{number}/{len(batches)}"
        try:
            items = read_articles(source, objects_batch, settings, batch=label)
        except Exception as exc:  # retries exhausted or permanent: the whole batch fails
            failures += [_object_failure(source, o.key, f"could not be read: {exc}")
                         for o in objects_batch]
            continue
        failures += [i for i in items if isinstance(i, Failure)]
        articles = [i for i in items if isinstance(i, Article)]
        for part, group in enumerate(_chunks(articles, settings.batching.articles_per_task), 1):
            sub_label = label if len(articles) <= settings.batching.articles_per_task else (
                f"{label}.{part}")
            written += _brief_group(group, settings, dest, versions, sub_label, failures)

    parameters = {"source": source, "dest": dest, "languages": settings.languages,
                  "models": models, "config": config, "config_hash": settings.config_hash()}
    manifest = write_digests_and_manifest(dest, settings.languages, written, failures, run_id,
                                          started_at, parameters)
    counts = manifest["counts"]
    message = (f"{counts['succeeded']} of {counts['total']} briefed, {counts['failed']} failed, "
               f"{counts['skipped']} skipped; manifest at {dest.rstrip('/')}/manifest.json")
    if counts["failed"]:
        return Failed(message=message, data=manifest)
    return Completed(message=message, data=manifest)


def _brief_group(group: list[Article], settings, dest: str, versions: dict[str, Any],
                 label: str, failures: list[Failure]) -> list[Brief]:
    """Summarise, translate and write one group of articles; record every failure."""
    try:
        summarised = summarise(group, settings, batch=label)
        briefs_ok = [b for b in summarised if isinstance(b, Brief)]
        failures += [b for b in summarised if isinstance(b, Failure)]
        translated = translate(briefs_ok, settings, batch=label) if briefs_ok else []
        done = [b for b in translated if isinstance(b, Brief)]
        failures += [b for b in translated if isinstance(b, Failure)]
        if done:
            write_briefs(dest, done, settings, versions, batch=label)
        return done
    except Exception as exc:  # e.g. writes still failing after retries
        recorded = {f.article_id for f in failures}
        failures += [Failure(a.article_id, a.source, a.source.uri, f"batch {label} failed: {exc}")
                     for a in group if a.article_id not in recorded]
        return []


def _object_failure(source: str, key: str, reason: str, status: str = "failed") -> Failure:
    return Failure(article_id_for(key), None, f"{source.rstrip('/')}/{key}", reason, status)
