"""The nightly deployment on a real Prefect server: `make deploy` (flows/deployments.py), a process
worker, runs started through the API as the UI starts them, logs, artifacts, schedule."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.corpus_sample import mixed_objects
from tests.helpers import CHROMIUM_FLAGS, corpus_or_skip, missing, screenshots
from tests.prefect_stack import (
    deploy,
    final_state,
    prefect_server,
    start_worker,
    stop,
    wait_until,
)

pytestmark = pytest.mark.server  # its own Prefect server, workers and processes

DEPLOYMENT = "briefs/nightly"
ARRIVALS = "briefs-arrivals/late-arrivals"  # the late-arrivals trigger's deployment
NIGHT = "2026-11-27"
LATE_NIGHT = "2026-11-20"  # the late-arrivals test's night


@pytest.fixture(scope="module")
def server_env(s3_endpoint: str) -> Iterator[dict[str, str]]:
    """`make server` on a free loopback port (SQLite), with its own PREFECT_HOME."""
    with prefect_server() as env:
        yield env


class WebhookReceiver:
    """An HTTP endpoint on loopback that keeps the JSON bodies posted to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def alerts(server_env: dict[str, str]) -> Iterator[WebhookReceiver]:
    """The notification block the config names, posting to a receiver on loopback."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.settings import PREFECT_API_URL, temporary_settings

    receiver = WebhookReceiver()
    with temporary_settings({PREFECT_API_URL: server_env["PREFECT_API_URL"]}):
        CustomWebhookNotificationBlock(
            name="briefs-alerts", url=receiver.url, method="POST", allow_private_urls=True,
            json_data={"subject": "{{subject}}", "body": "{{body}}"},
        ).save("briefs-alerts", overwrite=True)
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def worker(server_env: dict[str, str], alerts) -> Iterator[subprocess.Popen]:
    """`make deploy`, then `make worker` in the background."""
    deploy(server_env)
    process = start_worker(server_env, "briefs-worker")
    yield process
    stop(process)


@pytest.fixture
def client(server_env: dict[str, str]):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (temporary_settings({PREFECT_API_URL: server_env["PREFECT_API_URL"]}),
          get_client(sync_client=True) as sync_client):
        yield sync_client


def start_nightly(client, s3, bucket: str, count: int = 6, config: str = ""):
    """Put articles for the night in a bucket and start a custom run, as the UI's form does
    (`config`: a config file over the tiny preset)."""
    s3.create_bucket(Bucket=f"{bucket}-in")
    s3.create_bucket(Bucket=f"{bucket}-out")
    objects = mixed_objects(corpus_or_skip(), {"txt": count // 2, "json": count - count // 2})
    for key, data in objects.items():
        s3.put_object(Bucket=f"{bucket}-in", Key=f"{NIGHT}/{key}", Body=data)
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    run = client.create_flow_run_from_deployment(deployment.id, parameters={
        "source": f"s3://{bucket}-in/{{date}}/", "dest": f"s3://{bucket}-out/{{date}}/",
        "date": NIGHT, "languages": ["de", "fr"], "models": "tiny", "config": config})
    return run, len(objects)


@pytest.mark.timeout(360)  # measured 47 s, with the module's server, deploy and worker
def test_a_run_started_through_the_api_briefs_everything(worker, client, s3):
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    run, count = start_nightly(client, s3, "ui-run")
    state = final_state(client, run.id)
    assert state.is_completed(), state.message

    briefs = s3.list_objects_v2(Bucket="ui-run-out", Prefix=f"{NIGHT}/briefs/")["Contents"]
    assert len(briefs) == count
    brief = json.loads(s3.get_object(Bucket="ui-run-out", Key=briefs[0]["Key"])["Body"].read())
    assert set(brief["summaries"]) == {"en", "de", "fr"}

    task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(
        any_=[run.id])))
    assert len(task_runs) >= 8

    def task_logs():  # logs arrive in batches
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        logged = {log.task_run_id for log in logs if log.task_run_id}
        return logs if logged >= {task.id for task in task_runs} else None

    logs = wait_until(task_logs, 90, "log lines from every task run", every=2)
    assert any("batch 1/1" in log.message for log in logs)
    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    by_type = {a.type: a for a in artifacts}
    assert {"table", "markdown", "progress"} <= set(by_type)
    assert by_type["table"].key == "briefs-articles" and by_type["markdown"].key == "briefs-summary"
    assert by_type["progress"].data == 100.0
    assert by_type["progress"].key == f"briefs-progress-{NIGHT}"  # the night's, by name
    assert f"Night {NIGHT}" in by_type["progress"].description
    assert f"{count} of {count} input objects" in by_type["progress"].description
    assert f"| {count} | {count} | 0 | 0 |" in by_type["markdown"].data


@pytest.mark.timeout(120)  # measured < 1 s
def test_the_deployment_has_a_nightly_schedule_and_runs_one_at_a_time(worker, client):
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )

    deployment = client.read_deployment_by_name(DEPLOYMENT)
    [schedule] = deployment.schedules
    assert schedule.active and schedule.slug == "nightly-0200"
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Berlin")
    assert deployment.global_concurrency_limit.limit == 1
    assert deployment.concurrency_options.collision_strategy.value == "ENQUEUE"
    assert deployment.work_pool_name == "briefs"

    def upcoming():
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                name=FlowRunFilterStateName(any_=["Scheduled"]))))

    runs = wait_until(upcoming, 60, "upcoming scheduled runs", every=2)
    assert all(r.expected_start_time.hour == 1 or r.expected_start_time.hour == 0 for r in runs)


def runs_created_by(client, deployment_id, created_by: str = "AUTOMATION") -> list:
    """The deployment's runs that an automation (its trigger), or the schedule, created."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
        id=DeploymentFilterId(any_=[deployment_id])))
    return [r for r in runs if r.created_by and r.created_by.type == created_by]


@pytest.mark.timeout(240)  # measured 15 s
def test_a_run_the_schedule_started_records_its_schedule_in_the_manifest(worker, client, s3):
    from datetime import UTC, datetime

    from prefect.states import Scheduled

    s3.create_bucket(Bucket="scheduled-in")
    s3.create_bucket(Bucket="scheduled-out")
    [(key, data)] = mixed_objects(corpus_or_skip(), {"txt": 1}).items()
    s3.put_object(Bucket="scheduled-in", Key=f"{NIGHT}/{key}", Body=data)
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    upcoming = [r for r in runs_created_by(client, deployment.id, "SCHEDULE")
                if r.state.is_scheduled()]
    run = upcoming[-1]  # the schedule's run, started now on tiny models and its own buckets
    client.update_flow_run(run.id, parameters={
        "source": "s3://scheduled-in/{date}/", "dest": "s3://scheduled-out/{date}/",
        "date": NIGHT, "languages": ["de"], "models": "tiny"})
    client.set_flow_run_state(run.id, Scheduled(scheduled_time=datetime.now(UTC)), force=True)
    assert final_state(client, run.id).is_completed()
    manifest = json.loads(s3.get_object(Bucket="scheduled-out", Key=f"{NIGHT}/manifest.json")
                          ["Body"].read())
    assert manifest["trigger"] == {"kind": "schedule", "by": "nightly-0200"}


@pytest.mark.timeout(420)  # measured 82 s: two runs one after the other
def test_a_second_run_waits_for_the_first(worker, client, s3, tmp_path):
    from tests.helpers import tiny_config

    # Long enough to be still running when the worker starts the second: tiny models brief
    # six articles in seconds, faster than a worker picks up and starts a run.
    slow = tiny_config(tmp_path, "slow", batching={"articles_per_task": 1})
    first, _ = start_nightly(client, s3, "first-run", count=24, config=slow)
    wait_until(lambda: client.read_flow_run(first.id).state.is_running(), 300,
               "the first run to start", every=0.5)
    second, _ = start_nightly(client, s3, "second-run")

    def waiting():
        state = client.read_flow_run(second.id).state
        return state.name == "AwaitingConcurrencySlot" or None

    wait_until(waiting, 120, "the second run to wait for a slot", every=0.5)
    assert client.read_flow_run(first.id).state.is_running()
    assert final_state(client, first.id).is_completed()
    assert final_state(client, second.id).is_completed()
    first_run, second_run = client.read_flow_run(first.id), client.read_flow_run(second.id)
    assert second_run.start_time >= first_run.end_time  # never overlapping


@pytest.mark.timeout(420)
def test_late_arrivals_runs_and_nightly_runs_never_overlap(worker, client, s3):
    """The trigger's runs are of their own deployment, but each holds the nightly
    deployment's slot while it briefs: a late-arrivals run started during a night's run
    waits for it, and a night's run started meanwhile waits too (AwaitingConcurrencySlot)."""
    from datetime import UTC, datetime

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    first, _ = start_nightly(client, s3, "overlap-first", count=2)
    wait_until(lambda: client.read_flow_run(first.id).state.is_running(), 300,
               "the night's run to start", every=0.5)
    [(key, data)] = mixed_objects(corpus_or_skip(), {"txt": 1}).items()
    s3.put_object(Bucket="overlap-first-in", Key=f"{NIGHT}/late-{key}", Body=data)
    arrivals = client.read_deployment_by_name(ARRIVALS)
    late = client.create_flow_run_from_deployment(arrivals.id, parameters={
        "source": "s3://overlap-first-in/{date}/", "dest": "s3://overlap-first-out/{date}/",
        "languages": ["de"], "models": "tiny",
        "arrivals": {"since": datetime.now(UTC).isoformat(), "seconds": 1,
                     "first": f"s3://overlap-first-in/{NIGHT}/late-{key}"}})
    second, _ = start_nightly(client, s3, "overlap-second", count=2)
    runs = {"night 1": first.id, "late arrivals": late.id, "night 2": second.id}
    for run_id in runs.values():
        assert final_state(client, run_id).is_completed()

    def briefing(name: str, run_id) -> tuple:
        """When the run held the slot: a night's run from its start, a late-arrivals run
        (which starts, then waits for the slot) from its first task run."""
        run = client.read_flow_run(run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(
            any_=[run_id])))
        started = (min(t.start_time for t in tasks if t.start_time) if run_id == late.id
                   else run.start_time)
        return started, run.end_time, name

    spans = sorted(briefing(name, run_id) for name, run_id in runs.items())
    for (_, ended, before), (started, _, after) in zip(spans, spans[1:], strict=False):
        assert started >= ended, f"{after} began before {before} ended"
    manifest = json.loads(s3.get_object(Bucket="overlap-first-out", Key=f"{NIGHT}/manifest.json")
                          ["Body"].read())
    assert manifest["counts"]["total"] == 3  # the night's two, and the late one


@pytest.mark.timeout(180)  # measured 10 s
def test_an_empty_night_fails_and_sends_the_alert(worker, client, alerts, s3):
    """A night with no objects under its source (a misspelt prefix, a feed that never came)
    fails at once, before any model loads, and the alert names where it looked."""
    s3.create_bucket(Bucket="quiet-in")
    s3.create_bucket(Bucket="quiet-out")
    s3.put_object(Bucket="quiet-in", Key="2026-11-26/yesterday.txt", Body=b"Other night.")
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    run = client.create_flow_run_from_deployment(deployment.id, parameters={
        "source": "s3://quiet-in/{date}/", "dest": "s3://quiet-out/{date}/",
        "date": NIGHT, "languages": ["de"], "models": "tiny"})
    state = final_state(client, run.id)
    assert state.is_failed()
    assert state.message.startswith(f"source s3://quiet-in/{NIGHT}/: 0 objects there"), (
        state.message)
    name = client.read_flow_run(run.id).name

    def alert():
        return next((a for a in alerts.received if name in a["subject"]), None)

    posted = wait_until(alert, 120, "the alert webhook", every=1)
    assert "Failed" in posted["subject"] and "0 objects there" in posted["body"]
    assert "2026-11-26/" in posted["body"]  # the nearest prefix, where the objects are
    assert s3.list_objects_v2(Bucket="quiet-out")["KeyCount"] == 0  # nothing written


def test_a_form_run_cannot_read_the_workers_disk(worker, client):
    """An editor's form may name any source: one outside storage.allowed_sources (here the
    stack's `s3://*/`; by default the deployment's own) fails pre-flight, nothing read."""
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    run = client.create_flow_run_from_deployment(deployment.id, parameters={
        "source": "/etc/", "dest": "file:///tmp/briefs-from-etc/", "date": NIGHT,
        "languages": ["de"], "models": "tiny"})
    state = final_state(client, run.id)
    assert state.is_failed()
    assert state.message.splitlines() == [
        "source /etc/ is outside storage.allowed_sources (s3://*/): give a source inside "
        "them, or have the operator add this one to storage.allowed_sources",
        "dest file:///tmp/briefs-from-etc/ is outside storage.allowed_dests (s3://*/): give a "
        "dest inside them, or have the operator add this one to storage.allowed_dests"]
    assert not Path("/tmp/briefs-from-etc").exists()


@pytest.mark.timeout(300)
def test_a_nightly_run_past_its_time_limit_ends_timed_out_and_sends_the_alert(
        worker, client, alerts, s3, tmp_path):
    from tests.helpers import SLOW_SUMMARIES, tiny_config

    config = tiny_config(tmp_path, "one-second", timeouts={"run_seconds": 1},
                         generation=SLOW_SUMMARIES, batching={"articles_per_task": 1})
    s3.create_bucket(Bucket="late-in")
    s3.create_bucket(Bucket="late-out")
    for key, data in mixed_objects(corpus_or_skip(), {"txt": 3}).items():
        s3.put_object(Bucket="late-in", Key=f"{NIGHT}/{key}", Body=data)
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    run = client.create_flow_run_from_deployment(deployment.id, parameters={
        "source": "s3://late-in/{date}/", "dest": "s3://late-out/{date}/", "date": NIGHT,
        "languages": ["de"], "config": config})
    state = final_state(client, run.id)
    assert state.name == "TimedOut", (state.name, state.message)
    name = client.read_flow_run(run.id).name

    def alert():
        return next((a for a in alerts.received if name in a["subject"]), None)

    posted = wait_until(alert, 120, "the alert webhook", every=1)
    assert "ended TimedOut" in posted["subject"] and "timeouts.run_seconds" in posted["body"]
    manifest = json.loads(s3.get_object(Bucket="late-out", Key=f"{NIGHT}/manifest.json")["Body"]
                          .read())
    assert manifest["counts"]["total"] == 3 and manifest["counts"]["failed"] == 3


@pytest.mark.timeout(240)  # measured 14 s (with the session's API: up to 120 s more)
@pytest.mark.usefixtures("prefect_api")
def test_briefs_serve_offers_the_same_nightly_deployments_without_a_pool():
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    serve = subprocess.Popen([sys.executable, "-m", "briefs.flows.cli", "serve", "--models",
                              "tiny"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with get_client(sync_client=True) as api:
            def served():
                try:  # the two, each registered in turn
                    return [api.read_deployment_by_name(name) for name in (DEPLOYMENT, ARRIVALS)]
                except Exception:
                    assert serve.poll() is None, "briefs serve exited"
                    return None

            deployment, arrivals = wait_until(served, 120,
                                              "briefs serve to register its deployments")
    finally:
        serve.terminate()
        serve.wait(timeout=60)
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Berlin")
    assert deployment.global_concurrency_limit.limit == 1
    assert deployment.parameters["source"] == "s3://news-in/{date}/"
    assert arrivals.parameters["source"] == "s3://news-in/{date}/"
    assert arrivals.global_concurrency_limit.limit == 1
    with get_client(sync_client=True) as api:
        [automation] = api.read_automations_by_name("briefs-late-arrivals")
    assert automation.trigger.match.model_dump() == {"prefect.resource.id": "s3://news-in/*"}
    [action] = automation.actions  # runs the late-arrivals deployment
    assert action.deployment_id == arrivals.id


@pytest.mark.timeout(420)  # measured 56 s: a nightly run, the 40 s wait, the event run
def test_objects_announced_by_s3_notifications_are_briefed_by_one_triggered_run(
        worker, client, s3, server_env, tmp_path):
    from prefect.client.schemas.actions import DeploymentUpdate

    from tests.helpers import s3_record

    # The trigger matches the deployment's own bucket, s3://news-in/: a night of this test's
    # own there, as other tests' runs may write to those buckets too.
    for bucket in ("news-in", "news-briefs"):
        with suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
    objects = list(mixed_objects(corpus_or_skip(), {"txt": 3}).items())
    (on_time, data), late = objects[0], objects[1:]
    s3.put_object(Bucket="news-in", Key=f"{LATE_NIGHT}/{on_time}", Body=data)
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    nightly = client.create_flow_run_from_deployment(deployment.id, parameters={
        "date": LATE_NIGHT, "languages": ["de"], "models": "tiny"})
    assert final_state(client, nightly.id).is_completed()
    for key, data in late:  # a burst of two uploads after the night's run
        s3.put_object(Bucket="news-in", Key=f"{LATE_NIGHT}/{key}", Body=data)

    # The trigger's run, of the late-arrivals deployment, takes that deployment's parameters:
    # tiny models here, as an operator would set them in the UI (the real ones cannot be
    # downloaded offline).
    arrivals = client.read_deployment_by_name(ARRIVALS)
    client.update_deployment(arrivals.id, DeploymentUpdate(
        parameters={**arrivals.parameters, "models": "tiny", "languages": ["de"]}))
    try:
        for key, _ in late:  # one notification per upload, as S3 sends them
            message = tmp_path / "s3-notification.json"
            message.write_text(json.dumps({"Records": [s3_record(f"{LATE_NIGHT}/{key}")]}))
            sent = subprocess.run([sys.executable, "-m", "briefs.flows.cli", "notify",
                                   str(message)], env=server_env, capture_output=True,
                                  text=True, timeout=120)
            assert sent.returncode == 0, sent.stderr
        [run] = wait_until(lambda: runs_created_by(client, arrivals.id), 120,
                           "the trigger to start a run")
        assert final_state(client, run.id).is_completed()
        assert len(runs_created_by(client, arrivals.id)) == 1  # one run for the burst
        assert not runs_created_by(client, deployment.id)  # none of the nightly deployment
    finally:
        client.update_deployment(arrivals.id, DeploymentUpdate(
            parameters=arrivals.parameters))

    def stored(key: str) -> dict:
        return json.loads(s3.get_object(Bucket="news-briefs", Key=f"{LATE_NIGHT}/{key}")["Body"]
                          .read())

    night = stored("manifest.json")
    assert night["run_id"] == str(run.id) and night["trigger"]["kind"] == "event"
    touched = {e["source"]: e for e in night["articles"] if e["article_id"] in night["touched"]}
    assert set(touched) == {f"s3://news-in/{LATE_NIGHT}/{key}" for key, _ in late}
    assert all(e["status"] == "succeeded" for e in touched.values())
    assert night["counts"]["total"] == 3 and night["counts"]["succeeded"] == 3
    digest = s3.get_object(Bucket="news-briefs", Key=f"{LATE_NIGHT}/digests/de.md")["Body"].read()
    assert " · 3 briefs in ".encode() in digest  # the night's, not only the two
    assert digest.rstrip().endswith(f"Run {run.id}".encode())  # the run, at the foot
    assert stored(f"runs/{nightly.id}/manifest.json")["trigger"] == {"kind": "manual"}


def test_the_late_arrivals_trigger_matches_the_nightly_source_and_waits_out_its_window():
    from briefs.flows.deployments import NIGHTLY_SOURCE, for_pool

    by_name = {d.name: d for d in for_pool("process")}
    nightly, arrivals = by_name["nightly"], by_name["late-arrivals"]
    assert not nightly.triggers  # its form shows only an editor's fields
    [trigger] = arrivals.triggers
    assert arrivals.parameters == nightly.parameters  # the same source, dest and models
    assert nightly.parameters["source"] == NIGHTLY_SOURCE == "s3://news-in/{date}/"
    assert trigger.match.model_dump(mode="json") == {"prefect.resource.id": "s3://news-in/*"}
    assert trigger.parameters["arrivals"]["seconds"] == trigger.within.total_seconds()
    assert trigger.schedule_after > trigger.within  # the window's events are stored by then


# The nightly run form's fields, in order: what an editor sets, nothing else.
FORM_FIELDS = ["source", "dest", *(f"{name} (Optional)" for name in (
    "date", "languages", "models", "config", "limit", "article_ids", "only_article_ids",
    "force"))]


def fill_and_submit(page, ui: str, deployment_id, night: dict, chosen: str,
                    saved: Path) -> str:
    """Fill the deployment's custom-run form as an editor does, save its picture, submit;
    returns the run's name."""
    from playwright.sync_api import expect

    page.goto(f"{ui}/deployments/deployment/{deployment_id}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run", exact=True).click()

    def parameter(label: str):  # by its label (`source` is also in another's description)
        name = page.locator(".schema-form-property__label").filter(
            has_text=re.compile(f"^{re.escape(label)}$"))
        return page.locator(".schema-form-property").filter(has=name).last

    # Only what an editor sets: no field of the trigger's or a parent run's, and no field
    # with a type toggle ("str | None" ...): every field is one plain input with its default.
    expect(page.locator(".schema-form-property__label")).to_have_text(FORM_FIELDS)
    for hidden in ("shard", "arrivals"):
        expect(page.locator(".schema-form-property__label").filter(
            has_text=re.compile(f"^{hidden}")).or_(page.get_by_text(hidden, exact=True))
        ).to_have_count(0)
    expect(page.get_by_text("Property is type", exact=False)).to_have_count(0)
    for toggle in ("str", "int", "list", "None", "Arrivals", "ShardSpec"):
        expect(page.locator(".schema-form-property").get_by_role(
            "button", name=toggle, exact=True)).to_have_count(0)
    parameter("source").locator("textarea").fill(night["source"])
    parameter("dest").locator("textarea").fill(night["dest"])
    parameter("date (Optional)").locator("textarea").fill(NIGHT)
    languages = parameter("languages (Optional)")
    languages.locator(".p-tag").filter(has_text="es").locator(".p-tag__dismiss").click()
    models = parameter("models (Optional)")  # a choice of the presets
    models.locator(".p-select-button__control").focus()  # a click leaves it shut, headless
    page.keyboard.press(" ")
    expect(page.get_by_role("option")).to_have_text(["default", "tiny"])
    page.get_by_role("option", name="tiny", exact=True).click()
    expect(models.locator(".p-select-button__value")).to_have_text("tiny")
    expect(parameter("limit (Optional)").locator("input")).to_have_value("0")  # 0: all
    article_ids = parameter("article_ids (Optional)")
    article_ids.get_by_role("button", name="Add item").click()
    article_ids.locator("textarea, input").last.fill(chosen)
    for switch in ("only_article_ids (Optional)", "force (Optional)"):
        toggle = parameter(switch).get_by_role("switch")
        toggle.click()
        expect(toggle).to_have_attribute("aria-checked", "true")
    name = page.locator(".p-label").filter(has_text="Run Name").locator("input").input_value()
    page.wait_for_timeout(500)  # the switch's slide, for the picture
    page.screenshot(path=saved / "run-form.png", full_page=True)
    page.get_by_role("button", name="Submit", exact=True).click()
    # The UI goes back to the deployment's runs once the run is created (slow when the 2
    # cores are busy with the worker's runs: 30 s was seen to be too short).
    page.wait_for_url(re.compile(r"/deployments/deployment/[^/?]+\?tab=Runs"),
                      wait_until="commit", timeout=120_000)
    return name


@pytest.mark.timeout(300)  # measured 40 s: the night's run, then the one from the form
def test_an_editor_briefs_one_article_again_from_the_ui_form(worker, client, s3, server_env,
                                                              tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        missing("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    s3.create_bucket(Bucket="browser-in")
    s3.create_bucket(Bucket="browser-out")
    objects = mixed_objects(corpus_or_skip(), {"txt": 2, "json": 1})
    for key, data in objects.items():
        s3.put_object(Bucket="browser-in", Key=f"{NIGHT}/{key}", Body=data)
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    night = {"source": "s3://browser-in/{date}/", "dest": "s3://browser-out/{date}/",
             "date": NIGHT, "languages": ["de", "fr"], "models": "tiny"}
    first = client.create_flow_run_from_deployment(deployment.id, parameters=night)
    assert final_state(client, first.id).is_completed()

    def stored(key: str) -> bytes:
        return s3.get_object(Bucket="browser-out", Key=f"{NIGHT}/{key}")["Body"].read()

    chosen = json.loads(stored("manifest.json"))["articles"][0]["article_id"]
    replaced = json.loads(stored(f"briefs/{chosen}.json"))
    ui = server_env["PREFECT_API_URL"].removesuffix("/api")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(  # a fresh profile
            tmp_path / "profile", executable_path=chromium, args=CHROMIUM_FLAGS, headless=True,
            viewport={"width": 1400, "height": 2400})
        page = browser.new_page()
        saved = screenshots(tmp_path)
        try:
            name = fill_and_submit(page, ui, deployment.id, night, chosen, saved)
        finally:  # what the browser showed last, also when a step failed
            page.screenshot(path=saved / "after-submit.png", full_page=True)
            browser.close()

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    def submitted():
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=[name])))

    [run] = wait_until(submitted, 30, f"the run {name!r} submitted from the form")
    assert run.parameters["languages"] == ["de", "fr"] and run.parameters["date"] == NIGHT
    assert run.parameters["article_ids"] == [chosen] and run.parameters["force"] is True
    assert run.parameters["only_article_ids"] is True and run.parameters["models"] == "tiny"
    assert not {"shard", "arrivals"} & set(run.parameters)
    assert final_state(client, run.id).is_completed()
    manifest = json.loads(stored(f"runs/{run.id}/manifest.json"))
    assert manifest["touched"] == [chosen] and manifest["trigger"] == {"kind": "manual"}
    assert [e["status"] for e in manifest["articles"]] == ["succeeded"]
    brief = json.loads(stored(f"briefs/{chosen}.json"))
    assert brief["steps"]["summary"]["run_id"] == str(run.id)
    assert set(brief["summaries"]) == {"en", "de", "fr"}
    assert json.loads(stored(f"history/{chosen}/{replaced['created_at']}.json")) == replaced
    listed = s3.list_objects_v2(Bucket="browser-out", Prefix=f"{NIGHT}/briefs/")["Contents"]
    assert len(listed) == len(objects)
    assert f" · {len(objects)} briefs in ".encode() in stored("digests/fr.md")
    assert stored("digests/fr.md").rstrip().endswith(f"Run {run.id}".encode())
