"""Shards as plain logic: how a night is cut, and how the parent merges what shards hand back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from briefs.tasks.core.config import ConfigError, load_config
from briefs.tasks.core.records import Failure
from briefs.tasks.output.storage import ObjectInfo
from briefs.tasks.run.shards import (
    ShardSpec,
    cut_shards,
    merge_shard_results,
    result_problem,
    shard_result_document,
    shard_result_key,
)
from tests.helpers import deployment_of


def objects(*sizes: int) -> list[ObjectInfo]:
    return [ObjectInfo(f"k{i:03d}.txt", size) for i, size in enumerate(sizes)]


def test_shards_are_cut_by_count_from_sorted_keys():
    shuffled = list(reversed(objects(*[10] * 7)))
    shards = cut_shards(shuffled, per_shard=3, max_bytes=10**9)
    assert [[o.key for o in s] for s in shards] == [
        ["k000.txt", "k001.txt", "k002.txt"], ["k003.txt", "k004.txt", "k005.txt"],
        ["k006.txt"]]
    assert cut_shards(shuffled, 3, 10**9) == cut_shards(list(reversed(shuffled)), 3, 10**9)


def test_a_byte_cap_starts_a_new_shard_and_a_big_object_stands_alone():
    shards = cut_shards(objects(40, 40, 500, 10, 10), per_shard=10, max_bytes=100)
    assert [[o.size for o in s] for s in shards] == [[40, 40], [500], [10, 10]]


def test_a_shard_count_splits_evenly():
    assert [len(s) for s in cut_shards(objects(*[1] * 10), 200, 10**9, count=4)] == [3, 3, 2, 2]
    assert len(cut_shards(objects(*[1] * 9), 200, 10**9, count=8)) == 8
    assert [len(s) for s in cut_shards(objects(1, 1), 200, 10**9, count=8)] == [1, 1]


def brief(article_id: str, uri: str) -> dict:
    return {"article_id": article_id, "source": {"uri": uri}, "summaries": {"en": "x"}}


def result(index: int, written: list[dict], digests: dict[str, str],
           unbriefed: list[Failure] = (), reused: list[dict] = ()) -> dict:
    spec = ShardSpec(run_id="r", index=index, count=3, keys=["k"], sizes=[1])
    return shard_result_document(spec, "flow-run", written, list(reused), list(unbriefed),
                                 digests, {"brief_seconds": 1.0})


def test_a_story_in_two_shards_appears_once_and_the_copy_names_the_first():
    first = result(0, [brief("a", "s3://in/a.txt"), brief("b", "s3://in/b.txt")],
                   {"a": "same", "b": "other"})
    later = result(2, [brief("c", "s3://in/c.txt")], {"c": "same"},
                   unbriefed=[Failure("d", "s3://in/d.txt", "too short")])
    merged = merge_shard_results([later, first])  # in any order: shard order decides
    assert [b["article_id"] for b in merged.written] == ["a", "b"]
    [copy, short] = merged.unbriefed
    assert copy.article_id == "c" and copy.status == "skipped"
    assert "duplicate of a (s3://in/a.txt, shard 1)" in copy.reason
    assert (short.article_id, short.reason) == ("d", "too short")


def test_a_reused_copy_is_recorded_once_as_the_duplicate():
    first = result(0, [brief("a", "s3://in/a.txt")], {"a": "same"})
    later = result(1, [], {"c": "same"}, reused=[brief("c", "s3://in/c.txt")],
                   unbriefed=[Failure("c", "s3://in/c.txt", "already briefed", "skipped")])
    merged = merge_shard_results([first, later])
    assert merged.reused == []
    [copy] = merged.unbriefed
    assert copy.article_id == "c" and copy.reason.startswith(
        "duplicate of a (s3://in/a.txt, shard 1)")


def test_scale_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BRIEFS_SCALE__MAX_IN_FLIGHT", "8")
    monkeypatch.setenv("BRIEFS_SCALE__SHARD_DEPLOYMENT", "briefs/gpu-shard")
    scale = load_config("tiny").scale
    assert (scale.max_in_flight, scale.shard_deployment, scale.shard_articles) == (
        8, "briefs/gpu-shard", 200)
    monkeypatch.setenv("BRIEFS_SCALE__SHARDS", "0")
    with pytest.raises(ConfigError, match="shards"):
        load_config("tiny")


@pytest.mark.timeout(180)  # with a shard deployment but no worker, it would wait for one
@pytest.mark.usefixtures("prefect_api")
def test_shards_without_the_shard_deployment_fail_the_run_saying_what_to_do(
        tmp_path: Path, monkeypatch):
    from briefs.flows.briefs_flow import briefs

    source = tmp_path / "in"
    source.mkdir()
    for name in ("a", "b"):
        (source / f"{name}.txt").write_text("A story of twelve words that is long enough "
                                            f"to be summarized, {name}.")
    monkeypatch.setenv("BRIEFS_SCALE__SHARDS", "2")
    state = briefs(source=str(source), dest=str(tmp_path / "out"), models="tiny",
                   return_state=True)
    assert state.is_failed()
    assert "'briefs-shard/shard' (scale.shard_deployment) does not exist" in state.message
    assert "make deploy" in state.message


class ScriptedClient:
    """The Prefect client as the fan-out loop uses it, answering each shard attempt's run
    with the state the test scripts for it."""

    def __init__(self, script) -> None:
        self.script, self.runs, self.cancelled = script, {}, []

    def submit(self, spec, parameters, deployment):
        from uuid import uuid4

        run_id = uuid4()
        self.runs[run_id] = spec
        return run_id

    def read_flow_run(self, run_id):
        from prefect.client.schemas.objects import FlowRun

        spec = self.runs[run_id]
        state = (self.script[spec.index][min(spec.attempt, len(self.script[spec.index]) - 1)]
                 if run_id not in self.cancelled else "Cancelled")
        return FlowRun(id=run_id, flow_id=run_id, state=_state(state))

    def set_flow_run_state(self, run_id, state):
        self.cancelled.append(run_id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _state(name: str):
    from prefect.client.schemas.objects import State, StateType

    kind = {"Completed": StateType.COMPLETED, "Failed": StateType.FAILED,
            "Crashed": StateType.CRASHED, "Scheduled": StateType.SCHEDULED,
            "Cancelled": StateType.CANCELLED}[name]
    return State(type=kind, name=name, message=f"{name.lower()} as scripted")


class NoProgress:
    def update(self, done: int) -> None:
        pass


@pytest.mark.usefixtures("prefect_api")
def test_failed_crashed_and_unstarted_shards_are_retried_then_given_up(monkeypatch):
    from prefect import flow

    from briefs.flows import fan_out
    from briefs.tasks.run.policy import Deadline

    # Shard 1 fails once then completes; shard 2 always crashes; no worker starts shard 3.
    client = ScriptedClient({0: ["Failed", "Completed"], 1: ["Crashed"], 2: ["Scheduled"]})
    monkeypatch.setattr(fan_out, "POLL_SECONDS", 0)
    monkeypatch.setattr(fan_out, "get_client", lambda sync_client: client)
    monkeypatch.setattr(fan_out, "_submit", client.submit)
    monkeypatch.setattr(fan_out, "read_shard_result", lambda dest, settings, key: result(
        0, [brief("a", "s3://in/a.txt")], {"a": "x"}) | {"attempt": 1, "keys": ["k000.txt"],
                                                          "run_id": "r"})
    monkeypatch.setenv("BRIEFS_SCALE__SHARD_RETRIES", "1")
    monkeypatch.setenv("BRIEFS_SCALE__SHARD_START_TIMEOUT_SECONDS", "1")
    settings = load_config("tiny")
    shards = cut_shards(objects(1, 1, 1), per_shard=1, max_bytes=10**9)

    @flow
    def parent():
        return fan_out.run_shards(shards, {"source": "s3://in/", "dest": "s3://out/"},
                                  settings, "r", Deadline(600), NoProgress())

    out = parent()
    assert [len(r["written"]) for r in out.results] == [1]
    assert [[a["state"] for a in s["attempts"]] for s in out.record] == [
        ["Failed", "Completed"], ["Crashed", "Crashed"], ["Cancelled", "Cancelled"]]
    reasons = {f.uri: f.reason for f in out.failures}
    assert reasons["s3://in/k001.txt"].startswith(
        "shard 2/3 gave up after 2 attempts (scale.shard_retries): its run ended Crashed")
    assert "no worker started it within 1 s (scale.shard_start_timeout_seconds)" in reasons[
        "s3://in/k002.txt"]
    assert len(client.cancelled) == 2  # the unstarted attempts were cancelled, not left


@pytest.mark.usefixtures("prefect_api")
def test_past_the_time_limit_no_shard_starts_and_a_running_one_gets_a_grace(monkeypatch):
    from prefect import flow

    from briefs.flows import fan_out
    from briefs.tasks.run.policy import Deadline

    client = ScriptedClient({0: ["Scheduled"]})  # a shard that never hands anything back
    monkeypatch.setattr(fan_out, "POLL_SECONDS", 0.1)
    monkeypatch.setattr(fan_out, "DEADLINE_GRACE_SECONDS", 1)
    monkeypatch.setattr(fan_out, "get_client", lambda sync_client: client)
    monkeypatch.setattr(fan_out, "_submit", client.submit)
    monkeypatch.setenv("BRIEFS_SCALE__MAX_IN_FLIGHT", "1")
    settings = load_config("tiny")
    shards = cut_shards(objects(1, 1), per_shard=1, max_bytes=10**9)
    deadline = Deadline(1)

    @flow
    def parent():
        return fan_out.run_shards(shards, {"source": "s3://in/", "dest": "s3://out/"},
                                  settings, "r", deadline, NoProgress())

    started = time.monotonic()
    out = parent()
    assert time.monotonic() - started < 30  # the grace ends the wait
    assert deadline.missed
    assert [f.reason for f in out.failures] == [deadline.reason, deadline.reason]
    assert [a["state"] for a in out.record[0]["attempts"]] == ["Cancelling"]
    assert out.record[1]["attempts"] == []  # never submitted
    assert len(client.cancelled) == 1


def test_a_shard_result_of_another_attempt_or_shard_is_not_taken():
    spec = ShardSpec(run_id="r", index=0, count=1, attempt=1, keys=["k"], sizes=[1])
    assert result_problem(None, spec) == "it completed without writing its shard result"
    late = shard_result_document(spec.model_copy(update={"attempt": 0}), "f", [], [], [], {},
                                 {})
    assert result_problem(late, spec) == "its shard result does not match the shard (attempt)"
    assert result_problem(shard_result_document(spec, "f", [], [], [], {}, {}), spec) is None
    assert shard_result_key(spec) == "runs/r/shards/00001-2.json"


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.timeout(180)
def test_a_deployment_run_without_a_shard_deployment_briefs_in_its_own_process(
        tmp_path: Path, monkeypatch):
    """As under `briefs serve`: more objects than scale.shard_articles, no shard deployment."""
    from types import SimpleNamespace

    from briefs.flows import briefs_flow

    source = tmp_path / "in"
    source.mkdir()
    for name in ("a", "b", "c"):
        (source / f"{name}.txt").write_text("A story of twelve words that is long enough "
                                            f"to be summarized, {name}.")
    monkeypatch.setattr(briefs_flow, "deployment", SimpleNamespace(id=deployment_of(
        briefs_flow.briefs, "served", {"source": str(source), "dest": str(tmp_path / "out")})))
    monkeypatch.setenv("BRIEFS_SCALE__SHARD_ARTICLES", "1")
    state = briefs_flow.briefs(source=str(source), dest=str(tmp_path / "out"), models="tiny",
                               languages=["de"], return_state=True)
    assert state.is_completed(), state.message
    manifest = state.result()
    assert manifest["counts"]["succeeded"] == 3 and "shards" not in manifest


@pytest.mark.usefixtures("prefect_api")
def test_a_worker_with_another_configuration_refuses_the_shard(tmp_path: Path):
    from briefs.flows.briefs_flow import briefs_shard

    spec = ShardSpec(run_id="r", index=0, count=1, keys=["a.txt"], sizes=[1],
                     config_hash="0123456789abcdef")
    state = briefs_shard(source=str(tmp_path), dest=str(tmp_path / "out"), models="tiny",
                         shard=spec.model_dump(mode="json"), return_state=True)
    assert state.is_failed()
    assert "shard 1/1: this worker's configuration (hash " in state.message
    assert "is not the parent run's (0123456789abcdef)" in state.message
    assert not (tmp_path / "out").exists()  # refused before anything was briefed
