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

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.states import Cancelling

from briefs.flows.artifacts import Progress
from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.core.records import Failure
from briefs.tasks.output.storage import ObjectInfo
from briefs.tasks.run.pipeline import object_failure
from briefs.tasks.run.policy import Deadline
from briefs.tasks.run.shards import ShardSpec, result_problem, shard_result_key
from briefs.tasks.steps import read_shard_result

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


@dataclass(frozen=True)
class PoolNow:
    """The shard deployment's work pool as the API sees it when a run fans out."""

    name: str
    online_workers: int
    concurrency_limit: int | None
    paused: bool = False

    def bound(self, most: int) -> int:
        """`most` shard runs at once, within the pool's concurrency limit."""
        return most if self.concurrency_limit is None else min(most, self.concurrency_limit)

    def problems(self) -> list[str]:
        """What keeps the pool from starting shard runs now."""
        found = []
        if self.paused:
            found.append(f"the work pool {self.name!r} is paused")
        if self.concurrency_limit == 0:
            found.append(f"the work pool {self.name!r} has a concurrency limit of 0")
        if not self.online_workers:
            found.append(f"no worker is online in the work pool {self.name!r}")
        return found


def pool_now(deployment: str) -> PoolNow | None:
    """The live state of the shard deployment's work pool: its online workers, concurrency
    limit and pause; None when the API knows no such deployment or pool, or does not say."""
    with get_client(sync_client=True) as client:
        try:
            pool_name = client.read_deployment_by_name(deployment).work_pool_name
            if not pool_name:
                return None
            pool = client.read_work_pool(pool_name)
            online = client.read_workers_for_work_pool(
                pool_name, worker_filter=WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"])))
        except ObjectNotFound:
            return None
        except (PrefectHTTPStatusError, httpx.HTTPError) as exc:  # a refinement only
            get_run_logger().warning("the shard pool's workers could not be read (%s); "
                                     "planning without them", exc)
            return None
    return PoolNow(pool_name, len(online), pool.concurrency_limit, bool(pool.is_paused))


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
    ends_at = datetime.now(UTC) + timedelta(seconds=deadline.remaining())
    specs = [ShardSpec(run_id=run_id, index=index, count=len(shards),
                       keys=[o.key for o in objects], sizes=[o.size for o in objects],
                       ends_at=ends_at, config_hash=settings.config_hash())
             for index, objects in enumerate(shards)]
    with get_client(sync_client=True) as client:
        return ShardScheduler(client, specs, parameters, settings, deadline, progress).run()


class ShardScheduler:
    """Keeps up to `scale.max_in_flight` shard runs going: submits the waiting shards, takes
    the results of those that completed, and submits again (or gives up) those that did not
    hand one back."""

    def __init__(self, client: SyncPrefectClient, specs: list[ShardSpec],
                 parameters: dict[str, Any], settings: BriefsConfig, deadline: Deadline,
                 progress: Progress) -> None:
        self.client, self.parameters, self.settings = client, parameters, settings
        self.deadline, self.progress, self.scale = deadline, progress, settings.scale
        self.source, self.dest = parameters["source"], parameters["dest"]
        self.logger = get_run_logger()
        self.waiting = deque(specs)
        self.running: dict[int, Attempt] = {}
        self.out = FannedOut(record=[{"shard": s.index + 1, "objects": len(s.keys),
                                      "attempts": []} for s in specs])
        self.done_objects = 0

    def run(self) -> FannedOut:
        """Poll until every shard has a result or was given up, or the time is up; a shard
        still running then is cancelled and given up."""
        try:
            while self._keep_polling():
                self._submit_waiting()
                time.sleep(POLL_SECONDS)
                for attempt in list(self.running.values()):
                    self._check(attempt)
        finally:  # the run's limit, or the parent itself failing: no child left unwatched
            self._stop_running()
        return self.out

    def _keep_polling(self) -> bool:
        """Whether shards wait or run, within the time limit (past it, the shards running get
        DEADLINE_GRACE_SECONDS to hand back what they briefed; the waiting ones give up)."""
        if not (self.waiting or self.running):
            return False
        if not self.deadline.passed():
            return True
        self.deadline.mark_missed()
        while self.waiting:  # none of these started: their articles are not briefed
            self._give_up(self.waiting.popleft(), self.deadline.reason)
        return bool(self.running) and (
            time.monotonic() <= self.deadline.ends + DEADLINE_GRACE_SECONDS)

    def _submit_waiting(self) -> None:
        """Start waiting shards while fewer than `scale.max_in_flight` run."""
        while self.waiting and len(self.running) < self.scale.max_in_flight:
            spec = self.waiting.popleft()
            self.running[spec.index] = Attempt(
                spec, _submit(spec, self.parameters, self.scale.shard_deployment),
                datetime.now(UTC))

    def _check(self, attempt: Attempt) -> None:
        """Take the shard's result once its run completed; submit it again, or give it up,
        when its run ended without one or stalled; leave it while it may still finish."""
        run = self.client.read_flow_run(attempt.flow_run_id)
        verdict = _verdict(run, attempt.submitted, self.scale.shard_start_timeout_seconds,
                           self.scale.shard_timeout_seconds)
        if verdict == "completed":
            verdict = self._take_result(attempt, run)
        if verdict is not None:
            self._retry(attempt, run, verdict)

    def _take_result(self, attempt: Attempt, run: FlowRun) -> str | None:
        """Take a completed shard's result object: None once taken, else why it cannot be."""
        spec = attempt.spec
        result = read_shard_result(self.dest, self.settings, shard_result_key(spec))
        if (problem := result_problem(result, spec)) is not None:
            return problem
        self._finish(attempt, run.state.name)
        self.out.results.append(result)
        self.done_objects += len(spec.keys)
        self.progress.update(self.done_objects)
        return None

    def _retry(self, attempt: Attempt, run: FlowRun, verdict: str) -> None:
        """Stop a stalled run, then submit the shard again, or give it up after
        `scale.shard_retries` more attempts."""
        spec = attempt.spec
        if not run.state or not run.state.is_final():  # stalled: stop it first
            self.client.set_flow_run_state(run.id, Cancelling(message=verdict))
            run = self.client.read_flow_run(run.id)
        self._finish(attempt, run.state.name if run.state else None)
        if spec.attempt < self.scale.shard_retries:
            self.logger.warning("%s, attempt %d: %s; submitting it again", spec.label,
                                spec.attempt + 1, verdict)
            self.waiting.append(spec.model_copy(update={"attempt": spec.attempt + 1}))
        else:
            self._give_up(spec, f"{spec.label} gave up after {spec.attempt + 1} attempts "
                                f"(scale.shard_retries): {verdict}")

    def _stop_running(self) -> None:
        """Cancel the shard runs still going and give up their articles."""
        for attempt in list(self.running.values()):
            self.client.set_flow_run_state(attempt.flow_run_id, Cancelling(
                message="the parent run stopped watching this shard"))
            self._finish(attempt, "Cancelling")
            self._give_up(attempt.spec, self.deadline.reason if self.deadline.missed else
                          f"{attempt.spec.label}: the parent run stopped before it finished")

    def _finish(self, attempt: Attempt, state_name: str | None) -> None:
        """The attempt is over: record it with its run's final state."""
        del self.running[attempt.spec.index]
        self.out.record[attempt.spec.index]["attempts"].append(
            {"flow_run_id": str(attempt.flow_run_id), "state": state_name})

    def _give_up(self, spec: ShardSpec, reason: str) -> None:
        """No more attempts: every article of the shard fails with `reason`."""
        self.logger.error("%s: %s", spec.label, reason)
        self.out.failures.extend(object_failure(self.source, key, reason) for key in spec.keys)


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
