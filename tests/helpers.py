"""Helpers the test modules share (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse

from briefs.tasks.core.config import CONFIGS_DIR

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
CORPUS = Path(os.environ.get("BRIEFS_CORPUS", REPO.parent / "shared" / "corpus"))


def missing(reason: str) -> NoReturn:
    """Skip a test whose prerequisite is missing; in CI (`CI` set, non-empty) fail it instead,
    so that CI cannot go green without running it."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def corpus_or_skip() -> Path:
    """The shared corpus; a test without it skips (fails in CI)."""
    if not CORPUS.is_dir():
        missing(f"the shared test corpus is absent (looked in {CORPUS}); set BRIEFS_CORPUS")
    return CORPUS


TRANSFORMERS = {"engine": "transformers", "compute_type": "float32"}


CTRANSLATE2 = {"engine": "ctranslate2", "compute_type": "float32"}


def tiny_model(role: str, engine: dict[str, str]):
    """A tiny model (`summarizer` or a translator's language) on the given engine."""
    from briefs.tasks.core.config import RuntimeConfig, load_config
    from briefs.tasks.models.loading import load_model

    models = load_config("tiny").models
    ref = models.summarizer if role == "summarizer" else models.translator(role)
    return load_model(ref, RuntimeConfig(**engine))


class FailingS3:
    """A botocore hook that answers the first `times` matching requests with 503 SlowDown."""

    def __init__(self, times: int, operation: str = "GetObject") -> None:
        self.left = times
        self.event = f"before-send.s3.{operation}"
        self.failed = 0

    def __call__(self, request, **_):
        if self.left <= 0:
            return None
        self.left -= 1
        self.failed += 1
        body = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
        return AWSResponse(request.url, 503, {}, RawBody(body))

    def __enter__(self):
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register(self.event, self)
        return self

    def __exit__(self, *exc):
        boto3.DEFAULT_SESSION.events.unregister(self.event, self)


def run_cli(*args: str) -> tuple[int, str]:
    """`briefs run ...` in its own process, against the session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run([sys.executable, "-m", "briefs.flows.cli", "run", *args], env=env,
                          capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def briefs_command(*args: str, env: dict[str, str] | None = None,
                   timeout: float = 120) -> tuple[int, str, float]:
    """`briefs ARGS...` in its own process with this environment (changed by `env`; a None
    value removes a variable): exit status, stdout and stderr together, seconds taken."""
    import time

    environment = {**os.environ, **{k: v for k, v in (env or {}).items() if v is not None}}
    for name in [k for k, v in (env or {}).items() if v is None]:
        environment.pop(name, None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "briefs.flows.cli", *args], env=environment,
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def problem_lines(output: str) -> list[str]:
    """The `briefs: ...` lines of a command's output (one per problem)."""
    return [line for line in output.splitlines() if line.startswith("briefs: ")]


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def screenshots(tmp_path: Path) -> Path:
    """Where the browser test saves its screenshots: $BRIEFS_TEST_ARTIFACTS, else tmp_path."""
    folder = Path(os.environ.get("BRIEFS_TEST_ARTIFACTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def s3_record(key: str, event: str = "ObjectCreated:Put", bucket: str = "news-in") -> dict:
    """A record as S3 writes it: the key URL-encoded, spaces as +."""
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": event,
            "eventTime": "2026-11-28T09:14:03.120Z",
            "s3": {"bucket": {"name": bucket}, "object": {
                "key": key, "size": 1234, "eTag": "0123abcd", "sequencer": "0065F0A1"}}}


def tiny_config(folder: Path, name: str, **changes) -> str:
    """The tiny preset with some keys replaced (nested dicts are merged)."""
    config = yaml.safe_load((CONFIGS_DIR / "tiny.yaml").read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = _merged(config[key], value)
        else:
            config[key] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


SLOW_SUMMARIES = {"summary": {"num_beams": 16, "min_new_tokens": 250, "max_new_tokens": 250}}


class RawBody:
    """A response body botocore streams from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


def _merged(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        is_nested = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merged(base[key], value) if is_nested else value
    return merged


def digest_night_line(markdown: str) -> str:
    """The line under a Markdown digest's heading: its language, source and counts."""
    return markdown.split("\n")[2]


def digest_footer(markdown: str) -> str:
    """The last line of a Markdown digest: the run that wrote it."""
    return markdown.rstrip().split("\n")[-1]


def non_printing_in(text: str) -> list[str]:
    """The control and other non-printing characters in `text` (line feeds and tabs
    aside), as `U+XXXX`."""
    from briefs.tasks.quality.cleaning import non_printing

    return [f"U+{ord(c):04X}" for c in text if non_printing(c)]


def brief_locally(source: Path, dest: Path, objects: dict[str, bytes], languages: list[str],
                  run_id: str = "night-local") -> dict:
    """Brief `objects` (key → bytes, written under `source`) with the tiny models through the
    plain pipeline steps, no Prefect, and write the briefs, digests and manifest under
    `dest` as a run does; returns the run's manifest."""
    from briefs.tasks.core.config import load_config
    from briefs.tasks.core.records import Brief, Failure
    from briefs.tasks.output.run_outputs import RunRecord, write_night
    from briefs.tasks.output.storage import LocalStore
    from briefs.tasks.run import pipeline

    for key, data in objects.items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(data)
    config = load_config("tiny").model_copy(update={"languages": languages})
    store_in, store_out = LocalStore(source), LocalStore(dest)
    models = pipeline.model_versions(pipeline.load_all_models(config))
    read = pipeline.read_articles(store_in, store_in.list(), config)
    articles = [a for a in read if not isinstance(a, Failure)]
    summarized = pipeline.summarize_articles(articles, config)
    translated = pipeline.translate_briefs([b for b in summarized if isinstance(b, Brief)],
                                           config)
    written = pipeline.write_briefs(store_out, [b for b in translated if isinstance(b, Brief)],
                                    config, models, run_id, set())
    failures = [r for r in [*read, *summarized, *translated, *written]
                if isinstance(r, Failure)]
    record = RunRecord(run_id=run_id, started_at="2026-11-28T02:00:00+00:00",
                       parameters={"source": str(source), "date": None}, timings={},
                       written=[w for w in written if isinstance(w, dict)],
                       unbriefed=failures)
    return write_night(store_out, record, languages).manifest


# --- delivery to real sinks on loopback (tests/test_delivery.py, tests/test_review.py) ------

HOOK_BLOCK = "custom-webhook/briefs-test-hook"
SMTP_BLOCK = "email-server-credentials/briefs-test-smtp"


class Webhook:
    """An HTTP receiver on loopback: keeps each POSTed JSON body, answers `status`."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                receiver.posts.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/SECRET-TOKEN"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """What an aiosmtpd server on loopback received."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's)
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def save_delivery_blocks(hook_url: str, smtp_port: int) -> None:
    """The webhook and SMTP blocks (HOOK_BLOCK, SMTP_BLOCK), saved in the session's Prefect
    API."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect_email import EmailServerCredentials

    CustomWebhookNotificationBlock(
        name="briefs", url=hook_url, json_data={"subject": "{{subject}}", "body": "{{body}}"},
        timeout=5,
    ).save("briefs-test-hook", overwrite=True)
    EmailServerCredentials(smtp_server="127.0.0.1", smtp_type="INSECURE",
                           smtp_port=smtp_port).save("briefs-test-smtp", overwrite=True)


def configure_delivery(monkeypatch: pytest.MonkeyPatch, retries: int = 3,
                       blocks: tuple[str, ...] = (HOOK_BLOCK, SMTP_BLOCK)) -> None:
    """Delivery through `blocks` by the environment, as a worker would have it."""
    import json

    monkeypatch.setenv("BRIEFS_DELIVERY__NOTIFICATION_BLOCKS", json.dumps(list(blocks)))
    monkeypatch.setenv("BRIEFS_DELIVERY__EMAIL_TO", '["desk@example.org"]')
    monkeypatch.setenv("BRIEFS_DELIVERY__EMAIL_FROM", "briefs@example.org")
    monkeypatch.setenv("BRIEFS_DELIVERY__RETRIES", str(retries))
    monkeypatch.setenv("BRIEFS_DELIVERY__RETRY_DELAY_SECONDS", "0")


def deployment_of(flow, name: str, parameters: dict) -> str:
    """The id of a deployment of `flow` with these parameters, made on the session's API
    through its client (no pool: as `briefs serve` makes them). Name it apart from the real
    ones (briefs/nightly, briefs-shard/shard): the API is shared by a worker's tests, and a
    run that finds a `briefs-shard/shard` fans out to it."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(flow.name)
        return str(client.create_deployment(flow_id=flow_id, name=name,
                                            parameters=parameters))


def flow_run_state_names(flow_run_id) -> list[str]:
    """The flow run's state history, oldest first, by name (Paused, Running, ...)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(flow_run_id)
    return [s.name for s in sorted(states, key=lambda s: s.timestamp)]


def run_logs(flow_run_id, task_names: bool = False, page: int = 200) -> list[str]:
    """Every log message of a flow run, read page by page (the API returns 200 at most). With
    `task_names`, each line as the Prefect UI shows it: `task run name: message` (`flow: ...`
    for the flow's own lines)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()

    async def read() -> list[str]:
        lines: list[str] = []
        names: dict = {}
        async with get_client() as client:
            while batch := await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(
                    any_=[flow_run_id])), limit=page, offset=len(lines)):
                for log in batch:
                    if not task_names:
                        lines.append(log.message)
                        continue
                    if log.task_run_id and log.task_run_id not in names:
                        names[log.task_run_id] = (await client.read_task_run(log.task_run_id)).name
                    lines.append(f"{names.get(log.task_run_id, 'flow')}: {log.message}")
        return lines

    return asyncio.run(read())
