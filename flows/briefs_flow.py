"""The `briefs` flow: articles under a source → multilingual briefs, digests and a manifest."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from briefs.flows.artifacts import Progress, publish_partial_run, publish_results
from briefs.flows.fan_out import run_shards, shard_deployment_exists
from briefs.flows.provenance import run_trigger
from briefs.tasks.core import log_redaction
from briefs.tasks.core.config import BriefsConfig, ConfigError, load_config
from briefs.tasks.core.records import Article, Brief, Failure
from briefs.tasks.events import Arrivals
from briefs.tasks.generation.targets import SUPPORTED_LANGUAGES
from briefs.tasks.ingest.articles import input_format
from briefs.tasks.ingest.selection import select
from briefs.tasks.models.engines import GENERATION
from briefs.tasks.output.documents import now_iso
from briefs.tasks.output.layout import ALREADY_BRIEFED
from briefs.tasks.output.storage import ObjectInfo
from briefs.tasks.run.nights import fill_date, night_of, run_date, source_prefix
from briefs.tasks.run.pipeline import ReusePlan, drop_duplicates, made_by_run, object_failure
from briefs.tasks.run.policy import Deadline, run_ending
from briefs.tasks.run.shards import (
    ShardSpec,
    cut_shards,
    merge_shard_results,
    shard_result_document,
    shard_result_key,
    sum_timings,
)
from briefs.tasks.steps import (
    deliver_digests,
    list_articles,
    list_existing_briefs,
    load_models,
    read_arrivals,
    read_articles,
    read_night_manifest,
    reuse_briefs,
    summarize,
    translate,
    write_briefs,
    write_digests_and_manifest,
    write_shard_result,
)
from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from prefect.runtime import deployment, flow_run
from prefect.states import Completed, Failed, State
from pydantic import Field

log_redaction.install()  # worker-started runs never import the CLI

Language = Literal[SUPPORTED_LANGUAGES]  # a multi-select in the UI's run form
UNSUPPORTED = "unsupported file type"
TIMED_OUT = "ran past its time limit of {seconds:.0f} s ({setting})"


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass
class Ledger:
    """Where every article of the run lands: written, reused (an unchanged brief, also listed
    in `unbriefed` as skipped), or unbriefed (failed or skipped, with the reason)."""

    written: list[dict[str, Any]] = field(default_factory=list)
    reused: list[dict[str, Any]] = field(default_factory=list)
    unbriefed: list[Failure] = field(default_factory=list)

    def recorded(self) -> set[str]:
        return ({d["article_id"] for d in self.written + self.reused}
                | {f.article_id for f in self.unbriefed})


@flow(name="briefs", log_prints=True)
def briefs(
    source: str,
    dest: str,
    date: str | None = None,
    languages: list[Language] | None = None,
    models: str = "default",
    config: str | None = None,
    limit: Annotated[int, Field(ge=1)] | None = None,
    article_ids: list[str] | None = None,
    force: bool = False,
    arrivals: Arrivals | None = None,
    shard: ShardSpec | None = None,
):
    """Summarize every article under `source`, translate the summaries, write them to `dest`.

    Args:
        source: Folder or `s3://bucket/prefix/` of .txt, .md, .json, .jsonl and .html
            articles (each optionally .gz); `{date}` is replaced by the run's date.
        dest: Folder or `s3://bucket/prefix/` for briefs/, digests/ and manifest.json;
            `{date}` is replaced by the run's date.
        date: The night to brief, YYYY-MM-DD; empty means yesterday in the schedule's
            timezone.
        languages: Target languages; empty means the config's list.
        models: Model preset (`default`, `tiny`) or a local summarizer model folder.
        config: A YAML config file that replaces the preset.
        limit: Brief only the first N input objects (for trial runs; at least 1); empty
            means all.
        article_ids: Brief only these articles of the night: article ids as in the
            manifest, or object keys under `source`. The night's digests are rebuilt from
            all its briefs. Empty means the whole night.
        force: Brief again even articles whose brief is up to date (same article, models
            and settings). The brief replaced is kept under `history/<article_id>/`.
        arrivals: Set by the late-arrivals trigger: brief the objects named by its
            `briefs.object.created` events. Leave empty.
        shard: Set by a parent run that fans out (`scale:` in the config): brief these
            objects only and hand back a shard result. Leave empty.
    """
    settings = load_config(models, config, list(languages) if languages else None)
    if shard is not None:
        return _brief_shard(shard, source, dest, settings, force)
    if article_ids == []:  # the form's "list" with no item: never taken for the whole night
        return Failed(message="article_ids is an empty list: add the articles to brief, "
                              "or set it to None to brief the whole night")
    run = Briefing(source, dest, settings, models, config, limit, force,
                   run_trigger(arrivals is not None), Deadline(settings.timeouts.run_seconds))
    if arrivals is None:
        day = run_date(date, settings.schedule.timezone, flow_run.get_scheduled_start_time())
        return run.brief(day, article_ids)
    nights = arrivals_by_night(read_arrivals(arrivals, source_prefix(source)), source, date,
                               settings)
    if not nights:
        return Completed(message=f"nothing to brief: no object under {source} in the "
                                 f"late-arrivals events from {arrivals.since.isoformat()}")
    # An object gone since its event (renamed, deleted) is skipped: no alert for it.
    states = [run.brief(day, uris, missing="skipped") for day, uris in nights.items()]
    if len(states) == 1:
        return states[0]
    message = " | ".join(f"{day}: {state.message}"
                         for day, state in zip(nights, states, strict=True))
    failed = next((state for state in states if state.is_failed()), None)
    return (Failed(name=failed.name, message=message) if failed
            else Completed(message=message))


def arrivals_by_night(uris: list[str], source: str, date: str | None,
                      settings: BriefsConfig) -> dict[str, list[str]]:
    """The arrived objects grouped by the night whose source folder holds them (`{date}`
    in `source`); one that no night's folder holds is logged and left alone."""
    logger = get_run_logger()
    nights: dict[str, list[str]] = {}
    for uri in uris:
        day = night_of(uri, source)
        if day is None:
            logger.warning("%s is not under %s: not briefed by this run", uri, source)
            continue
        day = day or run_date(date, settings.schedule.timezone)
        nights.setdefault(day, []).append(uri)
    logger.info("arrivals: %s", ", ".join(f"{len(u)} for {d}" for d, u in nights.items()))
    return nights


@dataclass
class Briefing:
    """What a run briefs with: its parameters, what started it and its time limit (one
    for all the nights an event run covers)."""

    source: str
    dest: str
    settings: BriefsConfig
    models: str
    config: str | None
    limit: int | None
    force: bool
    trigger: dict[str, str]
    deadline: Deadline

    def brief(self, day: str, requested: list[str] | None, missing: str = "failed") -> State:
        """Brief the night `day`: every object under its source, or only the `requested`
        articles (ids, keys or URIs; one not found gets the status `missing`); write its
        digests and manifest; end the run."""
        logger = get_run_logger()
        started_at, clock = now_iso(), time.perf_counter()
        settings, limit, deadline = self.settings, self.limit, self.deadline
        source, dest = fill_date(self.source, day), fill_date(self.dest, day)
        run_id = str(flow_run.get_id() or "local")
        logger.info("run %s (%s): %s → %s, languages %s, config %s%s", run_id,
                    self.trigger["kind"], source, dest, ",".join(settings.languages),
                    settings.config_hash(),
                    f", {len(requested)} articles chosen" if requested else "")
        objects = list_articles(source, settings)
        ledger = Ledger()
        selection = None
        if requested:
            selection = select(requested, objects, source, read_night_manifest(dest, settings),
                               missing)
            objects, ledger.unbriefed = selection.objects, list(selection.not_found)
        ledger.unbriefed += [object_failure(source, o.key, UNSUPPORTED, "skipped")
                             for o in objects if input_format(o.key) is None]
        supported = [o for o in objects if input_format(o.key) is not None][:limit]
        progress = Progress(len(supported))
        parameters = {"source": source, "dest": dest, "date": day,
                      "languages": settings.languages, "models": self.models,
                      "config": self.config, "limit": limit, "article_ids": requested,
                      "force": self.force, "config_hash": settings.config_hash()}
        shards = [] if requested else _shards_for(settings, supported)
        if shards:
            logger.info("fanning out: %d objects in %d shards over %s", len(supported),
                        len(shards), settings.scale.shard_deployment)
            fanned = run_shards(shards, {"source": source, "dest": dest,
                                         "languages": settings.languages,
                                         "models": self.models, "config": self.config,
                                         "force": self.force},
                                settings, run_id, deadline, progress)
            merged = merge_shard_results(fanned.results)
            ledger.written, ledger.reused = merged.written, merged.reused
            ledger.unbriefed += merged.unbriefed + fanned.failures
            timings = {"brief_seconds": round(time.perf_counter() - clock, 2),
                       "shards": sum_timings(r["timings"] for r in fanned.results)}
            extra = {"shards": fanned.record}
        else:
            versions = load_models.with_options(
                timeout_seconds=settings.timeouts.load_models_seconds)(settings)
            loaded_at, generation_before = time.perf_counter(), GENERATION.snapshot()
            existing = list_existing_briefs(dest, settings)
            _brief_objects(source, dest, supported, settings, versions, existing, run_id,
                           deadline, ledger, progress, self.force,
                           selection.keeps if selection else None)
            timings = _timings(clock, loaded_at, generation_before)
            extra = {}
        if selection is not None:
            ledger.unbriefed += selection.unaccounted(ledger.recorded(), source)

        manifest = write_digests_and_manifest(
            dest, settings, ledger.written, ledger.reused, ledger.unbriefed, run_id,
            started_at, parameters, timings, {"trigger": self.trigger, **extra},
            partial=requested is not None,
            read_whole=sorted(selection.whole) if selection else None)
        if settings.delivery.notification_blocks and (limit is not None or requested):
            logger.info("a trial or partial run: the digests are not delivered")
        elif settings.delivery.notification_blocks:  # the whole night's digests
            manifest = deliver_digests(dest, settings, manifest,
                                       ledger.written + ledger.reused)
        publish_results(manifest, ledger.written, ledger.reused, settings.languages,
                        time.perf_counter() - clock)
        unsupported = sum(e.get("reason") == UNSUPPORTED for e in manifest["articles"])
        ending = run_ending(manifest["counts"], unsupported, settings.alerts.max_failed_share,
                            deadline.missed, f"{dest.rstrip('/')}/manifest.json")
        logger.info(ending.message)
        if ending.ending == "partial":
            publish_partial_run(run_id, dest, manifest)
        if ending.ending == "timed_out":
            return Failed(name="TimedOut", message=ending.message, data=manifest)
        if ending.ending == "failed":
            return Failed(message=ending.message, data=manifest)
        return Completed(message=ending.message, data=manifest)


def _shards_for(settings: BriefsConfig, objects: list[ObjectInfo]) -> list[list[ObjectInfo]]:
    """The shards to fan out to, or none to brief in this process: `scale.shards` always fans
    out; otherwise a run from a deployment does when it has more than `scale.shard_articles`
    objects and the shard deployment exists (`briefs serve` has none: it briefs in-process)."""
    scale = settings.scale
    if not objects:
        return []
    if not scale.shards:
        if deployment.id is None or len(objects) <= scale.shard_articles:
            return []
        if not shard_deployment_exists(scale.shard_deployment):
            get_run_logger().warning(
                "%d objects, more than scale.shard_articles (%d), but the shard deployment "
                "%r does not exist on this Prefect API: briefing them in this run", len(objects),
                scale.shard_articles, scale.shard_deployment)
            return []
    return cut_shards(objects, scale.shard_articles, scale.shard_bytes, scale.shards)


def _brief_shard(spec: ShardSpec, source: str, dest: str, settings: BriefsConfig,
                 force: bool):
    """A child run: brief the shard's objects as a whole run would, then write the shard
    result last. Ends Completed whatever its articles' fate (the parent decides the run's
    state); a shard that breaks ends Failed and the parent submits it again."""
    logger = get_run_logger()
    clock = time.perf_counter()
    if spec.config_hash and spec.config_hash != settings.config_hash():
        raise ConfigError(
            f"{spec.label}: this worker's configuration (hash {settings.config_hash()}) is not "
            f"the parent run's ({spec.config_hash}): check its BRIEFS_* environment and files")
    seconds = float(settings.timeouts.run_seconds)
    if spec.ends_at is not None:  # the parent's limit, the same instant for every shard
        seconds = min(seconds, (spec.ends_at - datetime.now(UTC)).total_seconds())
    deadline = Deadline(seconds)
    logger.info("%s of run %s (attempt %d): %d objects under %s", spec.label, spec.run_id,
                spec.attempt + 1, len(spec.keys), source)
    versions = load_models.with_options(
        timeout_seconds=settings.timeouts.load_models_seconds)(settings)
    loaded_at, generation_before = time.perf_counter(), GENERATION.snapshot()
    existing = list_existing_briefs(dest, settings)
    ledger = Ledger()
    objects = spec.objects()
    seen = _brief_objects(source, dest, objects, settings, versions, existing, spec.run_id,
                          deadline, ledger, Progress(len(objects)), force)
    document = shard_result_document(
        spec, str(flow_run.get_id() or "local"), ledger.written, ledger.reused,
        ledger.unbriefed, {article.article_id: digest for digest, article in seen.items()},
        _timings(clock, loaded_at, generation_before))
    write_shard_result(dest, settings, shard_result_key(spec), document)
    failed = sum(f.status == "failed" for f in ledger.unbriefed)
    return Completed(message=f"{spec.label}: {len(ledger.written)} written, "
                             f"{len(ledger.reused)} unchanged, {failed} failed")


def _timings(clock: float, loaded_at: float, generation_before: Any) -> dict[str, float]:
    generate_seconds, generated_tokens = GENERATION.since(generation_before)
    return {"load_models_seconds": round(loaded_at - clock, 2),
            "brief_seconds": round(time.perf_counter() - loaded_at, 2),
            "generate_seconds": round(generate_seconds, 2),
            "generated_tokens": generated_tokens}


def _brief_objects(source: str, dest: str, objects: list[ObjectInfo], settings: BriefsConfig,
                   versions: dict[str, Any], existing: set[str], run_id: str,
                   deadline: Deadline, ledger: Ledger, progress: Progress, force: bool = False,
                   keeps: Callable[[Article | Failure], bool] | None = None
                   ) -> dict[str, Article]:
    """Read, summarize, translate and write the objects batch by batch; every article lands
    in the ledger (of an object read for chosen articles, those that `keeps`). Returns the
    articles briefed, by text digest (the first of each text)."""
    seen: dict[str, Article] = {}
    size = settings.batching.articles_per_task
    batches = _chunks(objects, size)
    writes: list[Write] = []  # in flight while the next batch generates
    upcoming = _read_ahead(source, batches, 0, settings)
    for number, objects_batch in enumerate(batches, start=1):
        label = f"{number}/{len(batches)}"
        if deadline.passed():
            ledger.unbriefed += _kept([object_failure(source, o.key, deadline.reason)
                                       for o in objects_batch], keeps)
            continue
        # The next batch is read and parsed while this one generates.
        current, upcoming = upcoming, _read_ahead(source, batches, number, settings)
        try:
            items = current.result()
        except Exception as exc:  # retries exhausted or permanent: the whole batch fails
            ledger.unbriefed += _kept([object_failure(source, o.key, f"could not be read: {exc}")
                                       for o in objects_batch], keeps)
            continue
        items = _kept(items, keeps)
        ledger.unbriefed += [i for i in items if isinstance(i, Failure)]
        articles, duplicates = drop_duplicates([i for i in items if isinstance(i, Article)], seen)
        ledger.unbriefed += duplicates
        groups = _chunks(articles, size)
        for part, group in enumerate(groups, start=1):
            group_label = label if len(groups) == 1 else f"{label}.{part}"
            _brief_group(group, settings, dest, versions, existing, group_label, run_id,
                         deadline, ledger, writes, force)
        progress.update(number * size)
    _settle_writes(writes, ledger)
    return seen


def _kept(items: list[Any], keeps: Callable[[Article | Failure], bool] | None) -> list[Any]:
    """The items a run for chosen articles keeps (all, for a whole run)."""
    return items if keeps is None else [i for i in items if keeps(i)]


@dataclass(frozen=True)
class Write:
    """A write-briefs task run in flight, and the briefs it writes."""

    future: PrefectFuture
    briefs: list[Brief]
    label: str


def _read_ahead(source: str, batches: list[list[Any]], index: int,
                settings: BriefsConfig) -> PrefectFuture | None:
    """Start reading batch `index` (0-based) in the task runner's threads; None past the
    last batch."""
    if index >= len(batches):
        return None
    return read_articles.submit(source, batches[index], settings,
                                batch=f"{index + 1}/{len(batches)}")


def _settle_writes(writes: list[Write], ledger: Ledger) -> None:
    """Wait for the writes in flight and record each brief: written, or failed with why."""
    while writes:
        write = writes.pop(0)
        try:
            results = write.future.result()
        except Exception as exc:  # the task itself broke; per-brief write errors come back
            results = [Failure(b.article_id, b.article.source.uri,
                               f"batch {write.label} failed: {exc}") for b in write.briefs]
        ledger.written += [r for r in results if isinstance(r, dict)]
        ledger.unbriefed += [r for r in results if isinstance(r, Failure)]


def _brief_group(group: list[Article], settings: BriefsConfig, dest: str,
                 versions: dict[str, Any], existing: set[str], label: str, run_id: str,
                 deadline: Deadline, ledger: Ledger, writes: list[Write], force: bool) -> None:
    """Brief one group of articles: reuse unchanged steps (none when `force`), summarize,
    translate, and start writing (the write runs while the next group generates; see
    `_settle_writes`).

    Every article of the group ends up in the ledger, reused or unbriefed, or in `writes`.
    """
    timeout = max(min(settings.timeouts.generate_seconds, deadline.remaining()), 1.0)
    setting = ("timeouts.generate_seconds" if timeout == settings.timeouts.generate_seconds
               else "timeouts.run_seconds")
    try:
        plan = (reuse_briefs(dest, group, settings, existing, batch=label)
                if existing and not force else ReusePlan(to_summarize=group))
        # A brief an earlier attempt of this run wrote (a shard run again) counts as written.
        ledger.written += [d for d in plan.unchanged if made_by_run(d, run_id)]
        earlier = [d for d in plan.unchanged if not made_by_run(d, run_id)]
        ledger.reused += earlier
        ledger.unbriefed += [Failure(d["article_id"], d["source"]["uri"], ALREADY_BRIEFED,
                                     status="skipped") for d in earlier]
        summarized = summarize.with_options(timeout_seconds=timeout)(
            plan.to_summarize, settings, batch=label) if plan.to_summarize else []
        ledger.unbriefed += [b for b in summarized if isinstance(b, Failure)]
        to_translate = [b for b in summarized if isinstance(b, Brief)] + plan.partial
        translated = translate.with_options(timeout_seconds=timeout)(
            to_translate, settings, batch=label) if to_translate else []
        ledger.unbriefed += [b for b in translated if isinstance(b, Failure)]
        done = [b for b in translated if isinstance(b, Brief)]
        _settle_writes(writes, ledger)  # the previous group's, done while this one generated
        if done:
            writes.append(Write(write_briefs.submit(dest, done, settings, versions, run_id,
                                                    existing, batch=label), done, label))
    except Exception as exc:  # a model step past its time limit, or writes that cannot start
        reason = (f"batch {label} {TIMED_OUT.format(seconds=timeout, setting=setting)}"
                  if isinstance(exc, TimeoutError) else f"batch {label} failed: {exc}")
        if isinstance(exc, TimeoutError) and setting == "timeouts.run_seconds":
            deadline.missed = True  # cut off by the run's limit, even in its last batch
        recorded = ledger.recorded()
        ledger.unbriefed += [Failure(a.article_id, a.source.uri, reason)
                             for a in group if a.article_id not in recorded]

