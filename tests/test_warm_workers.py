"""Warm workers (`briefs warm-worker`): a night's shards run in two long-lived worker processes
that keep their models loaded, one of which is killed mid-shard; then a shard run cancelled
while it runs. A real Prefect server on its own PostgreSQL database, `make deploy`, a process
worker for the parent run, moto S3 behind a proxy that counts every write, all on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from briefs.flows import WARM_POOL, WARM_SHARD_DEPLOYMENT
from briefs.flows.warm_worker import CANCELLED_EXIT
from briefs.tasks.ingest.articles import article_id_for
from briefs.tasks.run.shards import ShardSpec, shard_result_key
from tests.fanned_night import (
    NIGHT,
    assert_each_brief_written_once_and_whole,
    assert_the_killed_shard_ran_again,
    brief_keys,
    child_runs,
    pid_of,
    put_night,
    read_json,
    start_nightly,
)
from tests.fault_proxy import FaultProxy
from tests.prefect_stack import (
    deploy,
    final_state,
    postgres_database,
    prefect_server,
    start_warm_worker,
    start_worker,
    stop,
    wait_until,
)

pytestmark = pytest.mark.server  # its own Prefect server, workers and processes

ARTICLES = 60
SHARD_ARTICLES = 20  # → 3 shards, each written in 4 batches of 5
LOADED_NOW = re.compile(r"2 models ready in [\d.]+ s \((\d) loaded now")  # load-models' line


@pytest.fixture(scope="module")
def stack(proxy: FaultProxy) -> Iterator[dict[str, str]]:
    """Server on PostgreSQL and `make deploy`; nights fan out to the warm shard deployment,
    in batches of 5 (a shard writes its briefs over several seconds, so it can die half-way).
    """
    with postgres_database() as database, prefect_server({
        "PREFECT_API_DATABASE_CONNECTION_URL": database,
        "AWS_ENDPOINT_URL": proxy.url,
        "BRIEFS_SCALE__SHARD_ARTICLES": str(SHARD_ARTICLES),
        "BRIEFS_SCALE__SHARD_DEPLOYMENT": WARM_SHARD_DEPLOYMENT,
        "BRIEFS_BATCHING__ARTICLES_PER_TASK": "5",
    }) as env:
        deploy(env)
        yield env


@pytest.fixture
def workers(stack: dict[str, str], tmp_path: Path) -> Iterator[dict[str, subprocess.Popen]]:
    """A process worker for the parent run, and two warm workers for its shards."""
    started = {"parent": start_worker(stack, "briefs-parent", limit=1, log_dir=tmp_path),
               **{name: start_warm_worker(stack, name, tmp_path, "--cancel-poll", "1")
                  for name in ("warm-1", "warm-2")}}
    yield started
    for process in started.values():
        if process.poll() is None:
            stop(process)


def models_loaded_now(client, flow_run_id) -> list[int]:
    """The models the flow run loaded, as its load-models line says (the summarizer and the
    German translator: 2, or 0 when both were in memory already)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(
        any_=[flow_run_id])), limit=200)
    return [int(m[1]) for log in logs if (m := LOADED_NOW.search(log.message))]


@pytest.mark.timeout(900)
def test_warm_workers_keep_their_models_across_shards_and_survive_one_killed(
        stack, workers, client, s3, proxy, tmp_path):
    """60 articles in 3 shards over two warm workers; one dies half-way through a shard,
    whose shard runs again on the other. The survivor runs its shards in its own process and
    loads the models in its first shard only. Then a shard run cancelled while it runs on
    the survivor ends Cancelled, and the worker leaves with it."""
    keys = put_night(s3, "warm", ARTICLES)
    run = start_nightly(client, "warm")
    warm = {name: process for name, process in workers.items() if name != "parent"}

    def shard_half_written():
        written = set(brief_keys(s3, "warm-out"))
        for child in child_runs(client, run.id):
            on = [name for name, process in warm.items() if pid_of(child) == process.pid]
            if child.state and child.state.is_running() and on:
                own = {f"{NIGHT}/briefs/{article_id_for(key)}.json"
                       for key in child.parameters["shard"]["keys"]}
                # At most half written: two batches or more are still to come when the kill
                # lands (seen nearer the end, a warm shard could finish before it).
                if 0 < len(own & written) <= len(own) // 2:
                    return on[0], child
        return None

    victim, shard_run = wait_until(shard_half_written, 420,
                                   "a shard on a warm worker with some of its briefs written",
                                   every=0.3)
    os.killpg(warm[victim].pid, signal.SIGKILL)  # the worker, and the shard run in it
    warm[victim].wait(timeout=30)
    survivor = warm[next(name for name in warm if name != victim)]

    state = final_state(client, run.id, timeout=780)
    assert state.is_completed(), state.message
    manifest = read_json(s3, "warm-out", f"{NIGHT}/manifest.json")
    assert manifest["counts"] == {"total": ARTICLES, "succeeded": ARTICLES, "failed": 0,
                                  "skipped": 0}, manifest["counts"]
    assert sorted(e["source"] for e in manifest["articles"]) == [
        f"s3://warm-in/{key}" for key in keys]
    assert_the_killed_shard_ran_again(manifest, shard_run.id)
    assert_each_brief_written_once_and_whole(s3, proxy, "warm-out", ARTICLES)

    # Warm: the survivor's shard runs ran in its own process, and only the first loaded models.
    on_survivor = sorted((c for c in child_runs(client, run.id)
                          if c.state.is_completed() and pid_of(c) == survivor.pid),
                         key=lambda c: c.start_time)
    assert len(on_survivor) >= 2, [(c.name, c.infrastructure_pid) for c in on_survivor]
    loaded = [models_loaded_now(client, c.id) for c in on_survivor]
    assert loaded == [[2]] + [[0]] * (len(on_survivor) - 1), loaded

    # A shard run cancelled while it runs: the survivor marks it Cancelled and exits.
    template = on_survivor[0].parameters
    night = sorted({pair for child in child_runs(client, run.id)
                    for pair in zip(child.parameters["shard"]["keys"],
                                    child.parameters["shard"]["sizes"], strict=True)})
    shard = {**template["shard"], "keys": [k for k, _ in night], "sizes": [s for _, s in night],
             "attempt": 9}  # the whole night again, forced: it runs for a while
    deployment = client.read_deployment_by_name(WARM_SHARD_DEPLOYMENT)
    assert deployment.work_pool_name == WARM_POOL
    rerun = client.create_flow_run_from_deployment(
        deployment.id, parameters={**template, "shard": shard, "force": True})
    wait_until(lambda: (r := client.read_flow_run(rerun.id)).state.is_running() and r, 240,
               "the cancelled shard run to start")
    from prefect.states import Cancelling

    client.set_flow_run_state(rerun.id, Cancelling(message="stopped by the test"))
    assert survivor.wait(timeout=60) == CANCELLED_EXIT
    cancelled = client.read_flow_run(rerun.id).state
    assert cancelled.is_cancelled() and "warm worker" in cancelled.message, cancelled
    result = f"{NIGHT}/{shard_result_key(ShardSpec(**shard))}"  # it handed back nothing
    assert "Contents" not in s3.list_objects_v2(Bucket="warm-out", Prefix=result)
