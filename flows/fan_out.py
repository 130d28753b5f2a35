"""Fan-out: one child run of the shard deployment per shard, on the work pool's workers.

At most `scale.max_in_flight` shard runs at once. A shard run that crashed (its worker died:
the zombie automation marks it Crashed when its heartbeats stop), failed, was cancelled,
stalled past `scale.shard_timeout_seconds`, or completed without its result object is
submitted again, up to `scale.shard_retries` times. Each submission has the idempotency key
(run, shard, attempt), so a parent that is itself run again finds its children instead of
starting them twice.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelling

from flows.artifacts import Progress
from tasks.articles import article_id_for
from tasks.config import BriefsConfig
from tasks.outcome import Deadline
from tasks.records import Failure
from tasks.shards import ShardSpec, shard_result_key
from tasks.steps import read_shard_result
from tasks.storage import ObjectInfo, object_uri

POLL_SECONDS = 2.0


@dataclass
class Attempt:
    spec: ShardSpec
    flow_run_id: UUID


@dataclass
class FannedOut:
    """The shard results that came back, the articles of shards given up, and each shard's
    attempts (flow run id and final state) for the manifest."""

    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    record: list[dict[str, Any]] = field(default_factory=list)


def run_shards(shards: list[list[ObjectInfo]], parameters: dict[str, Any],
               settings: BriefsConfig, run_id: str, deadline: Deadline,
               progress: Progress) -> FannedOut:
    """Run every shard to a result, or give it up with a reason for each of its articles."""
    logger = get_run_logger()
    scale = settings.scale
    source, dest = parameters["source"], parameters["dest"]
    waiting = deque(ShardSpec(run_id=run_id, index=index, count=len(shards),
                              keys=[o.key for o in objects], sizes=[o.size for o in objects])
                    for index, objects in enumerate(shards))
    running: dict[int, Attempt] = {}
    out = FannedOut(record=[{"shard": i, "objects": len(s), "attempts": []}
                            for i, s in enumerate(shards)])
    done_objects = 0
    with get_client(sync_client=True) as client:
        while waiting or running:
            if deadline.passed():
                for attempt in running.values():
                    client.set_flow_run_state(attempt.flow_run_id, Cancelling(
                        message="the parent run passed its time limit"), force=True)
                given_up = [a.spec for a in running.values()] + list(waiting)
                out.failures += [_failure(source, key, deadline.reason)
                                 for spec in given_up for key in spec.keys]
                break
            while waiting and len(running) < scale.max_in_flight:
                spec = waiting.popleft().model_copy(update={"seconds_left": deadline.remaining()})
                flow_run_id = _submit(spec, parameters, scale.shard_deployment)
                running[spec.index] = Attempt(spec, flow_run_id)
            time.sleep(POLL_SECONDS)
            for index, attempt in list(running.items()):
                run = client.read_flow_run(attempt.flow_run_id)
                verdict = _verdict(run, scale.shard_timeout_seconds)
                if verdict is None:
                    continue
                del running[index]
                spec = attempt.spec
                out.record[index]["attempts"].append(
                    {"flow_run_id": str(run.id), "state": run.state.name if run.state else None})
                if verdict == "completed":
                    result = read_shard_result(dest, settings, shard_result_key(run_id, index))
                    if result is not None and result.get("attempt") == spec.attempt:
                        out.results.append(result)
                        done_objects += len(spec.keys)
                        progress.update(done_objects)
                        continue
                    verdict = "it completed without writing its shard result"
                elif verdict == "stalled":
                    verdict = (f"still running {scale.shard_timeout_seconds} s after it started "
                               "(scale.shard_timeout_seconds); cancelled")
                    client.set_flow_run_state(run.id, Cancelling(message=verdict), force=True)
                if spec.attempt < scale.shard_retries:
                    logger.warning("%s, attempt %d: %s; submitting it again", spec.label,
                                   spec.attempt + 1, verdict)
                    waiting.append(spec.model_copy(update={"attempt": spec.attempt + 1}))
                else:
                    reason = (f"{spec.label} gave up after {spec.attempt + 1} attempts "
                              f"(scale.shard_retries): {verdict}")
                    logger.error(reason)
                    out.failures += [_failure(source, key, reason) for key in spec.keys]
    return out


def _submit(spec: ShardSpec, parameters: dict[str, Any], deployment: str) -> UUID:
    """Start one child run of the shard deployment and return at once."""
    try:
        run = run_deployment(
            name=deployment, parameters={**parameters, "shard": spec.model_dump(mode="json")},
            timeout=0, as_subflow=True,
            idempotency_key=f"{spec.run_id}:{spec.index}:{spec.attempt}",
            flow_run_name=f"{spec.label}, attempt {spec.attempt + 1}")
    except ObjectNotFound:
        raise RuntimeError(
            f"the shard deployment {deployment!r} (scale.shard_deployment) does not exist on "
            "this Prefect API: run `make deploy` and `make worker`, or run without shards"
        ) from None
    return run.id


def _verdict(run: FlowRun, timeout_seconds: int) -> str | None:
    """None while the shard run may still finish; else 'completed' or why it did not."""
    state = run.state
    if state is None or not state.is_final():
        if state is not None and state.type == StateType.RUNNING and (
                datetime.now(UTC) - state.timestamp).total_seconds() > timeout_seconds:
            return "stalled"
        return None
    if state.type == StateType.COMPLETED:
        return "completed"
    return f"its run ended {state.name}: {state.message or 'no message'}"


def _failure(source: str, key: str, reason: str) -> Failure:
    return Failure(article_id_for(key), object_uri(source, key), reason)
