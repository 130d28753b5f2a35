"""The `briefs` flow: articles under a source → multilingual briefs, digests and a manifest.

`briefs` has the nightly run form's parameters (what an editor sets); `briefs-arrivals` (the
late-arrivals trigger's window) and `briefs-shard` (a parent run's shard) run the same code,
so their parameters stay off that form.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound
from prefect.futures import PrefectFuture
from prefect.runtime import deployment, flow_run
from prefect.states import Completed, Failed, State
from pydantic import Field

from briefs.flows import NIGHTLY_DEPLOYMENT
from briefs.flows.artifacts import Progress, publish_partial_run, publish_results
from briefs.flows.fan_out import pool_now, run_shards, shard_deployment_exists
from briefs.flows.provenance import run_trigger
from briefs.flows.review_hold import review_before_delivery
from briefs.flows.window_watch import WindowWatch, keep_run_rate
from briefs.tasks.core import log_redaction
from briefs.tasks.core.config import (
    CONFIGS_DIR,
    BriefsConfig,
    ConfigError,
    load_config,
    preset_path,
)
from briefs.tasks.core.records import Article, Brief, Failure
from briefs.tasks.events import Arrivals
from briefs.tasks.generation.targets import SUPPORTED_LANGUAGES
from briefs.tasks.ingest.articles import input_format
from briefs.tasks.ingest.selection import Selection, select
from briefs.tasks.models.engines import GENERATION
from briefs.tasks.models.memory import release_freed_memory
from briefs.tasks.output.documents import now_iso
from briefs.tasks.output.layout import ALREADY_BRIEFED
from briefs.tasks.output.run_outputs import RunRecord, run_manifest
from briefs.tasks.output.storage import ObjectInfo, StorageError
from briefs.tasks.run.locations import Allowed
from briefs.tasks.run.nights import fill_date, night_of, run_date, source_prefix
from briefs.tasks.run.pipeline import ReusePlan, drop_duplicates, made_by_run, object_failure
from briefs.tasks.run.policy import Deadline, run_ending
from briefs.tasks.run.preflight import CHECKS, preflight
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

Language = Literal[SUPPORTED_LANGUAGES]  # a multi-select in the UI's run form
Preset = Literal[tuple(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))]  # a choice in it
UNSUPPORTED = "unsupported file type"
TIMED_OUT = "ran past its time limit of {seconds:.0f} s ({setting})"
Keeps = Callable[[Article | Failure], bool]  # of a run for chosen articles: those it briefs


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
    date: str = "",
    languages: list[Language] = [],  # noqa: B006  (the form's empty list; never changed)
    models: Preset = "default",
    config: str = "",
    limit: Annotated[int, Field(ge=0)] = 0,
    article_ids: list[str] = [],  # noqa: B006
    only_article_ids: bool = False,
    force: bool = False,
):
    """Summarize every article under `source`, translate the summaries, write them to `dest`.

    (One parameter per field of the run form in the UI: only what an editor sets. Late
    arrivals run as `briefs-arrivals`, shards as `briefs-shard`.)

    Args:
        source: Folder or `s3://bucket/prefix/` of .txt, .md, .json, .jsonl and .html
            articles (each optionally .gz); `{date}` is replaced by the run's date.
        dest: Folder or `s3://bucket/prefix/` for briefs/, digests/ and manifest.json;
            `{date}` is replaced by the run's date.
        date: The night to brief, YYYY-MM-DD; empty means yesterday in the schedule's
            timezone.
        languages: Target languages; empty means the config's list.
        models: Model preset, from configs/ (`default`: the production models, `tiny`:
            small test models).
        config: A YAML config file that replaces the preset (a hub model id goes in its
            `models.summarizer.id`), or a local summarizer model folder used with the
            preset; empty means the preset alone.
        limit: Brief only the first N input objects (for trial runs); 0 means all.
        article_ids: Brief only these articles of the night: article ids as in the
            manifest, or object keys under `source`. The night's digests are rebuilt from
            all its briefs. Empty means the whole night, unless `only_article_ids` is on.
        only_article_ids: Switch on when briefing chosen articles: the run then refuses to
            start if `article_ids` is empty, so a list left empty by mistake is never taken
            for the whole night. Off (the default): empty `article_ids` means the whole
            night.
        force: Brief again even articles whose brief is up to date (same article, models
            and settings). The brief replaced is kept under `history/<article_id>/`.
    """
    chosen = chosen_articles(article_ids, only_article_ids)
    if isinstance(chosen, State):
        return chosen
    models_or_folder, config_file = config_files(models, config)
    return brief_run(source, dest, date=date or None, languages=languages or None,
                     models=models_or_folder, config=config_file, limit=limit or None,
                     article_ids=chosen, force=force)


@flow(name="briefs-shard", log_prints=True)
def briefs_shard(
    shard: ShardSpec,
    source: str,
    dest: str,
    languages: list[str] = [],  # noqa: B006
    models: str = "default",
    config: str = "",
    force: bool = False,
):
    """One shard of a night that fans out (`scale:` in the config): brief these objects
    only and hand back a shard result. Started by the parent run, with its parameters.

    Args:
        shard: The shard: the parent run, its position, its objects' keys.
        source: The parent's source, its date filled in.
        dest: The parent's destination, its date filled in.
        languages: The parent's target languages; empty means the config's list.
        models: The parent's model preset, or a local summarizer model folder.
        config: The parent's YAML config file; empty means the preset alone.
        force: Brief again even articles whose brief is up to date.
    """
    return brief_run(source, dest, languages=languages or None, models=models,
                     config=config or None, force=force, shard=shard)


@flow(name="briefs-arrivals", log_prints=True)
def briefs_arrivals(
    arrivals: Arrivals,
    source: str,
    dest: str,
    date: str = "",
    languages: list[Language] = [],  # noqa: B006
    models: Preset = "default",
    config: str = "",
):
    """Brief the objects that arrived under `source` after the night's run, as the
    late-arrivals trigger names them. Holds the nightly deployment's slot while it runs:
    one run at a time, the nightly and this one together.

    Args:
        arrivals: Set by the late-arrivals trigger: brief the objects named by its
            `briefs.object.created` events from `since`, `seconds` long.
        source: As the nightly run's; each object is briefed in the night whose folder
            (`{date}`) holds it.
        dest: As the nightly run's; `{date}` is replaced by each object's night.
        date: The night of objects whose source has no `{date}`; empty means yesterday.
        languages: Target languages; empty means the config's list.
        models: Model preset, from configs/.
        config: A YAML config file, or a local summarizer model folder; empty means the
            preset alone.
    """
    models_or_folder, config_file = config_files(models, config)
    with nightly_slot():
        return brief_run(source, dest, date=date or None, languages=languages or None,
                         models=models_or_folder, config=config_file, arrivals=arrivals)


def chosen_articles(article_ids: list[str], only: bool) -> list[str] | None | State:
    """The articles a run of the form briefs: None for the whole night, else the ids given
    (blank items dropped). Refused (a Failed state) when the editor chose articles (the
    `only_article_ids` switch, or an item added) but gave none: never the whole night."""
    ids = [i.strip() for i in article_ids if i.strip()]
    if ids:
        return ids
    if only or article_ids:
        return Failed(message="article_ids is empty (or only blank items) while only "
                              "article_ids were to be briefed: add the articles to brief "
                              "(list → Add item), or switch only_article_ids off and leave "
                              "article_ids empty to brief the whole night")
    return None


def config_files(models: str, config: str) -> tuple[str, str | None]:
    """The form's `models` and `config` as the configuration is loaded from: a YAML file in
    `config` replaces the preset; a model folder in it is the summarizer, with the preset's
    other settings."""
    if not config:
        return models, None
    if Path(config).suffix.lower() in (".yaml", ".yml"):
        return models, config
    return config, None if models == "default" else str(preset_path(models))


@contextmanager
def nightly_slot() -> Iterator[None]:
    """Hold the nightly deployment's concurrency slot (one run at a time): wait while a run
    of it runs; a run of it started meanwhile waits in AwaitingConcurrencySlot (ENQUEUE).
    Nothing to hold for a run from no deployment, or on an API without the nightly one."""
    name = _nightly_limit() if deployment.id is not None else None
    if name is None:
        yield
        return
    get_run_logger().info("taking %s's slot (%s): waiting while a night's run runs",
                          NIGHTLY_DEPLOYMENT, name)
    with concurrency(name, occupy=1, strict=True):
        yield


def _nightly_limit() -> str | None:
    """The name of the nightly deployment's concurrency limit, if it has one."""
    with get_client(sync_client=True) as client:
        try:
            nightly = client.read_deployment_by_name(NIGHTLY_DEPLOYMENT)
        except ObjectNotFound:
            return None
    return nightly.global_concurrency_limit.name if nightly.global_concurrency_limit else None


def brief_run(
    source: str,
    dest: str,
    date: str | None = None,
    languages: list[str] | None = None,
    models: str = "default",
    config: str | None = None,
    limit: int | None = None,
    article_ids: list[str] | None = None,
    force: bool = False,
    arrivals: Arrivals | None = None,
    shard: ShardSpec | None = None,
) -> State:
    """A run of any of the flows above: a night, or its chosen articles (`article_ids`),
    the late arrivals of a window (`arrivals`), or a shard (`shard`). `models` is a preset
    or a model folder, `config` a YAML file; None means empty."""
    log_redaction.install()  # worker-started runs never import the CLI
    try:
        allowed = _allowed(shard)
    except ConfigError as exc:  # the deployment's own configuration (the worker's env)
        return _refused(exc.problems)
    checked = preflight(source, dest, models=models, config_file=config,
                        languages=list(languages) if languages else None, date=date,
                        now=flow_run.get_scheduled_start_time(), checks=_checks(arrivals, shard),
                        block_client=block_s3_client, allowed=allowed)
    if checked.problems or checked.settings is None:
        return _refused(checked.problems)
    settings = checked.settings
    if shard is not None:
        return _brief_shard(shard, source, dest, settings, force)
    run = Briefing(source, dest, settings, models, config, limit, force,
                   run_trigger(arrivals is not None), Deadline(settings.timeouts.run_seconds))
    if arrivals is None:
        day = run_date(date, settings.schedule.timezone, flow_run.get_scheduled_start_time())
        return run.brief(day, article_ids)
    return _brief_arrivals(run, arrivals, date)


def _checks(arrivals: Arrivals | None, shard: ShardSpec | None) -> frozenset[str]:
    """What the pre-flight checks besides the config: a night's run everything; a run for
    late arrivals all but the night's objects; a shard nothing (its parent checked)."""
    if shard is not None:
        return frozenset()
    return CHECKS - {"source"} if arrivals is not None else CHECKS


def _allowed(shard: ShardSpec | None) -> Allowed | None:
    """Where a run from a deployment may read and write: `storage.allowed_*` of the
    deployment's own configuration (its preset or config and the worker's environment; never
    a config the run names), else the deployment's own source and dest. A shard run from a
    deployment is held to its parent run's deployment. None for a run from no deployment."""
    if deployment.id is None:
        return None
    with get_client(sync_client=True) as client:
        deployment_id = deployment.id
        if shard is not None:
            try:
                deployment_id = client.read_flow_run(shard.run_id).deployment_id
            except (ObjectNotFound, ValueError):
                return Allowed([], [])  # no such parent run: nothing is allowed
            if deployment_id is None:
                return None  # a parent from no deployment (`briefs run --shards`)
        own = client.read_deployment(deployment_id).parameters or {}
    models, config = config_files(str(own.get("models") or "default"),
                                  str(own.get("config") or ""))
    return Allowed.of(load_config(models, config).storage, own)


def _refused(problems: list[str]) -> State:
    """The run's end when the pre-flight found problems: Failed, one line each, and the
    same lines in the log (no traceback)."""
    logger = get_run_logger()
    for problem in problems:
        logger.error("pre-flight: %s", problem)
    return Failed(message="\n".join(problems))


def block_s3_client(block: str, config: Any) -> Any:
    """An S3 client from a Prefect AwsCredentials block, with `config`'s timeouts and retries
    (the pre-flight probe's) over the block's own client settings."""
    from prefect_aws import AwsCredentials

    credentials = AwsCredentials.load(block)
    params = credentials.aws_client_parameters.get_params_override()
    params["config"] = params["config"].merge(config) if "config" in params else config
    return credentials.get_boto3_session().client("s3", **params)


def _brief_arrivals(run: Briefing, arrivals: Arrivals, date: str | None) -> State:
    """Brief the late-arrived objects, night by night; one state for them all."""
    nights = arrivals_by_night(read_arrivals(arrivals, source_prefix(run.source)), run.source,
                               date, run.settings)
    if not nights:
        return Completed(message=f"nothing to brief: no object under {run.source} in the "
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


@dataclass(frozen=True)
class RunContext:
    """What every batch of a night (or of a shard) is briefed with: where from and to, the
    settings, the run that records its briefs, its time limit, whether up-to-date briefs are
    briefed again (`force`), and when it started (`clock`, for the timings)."""

    source: str
    dest: str
    settings: BriefsConfig
    run_id: str
    deadline: Deadline
    force: bool = False
    clock: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Loaded:
    """The run's models (their versions, for the briefs), the briefs already under the
    destination, and when the loading ended (for the timings)."""

    versions: dict[str, Any]
    existing: set[str]
    clock: float
    loaded_at: float
    generation_before: Any

    @classmethod
    def load(cls, context: RunContext) -> Loaded:
        """Load every model of the run once, then list the briefs already written."""
        settings = context.settings
        versions = load_models.with_options(
            timeout_seconds=settings.timeouts.load_models_seconds)(settings)
        loaded_at, generation_before = time.perf_counter(), GENERATION.snapshot()
        existing = list_existing_briefs(context.dest, settings)
        return cls(versions, existing, context.clock, loaded_at, generation_before)

    def timings(self) -> dict[str, float]:
        """Seconds to load the models and to brief, and the generation's, until now."""
        generate_seconds, generated_tokens = GENERATION.since(self.generation_before)
        return {"load_models_seconds": round(self.loaded_at - self.clock, 2),
                "brief_seconds": round(time.perf_counter() - self.loaded_at, 2),
                "generate_seconds": round(generate_seconds, 2),
                "generated_tokens": generated_tokens}


@dataclass
class Chosen:
    """The objects a night's run briefs (of supported types, at most `limit`), the chosen
    articles' selection (None for the whole night), and the ledger so far (the chosen
    articles not found, the objects of unsupported types)."""

    objects: list[ObjectInfo]
    selection: Selection | None
    ledger: Ledger


@dataclass(frozen=True)
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
        started_at, context = now_iso(), self._context(day)
        self._log_start(context, requested)
        chosen = self._choose(context, requested, missing)
        window = WindowWatch(context.settings, day, len(chosen.objects), context.run_id,
                             context.dest, whole_night=not requested and self.trigger.get(
                                 "kind") != "event")
        shards = [] if requested else _shards_for(context.settings, chosen.objects)
        if shards:
            context = _in_flight(context, _plan_fan_out(context.settings, window, len(shards)))
        window.start()
        progress = Progress(len(chosen.objects), night=day,
                            timezone=context.settings.schedule.timezone, window=window)
        if shards:
            timings, extra = self._fan_out(context, chosen, shards, progress)
        else:
            timings, extra = _brief_here(context, chosen, progress), {}
            keep_run_rate(context.settings, len(chosen.ledger.written),
                          timings.get("brief_seconds", 0.0))
        if (planned := window.record()) is not None:
            extra["window"] = planned
        ledger, selection = chosen.ledger, chosen.selection
        if selection is not None:
            ledger.unbriefed += selection.unaccounted(ledger.recorded(), context.source)
        record = RunRecord(
            run_id=context.run_id, started_at=started_at,
            parameters=self._parameters(context, day, requested), timings=timings,
            written=ledger.written, reused=ledger.reused, unbriefed=ledger.unbriefed,
            extra={"trigger": self.trigger, **extra}, partial=requested is not None,
            read_whole=frozenset(selection.whole) if selection else frozenset())
        try:
            manifest = write_digests_and_manifest(context.dest, context.settings, record)
        except StorageError as exc:  # a full disk, a destination gone: say so, keep the briefs
            return _unwritten(context, record, ledger, exc)
        manifest = self._deliver(context, manifest, ledger, requested)
        publish_results(manifest, ledger.written, ledger.reused, context.settings.languages,
                        time.perf_counter() - context.clock)
        return _run_state(context, manifest)

    def _context(self, day: str) -> RunContext:
        """The night's context: the source and destination of `day`, this flow run's id."""
        return RunContext(fill_date(self.source, day), fill_date(self.dest, day),
                          self.settings, str(flow_run.get_id() or "local"), self.deadline,
                          self.force)

    def _log_start(self, context: RunContext, requested: list[str] | None) -> None:
        settings = context.settings
        get_run_logger().info(
            "run %s (%s): %s → %s, languages %s, config %s%s", context.run_id,
            self.trigger["kind"], context.source, context.dest, ",".join(settings.languages),
            settings.config_hash(), f", {len(requested)} articles chosen" if requested else "")

    def _choose(self, context: RunContext, requested: list[str] | None,
                missing: str) -> Chosen:
        """The night's objects to brief: all, or those of the `requested` articles."""
        objects = list_articles(context.source, context.settings)
        ledger, selection = Ledger(), None
        if requested:
            selection = select(requested, objects, context.source,
                               read_night_manifest(context.dest, context.settings), missing)
            objects, ledger.unbriefed = selection.objects, list(selection.not_found)
        ledger.unbriefed += [object_failure(context.source, o.key, UNSUPPORTED, "skipped")
                             for o in objects if input_format(o.key) is None]
        supported = [o for o in objects if input_format(o.key) is not None][:self.limit]
        return Chosen(supported, selection, ledger)

    def _parameters(self, context: RunContext, day: str,
                    requested: list[str] | None) -> dict[str, Any]:
        """The run's parameters as its manifest records them."""
        settings = context.settings
        return {"source": context.source, "dest": context.dest, "date": day,
                "languages": settings.languages, "models": self.models,
                "config": self.config, "limit": self.limit, "article_ids": requested,
                "force": self.force, "config_hash": settings.config_hash()}

    def _fan_out(self, context: RunContext, chosen: Chosen, shards: list[list[ObjectInfo]],
                 progress: Progress) -> tuple[dict[str, Any], dict[str, Any]]:
        """Brief the shards in child runs; their results go into the ledger. Returns the
        timings and the manifest's `shards` record."""
        settings = context.settings
        get_run_logger().info("fanning out: %d objects in %d shards over %s",
                              len(chosen.objects), len(shards),
                              settings.scale.shard_deployment)
        parameters = {"source": context.source, "dest": context.dest,
                      "languages": settings.languages, "models": self.models,
                      "config": self.config or "", "force": self.force}  # briefs-shard's
        fanned = run_shards(shards, parameters, settings, context.run_id, context.deadline,
                            progress)
        merged = merge_shard_results(fanned.results)
        ledger = chosen.ledger
        ledger.written, ledger.reused = merged.written, merged.reused
        ledger.unbriefed += merged.unbriefed + fanned.failures
        timings = {"brief_seconds": round(time.perf_counter() - context.clock, 2),
                   "shards": sum_timings(r["timings"] for r in fanned.results)}
        return timings, {"shards": fanned.record}

    def _deliver(self, context: RunContext, manifest: dict[str, Any], ledger: Ledger,
                 requested: list[str] | None) -> dict[str, Any]:
        """Deliver the whole night's digests (not a trial's or a partial run's), after the
        review when briefs are held (`review.hold_on`); returns the manifest with the review
        and delivery records."""
        if not context.settings.delivery.notification_blocks:
            return manifest
        if self.limit is not None or requested:
            get_run_logger().info("a trial or partial run: the digests are not delivered")
            return manifest
        manifest, briefs, deliver = review_before_delivery(
            context.dest, context.settings, manifest, ledger.written + ledger.reused)
        if not deliver:
            get_run_logger().warning("review: nothing delivered (the briefs are held)")
            return manifest
        return deliver_digests(context.dest, context.settings, manifest, briefs)


def _unwritten(context: RunContext, record: RunRecord, ledger: Ledger,
               exc: StorageError) -> State:
    """The run's end when the night's digests and manifest could not be written (its
    briefs were written whole, or failed alone with the reason): Failed, with the counts and
    the way out; the run's table in the UI names every article's fate."""
    manifest = run_manifest(record)
    publish_results(manifest, ledger.written, ledger.reused, context.settings.languages,
                    time.perf_counter() - context.clock)
    counts = manifest["counts"]
    return Failed(message=(
        f"the night's digests and manifest could not be written: {exc}; "
        f"{counts['succeeded']} of {counts['total']} briefed, {counts['failed']} failed: free "
        f"space (or mend {context.dest}) and run again: the briefs written are reused"))


def _plan_fan_out(settings: BriefsConfig, window: WindowWatch, shards: int) -> int:
    """The shard runs to keep going at once: what fits the window, within
    `scale.max_in_flight`, the shards and the live pool's concurrency limit. A pool that
    cannot start shard runs now (paused, a limit of 0, no worker online) is said: its shards
    wait, up to scale.shard_start_timeout_seconds."""
    most = min(settings.scale.max_in_flight, shards)
    pool = pool_now(settings.scale.shard_deployment)
    if pool is not None:
        most = max(pool.bound(most), 1)  # a limit of 0: the shards wait, and time out
        for problem in pool.problems():
            get_run_logger().warning("%s: the shards wait for it (up to "
                                     "scale.shard_start_timeout_seconds)", problem)
    return window.plan_workers(most, pool.online_workers if pool else None)


def _in_flight(context: RunContext, shard_runs: int) -> RunContext:
    """The context with `scale.max_in_flight` set to the shard runs the window planned."""
    scale = context.settings.scale.model_copy(update={"max_in_flight": shard_runs})
    return replace(context, settings=context.settings.model_copy(update={"scale": scale}))


def _brief_here(context: RunContext, chosen: Chosen, progress: Progress) -> dict[str, Any]:
    """Brief the chosen objects in this process; returns the timings."""
    loaded = Loaded.load(context)
    keeps = chosen.selection.keeps if chosen.selection else None
    Batches(context, loaded, chosen.ledger, keeps).brief(chosen.objects, progress)
    return loaded.timings()


def _run_state(context: RunContext, manifest: dict[str, Any]) -> State:
    """The run's final state by the failure-share policy and the time limit; a partial run
    publishes its failures."""
    unsupported = sum(e.get("reason") == UNSUPPORTED for e in manifest["articles"])
    ending = run_ending(manifest["counts"], unsupported,
                        context.settings.alerts.max_failed_share, context.deadline.missed,
                        f"{context.dest.rstrip('/')}/manifest.json")
    get_run_logger().info(ending.message)
    if ending.ending == "partial":
        publish_partial_run(context.run_id, context.dest, manifest)
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
    context = RunContext(source, dest, settings, spec.run_id, Deadline(seconds), force, clock)
    logger.info("%s of run %s (attempt %d): %d objects under %s", spec.label, spec.run_id,
                spec.attempt + 1, len(spec.keys), source)
    loaded = Loaded.load(context)
    ledger = Ledger()
    objects = spec.objects()
    progress = Progress(len(objects), timezone=settings.schedule.timezone,
                        title=spec.label.capitalize())
    seen = Batches(context, loaded, ledger).brief(objects, progress)
    timings = loaded.timings()
    keep_run_rate(settings, len(ledger.written), timings["brief_seconds"])  # the planner's
    document = shard_result_document(
        spec, str(flow_run.get_id() or "local"), ledger.written, ledger.reused,
        ledger.unbriefed, {article.article_id: digest for digest, article in seen.items()},
        timings)
    write_shard_result(dest, settings, shard_result_key(spec), document)
    failed = sum(f.status == "failed" for f in ledger.unbriefed)
    return Completed(message=f"{spec.label}: {len(ledger.written)} written, "
                             f"{len(ledger.reused)} unchanged, {failed} failed")


def _kept(items: list[Any], keeps: Keeps | None) -> list[Any]:
    """The items a run for chosen articles keeps (all, for a whole run)."""
    return items if keeps is None else [i for i in items if keeps(i)]


@dataclass(frozen=True)
class Write:
    """A write-briefs task run in flight, and the briefs it writes."""

    future: PrefectFuture
    briefs: list[Brief]
    label: str


class Batches:
    """Reads, summarizes, translates and writes objects batch by batch: the next batch is
    read while one generates, and a group's briefs are written while the next generates.
    Every article lands in the ledger (of an object read for chosen articles, those that
    `keeps`)."""

    def __init__(self, context: RunContext, loaded: Loaded, ledger: Ledger,
                 keeps: Keeps | None = None) -> None:
        self.context, self.loaded, self.ledger, self.keeps = context, loaded, ledger, keeps
        self.size = context.settings.batching.articles_per_task
        self.seen: dict[str, Article] = {}  # the articles briefed, by text digest
        self.writes: list[Write] = []  # in flight while the next group generates

    def brief(self, objects: list[ObjectInfo], progress: Progress) -> dict[str, Article]:
        """Brief the objects; returns the articles briefed, by text digest (the first of
        each text)."""
        deadline = self.context.deadline
        batches = _chunks(objects, self.size)
        upcoming = self._read_ahead(batches, 0)
        for number, batch in enumerate(batches, start=1):
            if deadline.passed():
                deadline.mark_missed()
                self._fail(batch, deadline.reason)
                continue
            # The next batch is read and parsed while this one generates.
            current, upcoming = upcoming, self._read_ahead(batches, number)
            items = self._read(current, batch)
            if items is None:
                continue
            self._brief_items(items, f"{number}/{len(batches)}")
            progress.update(number * self.size)
        self._settle_writes()
        return self.seen

    def _read_ahead(self, batches: list[list[ObjectInfo]], index: int) -> PrefectFuture | None:
        """Start reading batch `index` (0-based) in the task runner's threads; None past the
        last batch."""
        if index >= len(batches):
            return None
        return read_articles.submit(self.context.source, batches[index], self.context.settings,
                                    batch=f"{index + 1}/{len(batches)}")

    def _read(self, future: PrefectFuture, batch: list[ObjectInfo]
              ) -> list[Article | Failure] | None:
        """The batch's articles and failures that the run keeps; None when the batch could
        not be read (each of its objects fails)."""
        try:
            items = future.result()
        except Exception as exc:  # retries exhausted or permanent: the whole batch fails
            self._fail(batch, f"could not be read: {exc}")
            return None
        return _kept(items, self.keeps)

    def _fail(self, batch: list[ObjectInfo], reason: str) -> None:
        """Each object of the batch fails with `reason`."""
        self.ledger.unbriefed += _kept([object_failure(self.context.source, o.key, reason)
                                        for o in batch], self.keeps)

    def _brief_items(self, items: list[Article | Failure], label: str) -> None:
        """Brief a batch's articles, group by group, once each text; record its failures."""
        self.ledger.unbriefed += [i for i in items if isinstance(i, Failure)]
        articles, duplicates = drop_duplicates([i for i in items if isinstance(i, Article)],
                                               self.seen)
        self.ledger.unbriefed += duplicates
        groups = _chunks(articles, self.size)
        for part, group in enumerate(groups, start=1):
            self._brief_group(group, label if len(groups) == 1 else f"{label}.{part}")

    def _brief_group(self, group: list[Article], label: str) -> None:
        """Brief one group of articles: reuse unchanged steps (none when `force`), summarize,
        translate, and start writing (the write runs while the next group generates; see
        `_settle_writes`).

        Every article of the group ends up in the ledger, reused or unbriefed, or in `writes`.
        """
        settings, deadline = self.context.settings, self.context.deadline
        timeout = max(min(settings.timeouts.generate_seconds, deadline.remaining()), 1.0)
        setting = ("timeouts.generate_seconds" if timeout == settings.timeouts.generate_seconds
                   else "timeouts.run_seconds")
        try:
            done = self._generate(group, label, timeout)
            release_freed_memory()  # the group's buffers, so a long night's RSS stays flat
            self._settle_writes()  # the previous group's, done while this one generated
            if done:
                self._start_write(done, label)
        except Exception as exc:  # a model step past its time limit, or writes that cannot start
            timed_out = isinstance(exc, TimeoutError)
            if timed_out and setting == "timeouts.run_seconds":
                deadline.mark_missed()  # cut off by the run's limit, even in its last batch
            reason = (f"batch {label} {TIMED_OUT.format(seconds=timeout, setting=setting)}"
                      if timed_out else f"batch {label} failed: {exc}")
            recorded = self.ledger.recorded()
            self.ledger.unbriefed += [Failure(a.article_id, a.source.uri, reason)
                                      for a in group if a.article_id not in recorded]

    def _generate(self, group: list[Article], label: str, timeout: float) -> list[Brief]:
        """Reuse what is unchanged, summarize and translate the rest within `timeout` per
        step; returns the briefs to write, their failures recorded."""
        ctx, ledger = self.context, self.ledger
        plan = (reuse_briefs(ctx.dest, group, ctx.settings, self.loaded.existing, batch=label)
                if self.loaded.existing and not ctx.force else ReusePlan(to_summarize=group))
        self._take_unchanged(plan.unchanged)
        summarized = summarize.with_options(timeout_seconds=timeout)(
            plan.to_summarize, ctx.settings, batch=label) if plan.to_summarize else []
        ledger.unbriefed += [b for b in summarized if isinstance(b, Failure)]
        to_translate = [b for b in summarized if isinstance(b, Brief)] + plan.partial
        translated = translate.with_options(timeout_seconds=timeout)(
            to_translate, ctx.settings, batch=label) if to_translate else []
        ledger.unbriefed += [b for b in translated if isinstance(b, Failure)]
        return [b for b in translated if isinstance(b, Brief)]

    def _take_unchanged(self, unchanged: list[dict[str, Any]]) -> None:
        """Record the up-to-date briefs: reused (and skipped), or written when an earlier
        attempt of this run wrote them (a shard run again)."""
        run_id = self.context.run_id
        self.ledger.written += [d for d in unchanged if made_by_run(d, run_id)]
        earlier = [d for d in unchanged if not made_by_run(d, run_id)]
        self.ledger.reused += earlier
        self.ledger.unbriefed += [Failure(d["article_id"], d["source"]["uri"], ALREADY_BRIEFED,
                                          status="skipped") for d in earlier]

    def _start_write(self, done: list[Brief], label: str) -> None:
        """Submit the write of the group's briefs; it runs while the next group generates."""
        ctx, loaded = self.context, self.loaded
        future = write_briefs.submit(ctx.dest, done, ctx.settings, loaded.versions, ctx.run_id,
                                     loaded.existing, batch=label)
        self.writes.append(Write(future, done, label))

    def _settle_writes(self) -> None:
        """Wait for the writes in flight and record each brief: written, or failed with why."""
        while self.writes:
            write = self.writes.pop(0)
            try:
                results = write.future.result()
            except Exception as exc:  # the task itself broke; per-brief write errors come back
                results = [Failure(b.article_id, b.article.source.uri,
                                   f"batch {write.label} failed: {exc}") for b in write.briefs]
            self.ledger.written += [r for r in results if isinstance(r, dict)]
            self.ledger.unbriefed += [r for r in results if isinstance(r, Failure)]
