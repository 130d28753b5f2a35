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

from tasks import log_redaction

# Library loggers whose records should reach the run's log in the Prefect UI.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "tasks,transformers,botocore")
# botocore at DEBUG logs signed requests: AWS credentials are redacted before any handler.
log_redaction.install()

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Turn a night's news into multilingual briefs.")


@app.callback()
def main() -> None:
    """Turn a night's news into multilingual briefs."""


@app.command()
def run(
    source: Annotated[str, typer.Argument(help="folder or s3://bucket/prefix/ of articles")],
    dest: Annotated[str, typer.Argument(help="folder or s3://bucket/prefix/ for the briefs")],
    languages: Annotated[str | None, typer.Option(
        help="target languages, comma-separated (e.g. de,fr,es); default: the config's",
        envvar="BRIEFS_LANGUAGES")] = None,
    models: Annotated[str, typer.Option(
        help="model preset (default, tiny) or a local summariser folder",
        envvar="BRIEFS_MODELS")] = "default",
    config: Annotated[str | None, typer.Option(
        help="a YAML config file (replaces the preset)", envvar="BRIEFS_CONFIG")] = None,
    limit: Annotated[int | None, typer.Option(
        help="brief only the first N input objects (a trial run)")] = None,
    shards: Annotated[int | None, typer.Option(
        help="fan out into N shard runs of the shard deployment (scale.shard_deployment) on "
             "the Prefect API's workers; default: this process briefs everything")] = None,
) -> None:
    """Run the briefs flow once over SOURCE, writing to DEST.

    Exit status: 0 every article succeeded; 2 some failed (the rest were written; the run
    itself completed or failed by alerts.max_failed_share); 1 the run itself failed.
    """
    from flows.briefs_flow import briefs
    from tasks.config import ConfigError, load_config
    from tasks.languages import SUPPORTED_LANGUAGES

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
                   limit=limit, return_state=True)
    typer.echo(state.message or state.name)
    manifest = state.result(raise_on_failure=False)
    if isinstance(manifest, dict) and "counts" in manifest:
        raise typer.Exit(2 if manifest["counts"]["failed"] else 0)
    typer.echo(f"briefs: the run failed: {manifest}", err=True)
    raise typer.Exit(1)


@app.command()
def extract(
    paths: Annotated[list[Path], typer.Argument(help="input files (html, txt, md, json, jsonl, "
                                                "optionally .gz)", exists=True, dir_okay=False)],
    models: Annotated[str, typer.Option(help="model preset whose limits apply",
                                        envvar="BRIEFS_MODELS")] = "default",
    config: Annotated[str | None, typer.Option(
        help="a YAML config file (replaces the preset)", envvar="BRIEFS_CONFIG")] = None,
) -> None:
    """Print what a run would see of each file, one JSON line per article: path, title,
    text, language, url, published (and `error` for one that fails).

    Exit status: 0 every article was extracted, 2 some failed.
    """
    from tasks.config import ConfigError, load_config
    from tasks.extract import extract_file

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


@app.command()
def serve(
    source: Annotated[str, typer.Option(help="source URI; {date} is the run's date")] = (
        "s3://news-in/{date}/"),
    dest: Annotated[str, typer.Option(help="destination URI; {date} is the run's date")] = (
        "s3://news-briefs/{date}/"),
    models: Annotated[str, typer.Option(help="model preset", envvar="BRIEFS_MODELS")] = "default",
) -> None:
    """Serve the nightly deployment from this process (no work pool needed)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    from flows.briefs_flow import briefs
    from tasks.config import load_config

    schedule = load_config(models).schedule
    briefs.serve(
        name="nightly",
        schedules=[Cron(schedule.cron, timezone=schedule.timezone, slug="nightly-0200")],
        parameters={"source": source, "dest": dest, "models": models},
        global_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
    )


if __name__ == "__main__":
    app()
