"""The `briefs` command line: `briefs run SOURCE DEST` runs the flow once.

Exit status: 0 when every article succeeded, 2 when some failed (the rest were written),
1 when the run itself failed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from briefs.flows import RUN_LOGGERS
from briefs.tasks.core import log_redaction

ModelsOption = Annotated[str, typer.Option(
    help="model preset (default, tiny) or a local summarizer folder", envvar="BRIEFS_MODELS")]
ConfigOption = Annotated[str | None, typer.Option(
    help="a YAML config file (replaces the preset)", envvar="BRIEFS_CONFIG")]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Turn a night's news into multilingual briefs.")


def prepare_process() -> None:
    """Before any command imports Prefect (it reads its logging settings on import): the
    library loggers whose records reach the run's log in the Prefect UI, and AWS credentials
    redacted from log records (botocore at DEBUG logs signed requests) before any handler."""
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", RUN_LOGGERS)
    log_redaction.install()


@app.callback()
def main() -> None:
    """Turn a night's news into multilingual briefs."""
    prepare_process()


@app.command()
def run(
    source: Annotated[str, typer.Argument(help="folder or s3://bucket/prefix/ of articles")],
    dest: Annotated[str, typer.Argument(help="folder or s3://bucket/prefix/ for the briefs")],
    languages: Annotated[str | None, typer.Option(
        help="target languages, comma-separated (e.g. de,fr,es); default: the config's",
        envvar="BRIEFS_LANGUAGES")] = None,
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
) -> None:
    """Run the briefs flow once over SOURCE, writing to DEST.

    Exit status: 0 every article succeeded; 2 some failed (the rest were written; the run
    itself completed or failed by alerts.max_failed_share); 1 the run itself failed.
    """
    from briefs.flows.briefs_flow import briefs
    from briefs.tasks.core.config import ConfigError, load_config
    from briefs.tasks.generation.targets import SUPPORTED_LANGUAGES

    wanted = [code.strip() for code in languages.split(",") if code.strip()] if languages else None
    if shards is not None:  # config from the environment: the flow reads it where it runs
        os.environ["BRIEFS_SCALE__SHARDS"] = str(shards)
    try:
        load_config(models, config, wanted)  # fail on a bad config before Prefect starts
        if limit is not None and limit < 1:
            raise ConfigError(f"--limit must be at least 1, not {limit}")
        if unknown := sorted(set(wanted or []) - set(SUPPORTED_LANGUAGES)):
            raise ConfigError(f"--languages: {', '.join(unknown)} not supported; choose from "
                              f"{', '.join(SUPPORTED_LANGUAGES)} (or list them in a config file)")
    except ConfigError as exc:
        typer.echo(f"briefs: {exc}", err=True)
        raise typer.Exit(1) from None
    state = briefs(source=source, dest=dest, languages=wanted, models=models, config=config,
                   limit=limit, article_ids=article_id, force=force, return_state=True)
    typer.echo(state.message or state.name)
    manifest = state.result(raise_on_failure=False)
    if isinstance(manifest, dict) and "counts" in manifest:
        raise typer.Exit(2 if manifest["counts"]["failed"] else 0)
    typer.echo(f"briefs: the run failed: {manifest}", err=True)
    raise typer.Exit(1)


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
    """Serve the nightly deployment, with its late-arrivals trigger, from this process (no
    work pool needed)."""
    from prefect import serve as serve_deployments

    from briefs.flows.deployments import NIGHTLY_DEST, NIGHTLY_SOURCE, nightly

    serve_deployments(nightly({}, source or NIGHTLY_SOURCE, dest or NIGHTLY_DEST, models))


if __name__ == "__main__":
    app()
