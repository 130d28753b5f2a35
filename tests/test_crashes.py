"""Crashes, re-runs, concurrent runs and secrets, with `briefs run` in its own process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.corpus_sample import summaries
from tests.helpers import corpus_or_skip, run_logs

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

pytestmark = pytest.mark.usefixtures("prefect_api")


def cli_env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), **extra}


class Cli:
    """`briefs run` in its own process; its output goes to a file (a pipe could fill up)."""

    started: list[Cli] = []

    def __init__(self, source: Path | str, dest: Path | str, env: dict[str, str],
                 *options: str) -> None:
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (lives as long as the run)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "briefs.flows.cli", "run", str(source), str(dest), "--languages",
             "de", "--models", "tiny", *options], env=env, stdout=self.log,
            stderr=subprocess.STDOUT, text=True)
        Cli.started.append(self)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        return self.process.wait(timeout=timeout), self.output()


@pytest.fixture(autouse=True)
def no_run_outlives_its_test() -> Iterator[None]:
    """A test that fails or times out leaves no `briefs run` process behind."""
    yield
    while Cli.started:
        process = Cli.started.pop().process
        if process.poll() is None:
            process.kill()
            process.wait()


def start_cli(source: Path | str, dest: Path | str, env: dict[str, str], *options: str) -> Cli:
    return Cli(source, dest, env, *options)


def write_articles(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for row in summaries(corpus_or_skip(), count):
        (folder / f"{row['id']}.txt").write_text(row["article"])


def visible_files(dest: Path) -> list[Path]:
    return [p for p in dest.rglob("*") if p.is_file() and not p.name.startswith(".")]


@pytest.mark.timeout(300)  # measured 55 s, starting the session's API
def test_a_killed_run_resumes_without_losing_or_repeating_work(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    write_articles(source, 40)
    env = cli_env(BRIEFS_BATCHING__ARTICLES_PER_TASK="4")
    first = start_cli(source, dest, env)
    deadline = time.monotonic() + 300
    while len(list((dest / "briefs").glob("*.json"))) < 8:
        assert first.process.poll() is None and time.monotonic() < deadline, first.output()
        time.sleep(0.05)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()

    survivors = {p.name: p.read_bytes() for p in (dest / "briefs").glob("*.json")}
    assert 8 <= len(survivors) < 40
    for path in visible_files(dest):
        json.loads(path.read_text())  # whatever a reader can see is whole and valid

    code, output = start_cli(source, dest, env).finish()
    assert code == 0, output
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["counts"]["total"] == 40 and manifest["counts"]["failed"] == 0
    skipped = [e for e in manifest["articles"] if e["status"] == "skipped"]
    assert {f"{e['article_id']}.json" for e in skipped} == set(survivors)
    assert all("already briefed" in e["reason"] for e in skipped)
    after = {p.name: p.read_bytes() for p in (dest / "briefs").glob("*.json")}
    assert len(after) == 40
    assert all(after[name] == data for name, data in survivors.items())  # not redone
    digest = (dest / "digests" / "de.md").read_text()
    assert all(json.loads(data)["source"]["key"] in digest for data in after.values())


@pytest.mark.timeout(480)  # measured 100-130 s on 2 busy cores
def test_two_runs_on_one_destination_at_once(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    write_articles(source, 12)
    env = cli_env()
    runs = [start_cli(source, dest, env) for _ in range(2)]
    results = [run.finish() for run in runs]
    assert [code for code, _ in results] == [0, 0], results
    assert len(list((dest / "briefs").glob("*.json"))) == 12
    for path in visible_files(dest):  # every visible object whole: JSON parses, text decodes
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            json.loads(text)
    run_manifests = list((dest / "runs").glob("*/manifest.json"))
    assert len(run_manifests) == 2  # each run keeps its own record
    run_ids = []
    for path in run_manifests:
        manifest = json.loads(path.read_text())
        assert manifest["run_id"] == path.parent.name
        assert manifest["counts"]["total"] == 12 and manifest["counts"]["failed"] == 0
        run_ids.append(manifest["run_id"])
    first, second = (_flow_run(run_id) for run_id in run_ids)
    spans = [(run.start_time, run.end_time) for run in (first, second)]
    assert first.start_time < second.end_time and second.start_time < first.end_time, spans


SECRET_KEY_ID = "AKIABRIEFSFAKEKEY123"
SECRET_KEY = "briefs/Fake+Secret/Key/0123456789abcdefghij"
SIGNED_REQUEST = "AWS4-HMAC-SHA256 Credential="  # botocore's DEBUG line of a signed request


def keys_for_the_run(keys_from: str, env: dict[str, str], s3_endpoint: str,
                     tmp_path: Path) -> list[str]:
    """Give `briefs run` the fake keys, in its environment or through an AwsCredentials block
    named in a config file; return the extra command-line options."""
    if keys_from == "environment":
        env.update(AWS_ACCESS_KEY_ID=SECRET_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        return []
    from prefect_aws import AwsClientParameters, AwsCredentials

    from briefs.tasks.core.config import CONFIGS_DIR

    AwsCredentials(aws_access_key_id=SECRET_KEY_ID, aws_secret_access_key=SECRET_KEY,
                   region_name="us-east-1",
                   aws_client_parameters=AwsClientParameters(endpoint_url=s3_endpoint),
                   ).save("secrets-test-s3", overwrite=True)
    config = tmp_path / "tiny-with-block.yaml"
    config.write_text((CONFIGS_DIR / "tiny.yaml").read_text()
                      + "storage: {aws_credentials_block: secrets-test-s3}\n")
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        del env[name]  # only the block knows the endpoint and the keys
    return ["--config", str(config)]


def lines_with(texts: list[str], needles: tuple[str, ...]) -> list[str]:
    """The lines of `texts` that contain any of `needles`."""
    return [line for text in texts for line in text.splitlines()
            if any(needle in line for needle in needles)]


@pytest.mark.timeout(240)  # measured 16-40 s each
@pytest.mark.parametrize("keys_from", ["environment", "aws-credentials-block"])
def test_credentials_never_reach_logs_or_outputs(keys_from, s3, s3_endpoint, tmp_path):
    """At DEBUG, botocore included (it logs every signed request), the keys appear nowhere."""
    bucket_in, bucket_out = f"secret-in-{keys_from}", f"secret-out-{keys_from}"
    s3.create_bucket(Bucket=bucket_in)
    s3.create_bucket(Bucket=bucket_out)
    for row in summaries(corpus_or_skip(), 3):
        s3.put_object(Bucket=bucket_in, Key=f"{row['id']}.txt", Body=row["article"].encode())
    # PREFECT_LOGGING_LEVEL is only Prefect's own loggers; the root level is botocore's.
    env = cli_env(PREFECT_LOGGING_LEVEL="DEBUG", PREFECT_LOGGING_ROOT_LEVEL="DEBUG")
    options = keys_for_the_run(keys_from, env, s3_endpoint, tmp_path)
    code, output = start_cli(f"s3://{bucket_in}/", f"s3://{bucket_out}/", env, *options).finish()
    assert code == 0, output[-5000:]

    import boto3

    out = boto3.client("s3")
    written = [out.get_object(Bucket=bucket_out, Key=o["Key"])["Body"].read().decode()
               for o in out.list_objects_v2(Bucket=bucket_out)["Contents"]]
    manifest = json.loads(out.get_object(Bucket=bucket_out, Key="manifest.json")["Body"].read())
    flow_run_id = manifest["run_id"]
    logs = run_logs(flow_run_id)
    parameters = json.dumps(_flow_run(flow_run_id).parameters)
    assert len(written) > 3 and len(logs) > 5
    # Not vacuous: botocore's DEBUG lines, signed requests included, reached both places.
    assert re.search(r"\| DEBUG\s+\| botocore\.", output), output[-3000:]
    signed = (lines_with([output], (SIGNED_REQUEST,)), lines_with(logs, (SIGNED_REQUEST,)))
    assert signed[0] and signed[1], (output[-3000:], logs[-20:])
    leaks = lines_with([output, *written, *logs, parameters], (SECRET_KEY_ID, SECRET_KEY))
    assert not leaks, f"{len(leaks)} lines with a key, e.g. {leaks[:3]}"


def _flow_run(flow_run_id: str) -> FlowRun:
    """The flow run as the Prefect API has it."""
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> FlowRun:
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)

    return asyncio.run(read())
