"""Fan-out: one child run of the shard deployment per shard, on the work pool's workers.

At most `scale.max_in_flight` shard runs at once. A shard run that crashed (its worker died:
the zombie automation marks it Crashed when its heartbeats stop), failed, was cancelled,
did not start within `scale.shard_start_timeout_seconds`, ran past
`scale.shard_timeout_seconds`, or completed without a matching result object is submitted
again, up to `scale.shard_retries` times, then given up with the reason for each of its
articles. Each submission has the idempotency key (run, shard, attempt, the shard's keys),
so a parent run that is itself run again finds the children it started.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from briefs.flows.artifacts import Progress
from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.core.records import Failure
from briefs.tasks.output.storage import ObjectInfo
from briefs.tasks.run.pipeline import object_failure
from briefs.tasks.run.policy import Deadline
from briefs.tasks.run.shards import ShardSpec, result_problem, shard_result_key
from briefs.tasks.steps import read_shard_result
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelling

POLL_SECONDS = 2.0
# Past the run's time limit, shards still running get this long to hand back what they
# briefed (they stop starting batches at the same limit), before they are cancelled.
DEADLINE_GRACE_SECONDS = 300


@dataclass
class Attempt:
    spec: ShardSpec
    flow_run_id: UUID
    submitted: datetime


@dataclass
class FannedOut:
    """The shard results that came back, the articles of shards given up, and each shard's
    attempts (flow run id and final state) for the manifest."""

    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    record: list[dict[str, Any]] = field(default_factory=list)


def shard_deployment_exists(name: str) -> bool:
    """Whether the Prefect API knows the shard deployment."""
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
    return True


def run_shards(shards: list[list[ObjectInfo]], parameters: dict[str, Any],
               settings: BriefsConfig, run_id: str, deadline: Deadline,
               progress: Progress) -> FannedOut:
    """Run every shard to a result, or give it up with a reason for each of its articles."""
    logger = get_run_logger()
    scale = settings.scale
    source, dest = parameters["source"], parameters["dest"]
    ends_at = datetime.now(UTC) + timedelta(seconds=deadline.remaining())
    waiting = deque(ShardSpec(run_id=run_id, index=index, count=len(shards),
                              keys=[o.key for o in objects], sizes=[o.size for o in objects],
                              ends_at=ends_at, config_hash=settings.config_hash())
                    for index, objects in enumerate(shards))
    running: dict[int, Attempt] = {}
    out = FannedOut(record=[{"shard": i + 1, "objects": len(s), "attempts": []}
                            for i, s in enumerate(shards)])
    done_objects = 0

    def finish(attempt: Attempt, state_name: str | None) -> None:
        del running[attempt.spec.index]
        out.record[attempt.spec.index]["attempts"].append(
            {"flow_run_id": str(attempt.flow_run_id), "state": state_name})

    def give_up(spec: ShardSpec, reason: str) -> None:
        logger.error("%s: %s", spec.label, reason)
        out.failures.extend(object_failure(source, key, reason) for key in spec.keys)

    with get_client(sync_client=True) as client:
        try:
            while waiting or running:
                if deadline.passed():
                    while waiting:  # none of these started: their articles are not briefed
                        give_up(waiting.popleft(), deadline.reason)
                    if not running or time.monotonic() > deadline.ends + DEADLINE_GRACE_SECONDS:
                        break
                while waiting and len(running) < scale.max_in_flight:
                    spec = waiting.popleft()
                    running[spec.index] = Attempt(
                        spec, _submit(spec, parameters, scale.shard_deployment),
                        datetime.now(UTC))
                time.sleep(POLL_SECONDS)
                for attempt in list(running.values()):
                    run = client.read_flow_run(attempt.flow_run_id)
                    verdict = _verdict(run, attempt.submitted, scale.shard_start_timeout_seconds,
                                       scale.shard_timeout_seconds)
                    if verdict is None:
                        continue
                    spec = attempt.spec
                    if verdict == "completed":
                        result = read_shard_result(dest, settings, shard_result_key(spec))
                        if (problem := result_problem(result, spec)) is None:
                            finish(attempt, run.state.name)
                            out.results.append(result)
                            done_objects += len(spec.keys)
                            progress.update(done_objects)
                            continue
                        verdict = problem
                    if not run.state or not run.state.is_final():  # stalled: stop it first
                        client.set_flow_run_state(run.id, Cancelling(message=verdict))
                        run = client.read_flow_run(run.id)
                    finish(attempt, run.state.name if run.state else None)
                    if spec.attempt < scale.shard_retries:
                        logger.warning("%s, attempt %d: %s; submitting it again", spec.label,
                                       spec.attempt + 1, verdict)
                        waiting.append(spec.model_copy(update={"attempt": spec.attempt + 1}))
                    else:
                        give_up(spec, f"{spec.label} gave up after {spec.attempt + 1} attempts "
                                      f"(scale.shard_retries): {verdict}")
        finally:  # the run's limit, or the parent itself failing: no child left unwatched
            for attempt in list(running.values()):
                client.set_flow_run_state(attempt.flow_run_id, Cancelling(
                    message="the parent run stopped watching this shard"))
                finish(attempt, "Cancelling")
                give_up(attempt.spec, deadline.reason if deadline.missed else
                        f"{attempt.spec.label}: the parent run stopped before it finished")
    return out


def _submit(spec: ShardSpec, parameters: dict[str, Any], deployment: str) -> UUID:
    """Start one child run of the shard deployment and return at once."""
    try:
        run = run_deployment(
            name=deployment, parameters={**parameters, "shard": spec.model_dump(mode="json")},
            timeout=0, as_subflow=True, idempotency_key=spec.idempotency_key,
            flow_run_name=f"{spec.label}, attempt {spec.attempt + 1}")
    except ObjectNotFound:
        raise RuntimeError(
            f"the shard deployment {deployment!r} (scale.shard_deployment) does not exist on "
            "this Prefect API: run `make deploy` and `make worker`, or run without shards"
        ) from None
    return run.id


def _verdict(run: FlowRun, submitted: datetime, start_timeout: int,
             timeout: int) -> str | None:
    """None while the shard run may still finish; else 'completed' or why it did not."""
    state, now = run.state, datetime.now(UTC)
    if state is not None and state.is_final():
        if state.type == StateType.COMPLETED:
            return "completed"
        return f"its run ended {state.name}: {state.message or 'no message'}"
    if state is not None and state.type == StateType.RUNNING:
        if (now - state.timestamp).total_seconds() > timeout:
            return (f"still running {timeout} s after it started (scale.shard_timeout_seconds); "
                    "cancelled")
        return None
    if (now - submitted).total_seconds() > start_timeout:
        return (f"no worker started it within {start_timeout} s "
                "(scale.shard_start_timeout_seconds); cancelled")
    return None
