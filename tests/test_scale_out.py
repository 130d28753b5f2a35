"""A night fanned out over shards: a real Prefect server on its own PostgreSQL database,
`make deploy`, two `make worker` processes, moto S3 behind a proxy that counts every write,
all on loopback. 200 tiny-model articles in 8 shards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from briefs.tasks.ingest.articles import article_id_for
from tests.fanned_night import (
    NIGHT,
    assert_each_brief_written_once_and_whole,
    assert_the_killed_shard_ran_again,
    brief_keys,
    child_runs,
    descends_from,
    pid_of,
    put_night,
    read_json,
    start_nightly,
)
from tests.fault_proxy import FaultProxy
from tests.helpers import REPO
from tests.prefect_stack import (
    deploy,
    final_state,
    postgres_database,
    prefect_server,
    start_worker,
    stop,
    wait_until,
)

pytestmark = pytest.mark.server  # its own Prefect server, workers and processes

ARTICLES = 200
SHARD_ARTICLES = 25  # → 8 shards


@pytest.fixture(scope="module")
def stack(proxy: FaultProxy) -> Iterator[dict[str, str]]:
    """Server on PostgreSQL, deployments and automations; the environment reaching them."""
    with postgres_database() as database, prefect_server({
        "PREFECT_API_DATABASE_CONNECTION_URL": database,
        "AWS_ENDPOINT_URL": proxy.url,
        "BRIEFS_SCALE__SHARD_ARTICLES": str(SHARD_ARTICLES),
    }) as env:
        deploy(env)
        yield env


@pytest.fixture
def workers(stack: dict[str, str], tmp_path: Path) -> Iterator[dict[str, subprocess.Popen]]:
    """Two process workers, each running at most two flow runs at once. Batches of 5: a
    shard writes its briefs over several seconds, so it can die half-way."""
    env = {**stack, "BRIEFS_BATCHING__ARTICLES_PER_TASK": "5"}
    started = {name: start_worker(env, name, limit=2, log_dir=tmp_path)
               for name in ("briefs-w1", "briefs-w2")}
    yield started
    for process in started.values():
        stop(process)


def ran_on(worker: subprocess.Popen, flow_run) -> bool:
    """Whether the flow run's process descends from this worker's process."""
    return descends_from(pid_of(flow_run), worker.pid)


@pytest.mark.timeout(900)
def test_a_night_fans_out_over_two_workers_and_survives_one_killed_mid_shard(
        stack, workers, client, s3, proxy, tmp_path):
    """One night, both scenarios (a single run keeps CI within its time): 200 articles in 8
    shards over two workers, one of which dies, with its shard run, half-way through a shard.
    """
    keys = put_night(s3, "fan", ARTICLES, copy_of_first=True)
    run = start_nightly(client, "fan")
    parent = wait_until(lambda: (r := client.read_flow_run(run.id)).infrastructure_pid and r,
                        240, "the parent run to start")
    survivor = next(n for n, w in workers.items() if ran_on(w, parent))
    victim = workers[next(n for n in workers if n != survivor)]

    def shard_half_written_on_victim():
        children = child_runs(client, run.id)
        written = set(brief_keys(s3, "fan-out"))
        for child in children:
            if child.state and child.state.is_running() and ran_on(victim, child):
                own = {f"{NIGHT}/briefs/{article_id_for(key)}.json"
                       for key in child.parameters["shard"]["keys"]}
                if 0 < len(own & written) < len(own):
                    return child
        return None

    shard_run = wait_until(shard_half_written_on_victim, 420,
                           "a shard on the victim with some of its briefs written", every=0.3)
    # The machine goes: the worker, and the shard's process (Prefect may start flow runs in
    # a session of their own, so it is killed by its pid too).
    os.killpg(victim.pid, signal.SIGKILL)
    os.kill(pid_of(shard_run), signal.SIGKILL)
    victim.wait(timeout=30)

    state = final_state(client, run.id, timeout=780)
    assert state.is_completed(), state.message
    manifest = read_json(s3, "fan-out", f"{NIGHT}/manifest.json")
    assert len(manifest["shards"]) == ARTICLES // SHARD_ARTICLES
    assert manifest["counts"] == {"total": ARTICLES, "succeeded": ARTICLES - 1, "failed": 0,
                                  "skipped": 1}, [a for a in manifest["articles"]
                                                  if a["status"] == "failed"]
    assert sorted(e["source"] for e in manifest["articles"]) == [
        f"s3://fan-in/{key}" for key in keys]
    assert_the_killed_shard_ran_again(manifest, shard_run.id)
    assert_each_brief_written_once_and_whole(s3, proxy, "fan-out", ARTICLES)
    # The copy in the last shard is briefed but kept out of the digest, and says of what.
    copy = next(e for e in manifest["articles"] if e["source"].endswith("zz-copy.txt"))
    assert copy["status"] == "skipped" and "duplicate of" in copy["reason"], copy
    digest = s3.get_object(Bucket="fan-out", Key=f"{NIGHT}/digests/de.md")["Body"].read()
    assert b"zz-copy.txt" not in digest
    assert f"{ARTICLES - 1} briefs".encode() in digest
    # Both workers ran shards: the victim the one it died in, the survivor others (its own
    # log line for each shard run it took; the parent's lines there name no shard run).
    survivor_log = (tmp_path / f"{survivor}.log").read_text()
    assert re.search(r"Flow run 'shard \d+/8, attempt \d+' submitted to infrastructure",
                     survivor_log), survivor_log[-2000:]


@pytest.mark.timeout(300)
def test_the_kubernetes_deployments_run_the_image_on_a_gpu_pool(stack, client):
    """`make deploy-k8s` on the real server: the pool takes the job template, and the
    deployments run in the image (the last test here: it replaces the process deployments)."""
    done = subprocess.run(["make", "deploy-k8s", "BRIEFS_IMAGE=registry.example/briefs:1"],
                          cwd=REPO, env=stack, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    pool = client.read_work_pool("briefs-k8s")
    assert pool.type == "kubernetes"
    assert {"gpu_count", "model_cache_claim", "node_selector", "tolerations"} <= set(
        pool.base_job_template["variables"]["properties"])
    flows = {"briefs/nightly": "briefs", "briefs-arrivals/late-arrivals": "briefs_arrivals",
             "briefs-shard/shard": "briefs_shard"}
    for name, function in flows.items():
        deployment = client.read_deployment_by_name(name)
        assert deployment.work_pool_name == "briefs-k8s"
        assert deployment.job_variables["image"] == "registry.example/briefs:1"
        # A module path (Prefect's MODULE_PATH form): the image's installed package, no pull.
        assert deployment.entrypoint == f"briefs.flows.briefs_flow.{function}"
        assert not deployment.pull_steps
    shard = client.read_deployment_by_name("briefs-shard/shard")
    assert shard.job_variables["gpu_count"] == 1
