"""Crashes, re-runs, concurrent runs and secrets, with `briefs run` in its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import corpus_or_skip
from tests.corpus_sample import summaries
from tests.test_flow import run_logs

pytestmark = pytest.mark.usefixtures("prefect_api")


def cli_env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), **extra}


class Cli:
    """`briefs run` in its own process; its output goes to a file (a pipe could fill up)."""

    def __init__(self, source: Path | str, dest: Path | str, env: dict[str, str]) -> None:
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (lives as long as the run)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", str(source), str(dest), "--languages",
             "de", "--models", "tiny"], env=env, stdout=self.log, stderr=subprocess.STDOUT,
            text=True)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        return self.process.wait(timeout=timeout), self.output()


def start_cli(source: Path | str, dest: Path | str, env: dict[str, str]) -> Cli:
    return Cli(source, dest, env)


def write_articles(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for row in summaries(corpus_or_skip(), count):
        (folder / f"{row['id']}.txt").write_text(row["article"])


def visible_files(dest: Path) -> list[Path]:
    return [p for p in dest.rglob("*") if p.is_file() and not p.name.startswith(".")]


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
    assert all(name.removesuffix(".json") in digest for name in after)


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
    for path in run_manifests:
        counts = json.loads(path.read_text())["counts"]
        assert counts["total"] == 12 and counts["failed"] == 0


def test_credentials_never_reach_logs_or_outputs(s3, tmp_path):
    key_id, secret = "AKIABRIEFSFAKEKEY123", "briefs/Fake+Secret/Key/0123456789abcdefghij"
    s3.create_bucket(Bucket="secret-in")
    s3.create_bucket(Bucket="secret-out")
    for row in summaries(corpus_or_skip(), 3):
        s3.put_object(Bucket="secret-in", Key=f"{row['id']}.txt", Body=row["article"].encode())
    env = cli_env(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
                  PREFECT_LOGGING_LEVEL="DEBUG")
    code, output = start_cli("s3://secret-in/", "s3://secret-out/", env).finish()
    assert code == 0, output

    import boto3

    out = boto3.client("s3")
    written = [out.get_object(Bucket="secret-out", Key=o["Key"])["Body"].read().decode()
               for o in out.list_objects_v2(Bucket="secret-out")["Contents"]]
    manifest = json.loads(out.get_object(Bucket="secret-out", Key="manifest.json")["Body"].read())
    flow_run_id = manifest["run_id"]
    logs = run_logs(flow_run_id)
    parameters = json.dumps(_flow_run_parameters(flow_run_id))
    assert len(written) > 3 and len(logs) > 5
    for text in [output, *written, *logs, parameters]:
        assert key_id not in text and secret not in text


def _flow_run_parameters(flow_run_id: str) -> dict:
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> dict:
        async with get_client() as client:
            return (await client.read_flow_run(flow_run_id)).parameters

    return asyncio.run(read())
