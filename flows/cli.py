"""The `briefs` command line: `briefs run SOURCE DEST` runs the flow once.

Exit status: 0 when every article succeeded, 2 when some failed (the rest were written),
1 when the run itself failed or the pre-flight check found problems (one `briefs:` line each).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from briefs.flows import RUN_LOGGERS, WARM_POOL
from briefs.tasks.core import log_redaction

if TYPE_CHECKING:
    from briefs.tasks.run.preflight import Report

ModelsOption = Annotated[str, typer.Option(
    help="model preset (default, tiny) or a local summarizer folder", envvar="BRIEFS_MODELS")]
ConfigOption = Annotated[str | None, typer.Option(
    help="a YAML config file (replaces the preset)", envvar="BRIEFS_CONFIG")]
LanguagesOption = Annotated[str | None, typer.Option(
    help="target languages, comma-separated (e.g. de,fr,es); default: the config's",
    envvar="BRIEFS_LANGUAGES")]
DebugOption = Annotated[bool, typer.Option(
    "--debug", help="show tracebacks (a mistake is otherwise one line)", envvar="BRIEFS_DEBUG")]
SourceArgument = Annotated[str, typer.Argument(help="folder or s3://bucket/prefix/ of articles")]
DestArgument = Annotated[str, typer.Argument(
    help="folder or s3://bucket/prefix/ for the briefs")]
# What `make` exports for every command, so that a plain `briefs` run behaves the same: no
# analytics (offline, the telemetry heartbeat logs an ERROR), a patient ephemeral API, and
# the heartbeat the zombie-run automation expects.
PROCESS_DEFAULTS = {
    "PREFECT_LOGGING_EXTRA_LOGGERS": RUN_LOGGERS,
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
}

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn a night's news into multilingual briefs.")


def prepare_process() -> None:
    """Before any command imports Prefect (it reads its settings and logging on import): the
    settings `make` exports (PROCESS_DEFAULTS, each unless set), the library loggers whose
    records reach the run's log in the Prefect UI, and AWS credentials redacted from log
    records (botocore at DEBUG logs signed requests) before any handler."""
    for name, value in PROCESS_DEFAULTS.items():
        os.environ.setdefault(name, value)
    log_redaction.install()


@app.callback()
def main() -> None:
    """Turn a night's news into multilingual briefs."""
    prepare_process()


def _form_models(models: str, config: str | None) -> tuple[str, str]:
    """--models and --config as the flow's run form takes them: `models` a preset, `config`
    a config file or a model folder. A folder beside a config file is its summarizer, set
    as the config loader would (BRIEFS_MODELS__SUMMARIZER__ID, in this process's run)."""
    from typing import get_args

    from briefs.flows.briefs_flow import Preset

    if models in get_args(Preset):
        return models, config or ""
    if not config:
        return "default", models
    os.environ["BRIEFS_MODELS__SUMMARIZER__ID"] = str(Path(models).expanduser().resolve())
    return "default", config


def _wanted(languages: str | None) -> list[str] | None:
    """The --languages flag as a list (None: the config's)."""
    return [code.strip() for code in languages.split(",") if code.strip()] if languages else None


def _flag_problems(wanted: list[str] | None, limit: int | None = None) -> list[str]:
    """Mistakes in the flags alone, one line each."""
    from briefs.tasks.generation.targets import SUPPORTED_LANGUAGES

    problems = []
    if limit is not None and limit < 1:
        problems.append(f"--limit must be at least 1, not {limit}")
    if unknown := sorted(set(wanted or []) - set(SUPPORTED_LANGUAGES)):
        problems.append(f"--languages: {', '.join(unknown)} not supported; choose from "
                        f"{', '.join(SUPPORTED_LANGUAGES)} (or list them in a config file)")
    return problems


def _block_client(block: str, config: Any) -> Any:
    """An S3 client from an AwsCredentials block (imports Prefect: only when one is set)."""
    from briefs.flows.briefs_flow import block_s3_client

    return block_s3_client(block, config)


def _checked(source: str, dest: str, models: str, config: str | None,
             wanted: list[str] | None, problems: list[str], debug: bool) -> Report:
    """The pre-flight's report; on any problem (of the flags, or found), print each as one
    `briefs:` line and exit 1, before any server starts or model loads."""
    from briefs.tasks.run.preflight import preflight

    report = None
    if not problems:
        try:
            report = preflight(source, dest, models=models, config_file=config,
                               languages=wanted, block_client=_block_client)
            problems = report.problems
        except Exception as exc:
            if debug:
                raise
            problems = [f"the pre-flight check broke: {type(exc).__name__}: {exc} (--debug "
                        "shows the traceback)"]
    if problems:
        for problem in problems:
            typer.echo(f"briefs: {problem}", err=True)
        raise typer.Exit(1)
    return report


@app.command()
def check(source: SourceArgument, dest: DestArgument, models: ModelsOption = "default",
          config: ConfigOption = None, languages: LanguagesOption = None,
          debug: DebugOption = False) -> None:
    """Run the pre-flight check alone: the config, the source (readable, at least
    alerts.min_objects objects), the destination (reachable), the credentials and every
    model of the run, in seconds, loading nothing.

    Exit status: 0 ready to run (one `ok` line); 1 problems, one `briefs:` line each.
    """
    wanted = _wanted(languages)
    report = _checked(source, dest, models, config, wanted, _flag_problems(wanted), debug)
    settings = report.settings
    typer.echo(f"ok: {report.source} → {report.dest}, languages {','.join(settings.languages)}, "
               f"summarizer {settings.models.summarizer.id}, config {settings.config_hash()}")


@app.command()
def run(
    source: SourceArgument,
    dest: DestArgument,
    languages: LanguagesOption = None,
    models: ModelsOption = "default",
    config: ConfigOption = None,
    limit: Annotated[int | None, typer.Option(
        help="brief only the first N input objects (a trial run)")] = None,
    shards: Annotated[int | None, typer.Option(
        help="fan out into N shard runs of the shard deployment (scale.shard_deployment) on "
             "the Prefect API's workers; default: this process briefs everything")] = None,
    article_id: Annotated[list[str] | None, typer.Option(
        help="brief only this article (an id from the manifest, or an object key under "
             "SOURCE); repeat for more. The digests are rebuilt from every brief of the night")
    ] = None,
    force: Annotated[bool, typer.Option(
        help="brief again even up-to-date articles (the replaced briefs go to history/)")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Run the briefs flow once over SOURCE, writing to DEST, after the pre-flight check
    (`briefs check`). A progress bar on a terminal, progress lines otherwise; at the end,
    where the briefs, each digest and the manifest are.

    Exit status: 0 every article succeeded; 2 some failed (the rest were written; the run
    itself completed or failed by alerts.max_failed_share); 1 the run itself failed, or the
    pre-flight check found problems (one `briefs:` line each).
    """
    wanted = _wanted(languages)
    if shards is not None:  # config from the environment: the flow reads it where it runs
        os.environ["BRIEFS_SCALE__SHARDS"] = str(shards)
    _checked(source, dest, models, config, wanted, _flag_problems(wanted, limit), debug)
    with _unless_debug(debug):
        from briefs.flows.briefs_flow import briefs

        preset, model_or_config = _form_models(models, config)
        with _terminal(limit) as watch:
            state = briefs(source=source, dest=dest, languages=wanted or [], models=preset,
                           config=model_or_config, limit=limit or 0,
                           article_ids=article_id or [], force=force, return_state=True)
        watch.finish()
        manifest = _result(state)
        if isinstance(manifest, dict) and "counts" in manifest:
            typer.echo(state.message or state.name)
            _where(manifest)
            raise typer.Exit(2 if manifest["counts"]["failed"] else 0)
        for line in (state.message or f"the run failed: {manifest}").splitlines():
            typer.echo(f"briefs: {line}", err=True)
        raise typer.Exit(1)


def _result(state: Any) -> Any:
    """The run's manifest, or what it ended with instead (a Failed state may hold none)."""
    try:
        return state.result(raise_on_failure=False)
    except Exception as exc:
        return exc


def _where(manifest: dict[str, Any]) -> None:
    """The last lines: where the briefs, each digest and the manifest are."""
    from briefs.tasks.output.digest import digest_languages
    from briefs.tasks.output.storage import object_uri

    parameters = manifest.get("parameters", {})
    dest = parameters.get("dest")
    if not dest:
        return
    typer.echo(f"written under {object_uri(dest, '').rstrip('/')}/")
    typer.echo(f"  briefs     {object_uri(dest, 'briefs').rstrip('/')}/ "
               f"({manifest['counts']['succeeded']} briefed by this run)")
    for lang in digest_languages(parameters.get("languages") or []):
        typer.echo(f"  digest {lang:<3} {object_uri(dest, f'digests/{lang}.md')}, "
                   f"{object_uri(dest, f'digests/{lang}.html')}")
    typer.echo(f"  manifest   {object_uri(dest, 'manifest.json')}")


@contextmanager
def _unless_debug(debug: bool) -> Iterator[None]:
    """Without --debug, an error that escapes the run is one `briefs:` line, not a
    traceback (nor are the tracebacks Prefect logs on the terminal)."""
    if debug:
        yield
        return
    with _console_without_tracebacks():
        try:
            yield
        except (typer.Exit, KeyboardInterrupt):
            raise
        except Exception as exc:
            typer.echo(f"briefs: the run broke: {type(exc).__name__}: {exc} (--debug shows "
                       "the traceback)", err=True)
            raise typer.Exit(1) from None


def _console_handlers() -> list[logging.Handler]:
    """Prefect's terminal handlers, wherever its logging config attached them."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(lg for lg in list(logging.Logger.manager.loggerDict.values())
                                      if isinstance(lg, logging.Logger))]
    found = {id(h): h for lg in loggers for h in lg.handlers
             if isinstance(h, PrefectConsoleHandler)}
    return list(found.values())


class _WithoutTraceback(logging.Formatter):
    """A formatter that leaves out the traceback (and stack) of the records it formats."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


@contextmanager
def _console_without_tracebacks() -> Iterator[None]:
    """Prefect's terminal output without tracebacks; the run's log (the UI's) keeps them."""
    from briefs.flows import briefs_flow  # noqa: F401  (Prefect's logging is set up on import)

    handlers = _console_handlers()
    formatters = [h.formatter for h in handlers]
    for handler, formatter in zip(handlers, formatters, strict=True):
        handler.setFormatter(_WithoutTraceback(formatter))
    try:
        yield
    finally:
        for handler, formatter in zip(handlers, formatters, strict=True):
            handler.setFormatter(formatter)


# The task-run log records a run in this process is followed by (tasks/steps.py writes them):
# (task name, start of the message template).
LISTED = ("list-articles", "found ")
BATCH_STEPS = ("read-articles", "translate", "write-briefs", "reuse-briefs")


class RunWatch(logging.Handler):
    """Follows a run of this process through its task runs' log records: the objects listed,
    each batch's objects and articles as it is read, the articles written, unchanged or
    failed. `changed` is called on each batch done (from the task runner's threads)."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.total: int | None = None  # objects listed (at most --limit)
        self.batches: dict[str, int] = {}  # objects per batch read, by label
        self.done: set[str] = set()  # batches through generation
        self.found = self.written = self.unchanged = self.failed = 0
        self.started: float | None = None  # the first batch read: generation began
        self.changed: Callable[[RunWatch, str], None] | None = None
        self.guard = threading.RLock()

    def emit(self, record: logging.LogRecord) -> None:
        task, message = getattr(record, "task_name", None), str(record.msg)
        args = record.args if isinstance(record.args, tuple) else ()
        with self.guard:
            event = self._take(task, message, args)
        if event and self.changed:
            self.changed(self, event)

    def _take(self, task: str | None, message: str, args: tuple) -> str | None:
        """Count one record; what changed: `objects` (listed, read, through generation),
        `articles` (written or unchanged), or None."""
        if (task, message[:len(LISTED[1])]) == LISTED and args:
            self.total = min(args[0], self.limit or args[0])
            return "objects"
        if message.startswith("article ") and "failed" in message:
            self.failed += 1
            return None
        if not message.startswith("batch ") or not args or task not in BATCH_STEPS:
            return None
        if task == "read-articles":
            self.batches[args[0]] = args[1]
            self.found += args[2]
            self.started = self.started or time.monotonic()
            return None
        self.done.add(str(args[0]).split(".")[0])  # the batch of group `n/m.k` is n/m
        if task == "write-briefs":
            self.written += args[1]
        elif task == "reuse-briefs":
            self.unchanged += args[1]
        return "articles" if task in ("write-briefs", "reuse-briefs") else "objects"

    def objects_done(self) -> int:
        """Objects of the batches through generation."""
        with self.guard:
            return sum(n for batch, n in self.batches.items() if batch in self.done)

    def line(self) -> str:
        """Articles done, articles/min and the time left, as one line."""
        with self.guard:
            articles = self.written + self.unchanged + self.failed
            done, total, started = self.objects_done(), self.total, self.started
            counts = f"{self.written} written, {self.unchanged} unchanged, {self.failed} failed"
        minutes = (time.monotonic() - started) / 60 if started else 0
        rate = articles / minutes if minutes > 0 else 0.0
        left = ""
        if done and total and minutes and done < total:
            left = f", about {_duration((total - done) * minutes * 60 / done)} left"
        return f"{articles} articles done ({counts}), {rate:.1f} articles/min{left}"

    def finish(self) -> None:
        """Stop following (the handler is removed by `_terminal`)."""
        self.changed = None


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


@contextmanager
def _terminal(limit: int | None) -> Iterator[RunWatch]:
    """Follow the run: a progress bar on a terminal (drawn on Prefect's console, so its log
    lines print above the bar), else a progress line per batch done."""
    handlers = _console_handlers()
    console = getattr(handlers[0], "console", None) if handlers else None
    watch = RunWatch(limit=limit)
    logging.getLogger("prefect.task_runs").addHandler(watch)
    try:
        if console is not None and console.is_terminal:
            with _bar(console, watch):
                yield watch
        else:
            watch.changed = _print_progress
            yield watch
    finally:
        logging.getLogger("prefect.task_runs").removeHandler(watch)


def _print_progress(watch: RunWatch, event: str) -> None:
    """A progress line each time articles are done (a batch written)."""
    if event != "articles":
        return
    total = "?" if watch.total is None else watch.total
    typer.echo(f"progress: {watch.objects_done()}/{total} objects, {watch.line()}", err=True)


@contextmanager
def _bar(console: Any, watch: RunWatch) -> Iterator[None]:
    """A rich progress bar of objects done, with articles, their rate and the time left."""
    from rich.default_styles import DEFAULT_STYLES
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text
    from rich.theme import Theme

    class Detail(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(watch.line())

    # Prefect's console has a theme of its own: add the bar's styles to it while it shows.
    console.push_theme(Theme({name: style for name, style in DEFAULT_STYLES.items()
                              if name.startswith(("bar.", "progress."))}))
    try:
        with Progress(TextColumn("briefing"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("objects"), Detail(), console=console,
                      refresh_per_second=2) as bar:
            task = bar.add_task("briefing", total=None)

            def changed(w: RunWatch, event: str) -> None:
                bar.update(task, completed=w.objects_done(), total=w.total, refresh=True)

            watch.changed = changed
            yield
            if watch.total is not None:
                bar.update(task, completed=watch.total, total=watch.total)
    finally:
        console.pop_theme()


@app.command()
def notify(
    message: Annotated[str, typer.Argument(
        help="a file holding the S3 event notification (JSON), or - for standard input")] = "-",
) -> None:
    """Send a `briefs.object.created` event to the Prefect API (PREFECT_API_URL) for each
    object an S3 event notification names as created: the nightly deployment's trigger
    briefs them. Reads the notification as S3 sends it to SQS, SNS, EventBridge or a
    webhook, or an `aws sqs receive-message` response or one message of it.

    Exit status: 0 sent (or nothing created to send); 1 not a notification, or the API
    cannot be reached.
    """
    import asyncio
    import sys

    from briefs.tasks.events import OBJECT_CREATED, emit_created
    from briefs.tasks.ingest.s3_notifications import NotificationError, created_objects

    try:
        text = sys.stdin.read() if message == "-" else Path(message).read_text(encoding="utf-8")
        objects = created_objects(text)
    except (OSError, NotificationError) as exc:
        typer.echo(f"briefs notify: {message}: {exc}", err=True)
        raise typer.Exit(1) from None
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        typer.echo("briefs notify: set PREFECT_API_URL (or a Prefect profile's) to the "
                   "Prefect server of the deployment: the events go there", err=True)
        raise typer.Exit(1)
    try:
        asyncio.run(emit_created(objects))
    except Exception as exc:  # refused connection, bad URL: say so, exit non-zero
        typer.echo(f"briefs notify: the events could not be sent: {exc}", err=True)
        raise typer.Exit(1) from None
    for item in objects:
        typer.echo(f"{OBJECT_CREATED} {item.uri}")


@app.command()
def extract(
    paths: Annotated[list[Path], typer.Argument(help="input files (html, txt, md, json, jsonl, "
                                                "optionally .gz)", exists=True, dir_okay=False)],
    models: ModelsOption = "default",
    config: ConfigOption = None,
) -> None:
    """Print what a run would see of each file, one JSON line per article: path, title,
    text, language, url, published (and `error` for one that fails).

    Exit status: 0 every article was extracted, 2 some failed.
    """
    from briefs.tasks.core.config import ConfigError, load_config
    from briefs.tasks.ingest.extract import extract_file

    try:
        settings = load_config(models, config)
    except ConfigError as exc:
        typer.echo(f"briefs: {exc}", err=True)
        raise typer.Exit(1) from None
    failed = False
    for path in paths:
        for record in extract_file(path, settings.limits, settings.sources.min_confidence):
            failed = failed or "error" in record
            typer.echo(json.dumps(record, ensure_ascii=False))
    raise typer.Exit(2 if failed else 0)


@app.command("eval")
def eval_(
    models: ModelsOption = "default",
    config: ConfigOption = None,
    languages: Annotated[str | None, typer.Option(
        help="target languages to score, comma-separated (the corpus has de, fr, es, ro); "
             "default: the config's", envvar="BRIEFS_LANGUAGES")] = None,
    limit: Annotated[int, typer.Option(
        help="score the first N summaries and the first N sentences per language")] = 100,
    summaries_from: Annotated[str | None, typer.Option(
        help="only summary rows whose corpus source contains this (e.g. cnn)")] = None,
    out: Annotated[str | None, typer.Option(help="write the report (JSON) here")] = None,
    baseline: Annotated[str | None, typer.Option(
        help="a saved report to compare against")] = None,
    max_drop: Annotated[float, typer.Option(
        help="points a score may drop below the baseline's")] = 1.0,
) -> None:
    """Score the models on the shared corpus (ROUGE of summaries, BLEU and chrF of
    translations), print the scores and compare them with a saved baseline report.

    Exit status: 0 scored (and no score dropped below the baseline by more than
    --max-drop); 3 a score dropped, is missing or is not comparable; 1 the run failed.
    """
    from briefs.flows.eval_flow import QUALITY_DROPPED, briefs_eval
    from briefs.tasks.core.config import ConfigError, load_config
    from briefs.tasks.quality.evaluation import (
        EvaluationError,
        comparison_table,
        corpus_dir,
        read_report,
        read_summaries,
    )

    wanted = [code.strip() for code in languages.split(",") if code.strip()] if languages else None
    try:
        load_config(models, config, wanted)  # fail on a bad config before Prefect starts
        if limit < 1:
            raise ConfigError(f"--limit must be at least 1, not {limit}")
        if max_drop < 0:
            raise ConfigError(f"--max-drop must be at least 0, not {max_drop}")
        before = read_report(baseline) if baseline else None
        read_summaries(corpus_dir(), 1)  # names the corpus folder when it is absent
    except (ConfigError, EvaluationError) as exc:
        typer.echo(f"briefs: {exc}", err=True)
        raise typer.Exit(1) from None
    state = briefs_eval(models=models, config=config, languages=wanted, limit=limit,
                        summaries_from=summaries_from, baseline=baseline, max_drop=max_drop,
                        out=out, return_state=True)
    report = state.result(raise_on_failure=False)
    if not isinstance(report, dict) or "summaries" not in report:
        typer.echo(f"briefs: the evaluation failed: {report}", err=True)
        raise typer.Exit(1)
    for row in comparison_table(report, before, []):
        base = "" if row["baseline"] is None else f"  baseline {row['baseline']:.2f}"
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        typer.echo(f"{row['metric']:<24} {value:>7}  n {row['n']}{base}")
    if state.name == QUALITY_DROPPED:
        typer.echo(f"briefs: {state.message}", err=True)
        raise typer.Exit(3)
    typer.echo(state.message or state.name)


@app.command()
def serve(
    source: Annotated[str | None, typer.Option(
        help="source URI; {date} is the run's date (default: the nightly deployment's)")] = None,
    dest: Annotated[str | None, typer.Option(
        help="destination URI (default: the nightly deployment's)")] = None,
    models: Annotated[str, typer.Option(help="model preset", envvar="BRIEFS_MODELS")] = "default",
) -> None:
    """Serve the nightly deployment, and its late arrivals' with their trigger, from this
    process (no work pool needed)."""
    from prefect import serve as serve_deployments

    from briefs.flows.deployments import NIGHTLY_DEST, NIGHTLY_SOURCE, night

    serve_deployments(*night({}, source or NIGHTLY_SOURCE, dest or NIGHTLY_DEST, models))


@app.command("warm-worker")
def warm_worker(
    pool: Annotated[str, typer.Option(help="the work pool of the warm shard deployment")] =
        WARM_POOL,
    name: Annotated[str | None, typer.Option(help="the worker's name in the UI")] = None,
    cancel_poll: Annotated[float | None, typer.Option(
        help="seconds between reads of a running shard run's state, to see it cancelled "
             "(default: flows/warm_worker.py's CANCEL_POLL_SECONDS)")] = None,
) -> None:
    """Run the pool's shard runs in this process, one at a time, keeping the models loaded
    between them (a worker of type briefs-warm; docs/scaling.md#warm-workers). SIGTERM or
    Ctrl-C: it takes no more runs and stops once its shard run ends; a second one kills it."""
    import anyio
    from prefect.utilities.processutils import setup_signal_handlers_worker

    from briefs.flows.warm_worker import serve as serve_warm

    setup_signal_handlers_worker(os.getpid(), "the warm worker", typer.echo)
    anyio.run(serve_warm, pool, name, cancel_poll)

if __name__ == "__main__":
    app()
