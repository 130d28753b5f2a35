"""Prefect tasks: thin wrappers around the plain pipeline steps, one task run per batch.

Storage tasks retry transient faults (throttling, 5xx, dropped connections) with exponential
backoff and jitter; permanent faults fail at once with the bucket and key in the message.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.core.records import Article, Brief, Failure
from briefs.tasks.events import Arrivals, arrived_objects
from briefs.tasks.models.loading import models_loaded
from briefs.tasks.output import layout as night
from briefs.tasks.output import review
from briefs.tasks.output.digest import digest_languages
from briefs.tasks.output.documents import to_json_bytes
from briefs.tasks.output.run_outputs import RunRecord, write_night
from briefs.tasks.output.storage import (
    ObjectInfo,
    StorageError,
    Store,
    is_transient,
    open_store,
    s3_client_config,
)
from briefs.tasks.run import pipeline

RETRY_DELAYS = exponential_backoff(backoff_factor=2)  # 2, 4, 8 s, each with jitter


def retry_if_transient(task, task_run, state) -> bool:
    """Retry only faults that may pass; a permanent error fails fast."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False


COMMON = dict(cache_policy=NO_CACHE, persist_result=False)
STORAGE = dict(COMMON, retries=3, retry_delay_seconds=RETRY_DELAYS, retry_jitter_factor=0.5,
               retry_condition_fn=retry_if_transient)


def _store(uri: str, config: BriefsConfig) -> Store:
    """Open a store; S3 through the configured AwsCredentials block, else boto3's chain."""
    block = config.storage.aws_credentials_block
    timeouts = dict(read_timeout=config.storage.read_timeout_seconds,
                    connect_timeout=config.storage.connect_timeout_seconds)
    if not block or not uri.startswith("s3://"):
        return open_store(uri, **timeouts)
    from prefect_aws import AwsCredentials

    credentials = AwsCredentials.load(block)
    params = credentials.aws_client_parameters.get_params_override()
    ours = s3_client_config(**timeouts)
    params["config"] = ours.merge(params["config"]) if "config" in params else ours
    return open_store(uri, credentials.get_boto3_session().client("s3", **params))


def _ids(items: list[Article | Brief | Failure]) -> str:
    ids = [item.article_id for item in items]
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


@task(name="load-models", **COMMON)
def load_models(config: BriefsConfig) -> dict[str, dict[str, Any]]:
    """Load every model of the run once, before any article is read."""
    logger = get_run_logger()
    started, before = time.perf_counter(), models_loaded()
    loaded = pipeline.load_all_models(config)
    for role, model in loaded.items():
        logger.info("%s: %s (revision %s) on %s, window %d tokens", role, model.model_id,
                    model.revision, model.device, model.max_input_tokens)
    models, now = len({id(model) for model in loaded.values()}), models_loaded() - before
    logger.info("%d models ready in %.1f s (%d loaded now, %d already in memory)", models,
                time.perf_counter() - started, now, models - now)
    return pipeline.model_versions(loaded)


@task(name="list-articles", **STORAGE)
def list_articles(source: str, config: BriefsConfig) -> list[ObjectInfo]:
    """List every object under the source folder or prefix."""
    objects = _store(source, config).list()
    get_run_logger().info("found %d objects under %s", len(objects), source)
    return objects


@task(name="list-existing-briefs", **STORAGE)
def list_existing_briefs(dest: str, config: BriefsConfig) -> set[str]:
    """Keys of the briefs already under the destination (a re-run skips unchanged ones)."""
    keys = {o.key for o in _store(dest, config).list(under=night.BRIEFS_FOLDER)}
    get_run_logger().info("%d briefs already under %s", len(keys), dest)
    return keys


@task(name="reuse-briefs", task_run_name="reuse-briefs {batch}", **STORAGE)
def reuse_briefs(dest: str, articles: list[Article], config: BriefsConfig, existing: set[str],
                 batch: str) -> pipeline.ReusePlan:
    """Take over the steps of earlier briefs whose inputs, models and settings are unchanged."""
    plan = pipeline.plan_reuse(_store(dest, config), articles, config, existing)
    if plan.unchanged or plan.partial:
        get_run_logger().info(
            "batch %s: %d briefs unchanged (%s); %d keep their summary and gain languages (%s)",
            batch, len(plan.unchanged), ", ".join(d["article_id"] for d in plan.unchanged[:5]),
            len(plan.partial), _ids(plan.partial))
    return plan


@task(name="read-articles", task_run_name="read-articles {batch}", **STORAGE)
def read_articles(source: str, objects: list[ObjectInfo], config: BriefsConfig,
                  batch: str) -> list[Article | Failure]:
    """Read and parse a batch of objects; detect each article's language."""
    logger = get_run_logger()
    started = time.perf_counter()
    items = pipeline.read_articles(_store(source, config), objects, config)
    for failure in (i for i in items if isinstance(i, Failure)):
        logger.warning("article %s (%s) failed: %s", failure.article_id, failure.uri,
                       failure.reason)
    logger.info("batch %s: %d objects → %d articles (%s) in %.2f s", batch, len(objects),
                len(items), _ids(items), time.perf_counter() - started)
    return items


@task(name="summarize", task_run_name="summarize {batch}", **COMMON)
def summarize(articles: list[Article], config: BriefsConfig, batch: str) -> list[Brief | Failure]:
    """Summarize a batch of articles (long ones in chunks)."""
    logger = get_run_logger()
    started = time.perf_counter()
    results = pipeline.summarize_articles(articles, config)
    _log_results(logger, "summarize", batch, results, started)
    return results


@task(name="translate", task_run_name="translate {batch}", **COMMON)
def translate(briefs: list[Brief], config: BriefsConfig, batch: str) -> list[Brief | Failure]:
    """Translate a batch of summaries and titles into every configured language."""
    logger = get_run_logger()
    started = time.perf_counter()
    results = pipeline.translate_briefs(briefs, config)
    _log_results(logger, f"translate to {','.join(config.languages)}", batch, results, started)
    return results


# No task retries: a retry would write every brief of the batch again. botocore retries each
# write; a brief whose write still fails is recorded as failed, the others as written.
@task(name="write-briefs", task_run_name="write-briefs {batch}", **COMMON)
def write_briefs(dest: str, briefs: list[Brief], config: BriefsConfig,
                 models: dict[str, dict[str, Any]], run_id: str, existing: set[str],
                 batch: str) -> list[dict[str, Any] | Failure]:
    """Write a batch of briefs, each as one whole JSON object (a brief replaced is kept
    under history/); a failed write fails alone. Flat parameters, as every task here: the
    task run's inputs, with `batch` naming it."""
    logger = get_run_logger()
    started = time.perf_counter()
    results = pipeline.write_briefs(_store(dest, config), briefs, config, models, run_id,
                                    existing)
    for failure in (r for r in results if isinstance(r, Failure)):
        logger.warning("article %s failed: %s", failure.article_id, failure.reason)
    written = [r["article_id"] for r in results if isinstance(r, dict)]
    logger.info("batch %s: wrote %d briefs (%s) in %.2f s", batch, len(written),
                _ids(briefs), time.perf_counter() - started)
    return results


@task(name="read-arrivals", retries=3, retry_delay_seconds=[2, 10, 30], **COMMON)
def read_arrivals(arrivals: Arrivals, prefix: str) -> list[str]:
    """The objects under `prefix` that the late-arrivals events of the window name."""
    uris = arrived_objects(arrivals, prefix)
    get_run_logger().info("%d objects arrived under %s from %s, in %s s", len(uris), prefix,
                          arrivals.since.isoformat(), arrivals.seconds)
    return uris


@task(name="read-night-manifest", **STORAGE)
def read_night_manifest(dest: str, config: BriefsConfig) -> dict[str, Any] | None:
    """The night's manifest as the last run left it, if any: a partial run finds articles
    by id in it, and updates it."""
    return night.read_json(_store(dest, config), night.MANIFEST_KEY)


@task(name="write-digests-and-manifest", **STORAGE)
def write_digests_and_manifest(dest: str, config: BriefsConfig,
                               record: RunRecord) -> dict[str, Any]:
    """Write one digest per language (Markdown and HTML) and the manifests; returns the
    run's manifest.

    The run's manifest is kept as `runs/<run_id>/manifest.json`, so concurrent or repeated
    runs never lose each other's record; `manifest.json` is the night's: the run's, or
    after a partial run (chosen articles, arrivals) the last one updated with the articles
    it touched and the objects it read whole. The digests hold every brief of the night:
    written now or up to date from an earlier run, and after a partial run every other
    brief the night's manifest lists.
    """
    written = write_night(_store(dest, config), record, config.languages)
    get_run_logger().info("wrote digests of %d briefs for %s and the manifest: %s",
                          written.briefs, ", ".join(written.languages), written.night["counts"])
    return written.manifest


@task(name="apply-review", **STORAGE)
def apply_review(dest: str, config: BriefsConfig, manifest: dict[str, Any],
                 briefs: list[dict[str, Any]], record: dict[str, Any]) -> review.Reviewed:
    """Carry out the review of the held briefs (`record`, the manifest's `review`): write
    the digests again without the dropped briefs (their JSON stays under briefs/) and the
    manifests with the review; returns them and the briefs the digests hold."""
    reviewed = review.apply_review(_store(dest, config), manifest, briefs, config.languages,
                                   record)
    get_run_logger().info("review: %d held, %d dropped (%s), %s", len(record["held"]),
                          len(record["dropped"]), ", ".join(record["dropped"]) or "none",
                          "delivering" if record["delivered"] else "delivering nothing")
    return reviewed


# No task retries: each message has its own (tenacity, delivery.retries); a task retry would
# send every message again.
@task(name="deliver-digests", **COMMON)
def deliver_digests(dest: str, config: BriefsConfig, manifest: dict[str, Any],
                    briefs: list[dict[str, Any]]) -> dict[str, Any]:
    """Send a message per digest language through each block of
    `delivery.notification_blocks`, add the records under the manifest's `delivery` key and
    write the manifest again (both copies). Never raises: delivery cannot fail the briefs."""
    from briefs.tasks import delivery

    logger = get_run_logger()
    settings = config.delivery
    try:
        store = _store(dest, config)
        messages = delivery.build_messages(manifest, digest_languages(config.languages), briefs,
                                           store, settings.link_expiry_seconds)
        records = delivery.deliver(messages, settings)
    except Exception as exc:  # no store, no messages: nothing was sent
        logger.warning("delivery failed before sending: %s", delivery.describe(exc))
        records = [{"block": ref, "language": None, "status": "failed", "attempts": 0,
                    "error": delivery.describe(exc)} for ref in settings.notification_blocks]
    manifest = {**manifest, "delivery": records}
    try:
        store = _store(dest, config)
        store.write(night.run_manifest_key(manifest["run_id"]), to_json_bytes(manifest),
                    "application/json")
        store.write(night.MANIFEST_KEY, to_json_bytes(manifest), "application/json")
    except Exception as exc:
        logger.warning("the manifest could not be written again with the delivery records: "
                       "%s", exc)
    sent = sum(r["status"] == "sent" for r in records)
    log = logger.info if sent == len(records) else logger.warning
    log("delivery: %d of %d messages sent (%s)", sent, len(records),
        ", ".join(f"{r['block']} {r['language']}: {r['status']}" for r in records))
    return manifest


@task(name="write-shard-result", **STORAGE)
def write_shard_result(dest: str, config: BriefsConfig, key: str,
                       document: dict[str, Any]) -> None:
    """Write the shard's result object, last: the parent run reads the shard's articles
    from it (briefs are all written before it)."""
    _store(dest, config).write(key, to_json_bytes(document), "application/json")
    get_run_logger().info("wrote the shard result %s", key)


@task(name="read-shard-result", task_run_name="read-shard-result {key}", **STORAGE)
def read_shard_result(dest: str, config: BriefsConfig, key: str) -> dict[str, Any] | None:
    """A shard run's result object; None when it is missing or unreadable (the shard ran
    no further than that: it is run again)."""
    try:
        return json.loads(_store(dest, config).read(key))
    except StorageError as exc:
        if exc.transient:
            raise
        get_run_logger().warning("shard result %s cannot be read: %s", key, exc)
    except ValueError as exc:
        get_run_logger().warning("shard result %s is not JSON: %s", key, exc)
    return None


def _log_results(logger, step: str, batch: str, results: list[Brief | Failure],
                 started: float) -> None:
    failures = [r for r in results if isinstance(r, Failure)]
    for failure in failures:
        logger.warning("article %s failed: %s", failure.article_id, failure.reason)
    logger.info("batch %s: %s %d articles (%s), %d failed, in %.2f s", batch, step,
                len(results), _ids(results), len(failures), time.perf_counter() - started)
