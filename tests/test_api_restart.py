"""The Prefect API goes away in the middle of a nightly run: `make server` on its own
PostgreSQL database is stopped for 40 s once the run has written some briefs, then started
again on the same database and port. One `make worker`, moto S3 behind a proxy that counts
every write, all on loopback."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.corpus_sample import summaries
from tests.fault_proxy import FaultProxy
from tests.helpers import corpus_or_skip
from tests.prefect_stack import (
    PrefectServer,
    deploy,
    final_state,
    postgres_database,
    start_worker,
    stop,
    wait_until,
)

pytestmark = pytest.mark.server  # its own Prefect server, worker and processes

NIGHT = "2026-11-27"
ARTICLES = 30
OUTAGE_SECONDS = 40


@pytest.fixture(scope="module")
def server(proxy: FaultProxy) -> Iterator[PrefectServer]:
    with postgres_database() as database:
        api = PrefectServer({"PREFECT_API_DATABASE_CONNECTION_URL": database,
                             "AWS_ENDPOINT_URL": proxy.url})
        try:
            api.start()
            deploy(api.env)
            yield api
        finally:
            api.stop()
            shutil.rmtree(api.home, ignore_errors=True)


@contextmanager
def client_of(env: dict[str, str]):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}),
          get_client(sync_client=True) as client):
        yield client


def brief_keys(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket="restart-out", Prefix=f"{NIGHT}/briefs/")
    return [o["Key"] for o in listed.get("Contents", [])]


def nightly_run(env: dict[str, str]):
    with client_of(env) as client:
        deployment = client.read_deployment_by_name("briefs/nightly")
        return client.create_flow_run_from_deployment(deployment.id, parameters={
            "source": "s3://restart-in/{date}/", "dest": "s3://restart-out/{date}/",
            "date": NIGHT, "languages": ["de"], "models": "tiny"})


@pytest.mark.timeout(900)
def test_a_night_outlives_a_restart_of_the_prefect_api(server, proxy, s3, tmp_path: Path):
    """What happens: the run waits out the outage (its Prefect client retries the API),
    then goes on and completes: every article accounted for in the manifest, each brief
    written once and whole. No re-run is needed."""
    s3.create_bucket(Bucket="restart-in")
    s3.create_bucket(Bucket="restart-out")
    for row in summaries(corpus_or_skip(), ARTICLES):
        s3.put_object(Bucket="restart-in", Key=f"{NIGHT}/{row['id']}.txt",
                      Body=" ".join(row["article"].split()[:80]).encode())
    worker = start_worker({**server.env, "BRIEFS_BATCHING__ARTICLES_PER_TASK": "3"},
                          "briefs-restart", log_dir=tmp_path)
    try:
        run = nightly_run(server.env)
        wait_until(lambda: 0 < len(brief_keys(s3)) < ARTICLES, 300,
                   "the run to write some of its briefs", every=0.3)
        server.stop()
        before = len(brief_keys(s3))
        time.sleep(OUTAGE_SECONDS)
        server.start()
        with client_of(server.env) as client:
            state = final_state(client, run.id, timeout=600)
    finally:
        stop(worker)
    worker_log = (tmp_path / "briefs-restart.log").read_text()
    assert state.is_completed(), (state.name, state.message, worker_log[-3000:])
    assert before < ARTICLES  # the API went away mid-run
    manifest = json.loads(s3.get_object(Bucket="restart-out",
                                        Key=f"{NIGHT}/manifest.json")["Body"].read())
    assert manifest["counts"]["total"] == ARTICLES
    assert manifest["counts"]["succeeded"] + manifest["counts"]["failed"] == ARTICLES
    keys = brief_keys(s3)
    assert len(keys) == manifest["counts"]["succeeded"]
    assert proxy.written_twice(f"restart-out/{NIGHT}/briefs/") == {}  # each brief once
    for key in keys:
        json.loads(s3.get_object(Bucket="restart-out", Key=key)["Body"].read())  # whole
