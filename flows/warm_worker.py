"""A warm worker: a Prefect worker that runs its pool's flow runs in its own process, one at a
time, so the models a shard run loads stay loaded for the next one (`briefs warm-worker`).

A process worker starts every flow run in a fresh process: each shard imports the libraries
and loads every model again. This worker (type `briefs-warm`) runs each flow run it takes
in a thread of its own long-lived process, with Prefect's flow engine (`run_flow`), as the
flow run's process would (docs/scaling.md#warm-workers):
- The engine sends the flow run's heartbeats from this process. A worker that dies takes
  them with it, and the zombie automation marks its shard run Crashed; the parent run then
  submits that shard again, to another worker, which takes over the briefs already written.
- One flow run at a time (its limit is 1). After each, the models that run did not use are
  released and the freed memory handed back: between runs it holds the last run's models.
- A running shard run set Cancelling cannot be stopped inside a thread: the worker, which
  reads the run's state every few seconds, marks it Cancelled and exits, as a killed process
  would. Run it under a supervisor that starts it again; it comes back cold.
- It runs sync flows of the installed package (the deployment's module path), never pulled
  code, in the worker's own environment: a deployment's job variables do not apply.
"""

from __future__ import annotations

import os
import socket
from functools import partial
from typing import Any

import anyio
import anyio.abc
import httpx
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events.worker import EventsWorker
from prefect.exceptions import InfrastructureNotAvailable, PrefectHTTPStatusError
from prefect.flow_engine import run_flow
from prefect.flows import load_flow_from_flow_run
from prefect.logging.handlers import APILogWorker
from prefect.workers.base import (
    BaseJobConfiguration,
    BaseVariables,
    BaseWorker,
    BaseWorkerResult,
)

from briefs.tasks.generation.routes import forget_unavailable_routes
from briefs.tasks.models.loading import release_unused_models
from briefs.tasks.models.memory import free_unreachable, release_gpu_cache

WORKER_TYPE = "briefs-warm"
# How often a running flow run's state is read, to see it set Cancelling (`--cancel-poll`).
CANCEL_POLL_SECONDS = 5.0
# The exit status of a worker that left with its cancelled run (the supervisor restarts it).
CANCELLED_EXIT = 3
DRAIN_SECONDS = 5.0  # for the run's last logs and events to reach the API before that exit
STOPPED = (StateType.CANCELLING, StateType.CANCELLED)  # a running run's states the worker obeys


class WarmJobConfiguration(BaseJobConfiguration):
    """Nothing to configure per run: a run uses the worker's process and environment."""


class WarmVariables(BaseVariables):
    """The variables Prefect gives every pool (name, env, labels, command); a warm worker
    applies none of them: a run uses the worker's process and environment."""


class WarmWorkerResult(BaseWorkerResult):
    """A flow run that ran in the worker's process: status 0 when the engine ran it to a
    state it recorded itself, 1 when it raised (the worker then marks the run Crashed)."""


class WarmWorker(BaseWorker[WarmJobConfiguration, WarmVariables, WarmWorkerResult]):
    """Runs the pool's flow runs in this process, one at a time, keeping the models loaded."""

    type = WORKER_TYPE
    job_configuration = WarmJobConfiguration
    job_configuration_variables = WarmVariables
    _description = ("Runs briefs' shard runs one at a time in the worker's own process, "
                    "keeping the models loaded from one to the next.")
    _display_name = "briefs warm worker"

    def __init__(self, work_pool_name: str, name: str | None = None,
                 cancel_poll_seconds: float = CANCEL_POLL_SECONDS, **kwargs: Any) -> None:
        super().__init__(work_pool_name, name=name, limit=1, **kwargs)
        self.cancel_poll_seconds = cancel_poll_seconds

    async def run(self, flow_run: FlowRun, configuration: WarmJobConfiguration,
                  task_status: anyio.abc.TaskStatus[Any] | None = None) -> WarmWorkerResult:
        """Run the flow run to its end in a thread of this process. A flow that cannot be
        loaded (or is async) raises before the run is reported started: the worker marks it
        Crashed."""
        flow = await load_flow_from_flow_run(flow_run, ignore_storage=True,
                                             use_placeholder_flow=False)
        if flow.isasync:
            raise TypeError(f"the warm worker runs sync flows only, not {flow.name!r}")
        flow_run = await self.client.read_flow_run(flow_run.id)  # as the engine would load it
        identifier = infrastructure_id()
        if task_status is not None:
            task_status.started(identifier)  # recorded as the run's infrastructure_pid
        status = 1
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._leave_if_cancelled, flow_run)
                try:
                    await anyio.to_thread.run_sync(
                        partial(run_flow, flow, flow_run=flow_run, return_type="state"))
                    status = 0
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException:  # noqa: BLE001 (Abort, Pause, a flow's own: the run's)
                    self.get_flow_run_logger(flow_run).exception(
                        "the flow run raised in the warm worker")
                finally:
                    group.cancel_scope.cancel()
        finally:
            self._forget_the_run()
        await self._cancelled_as_it_ended(flow_run)
        return WarmWorkerResult(identifier=identifier, status_code=status)

    def _forget_the_run(self) -> None:
        """What the run loaded and did not need again: models, route refusals, freed memory."""
        released = release_unused_models()
        forget_unavailable_routes()
        free_unreachable()
        release_gpu_cache()
        if released:
            self._logger.info("released %d models the last run did not use: %s",
                              len(released), ", ".join(released))

    async def _leave_if_cancelled(self, flow_run: FlowRun) -> None:
        """While the run goes on: once it is set Cancelling, mark it Cancelled and exit (an
        API error is logged and the next poll tries again)."""
        while True:
            await anyio.sleep(self.cancel_poll_seconds)
            try:
                now = await self.client.read_flow_run(flow_run.id)
            except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
                self._logger.warning("could not read the state of flow run %s (%s); trying "
                                     "again", flow_run.id, exc)
                continue
            if now.state is not None and now.state.type in STOPPED:
                with anyio.CancelScope(shield=True):  # the run's end must not stop the exit
                    if now.state.type == StateType.CANCELLING:
                        await self._mark_flow_run_as_cancelled(now, state_updates={
                            "message": f"cancelled while running on the warm worker "
                                       f"{self.name!r}, which exits with it (its supervisor "
                                       "starts it again)"})
                    self._logger.warning("flow run %s was cancelled while running here: "
                                         "exiting", flow_run.id)
                    await APILogWorker.drain_all(timeout=DRAIN_SECONDS)
                    await EventsWorker.drain_all(timeout=DRAIN_SECONDS)
                    os._exit(CANCELLED_EXIT)

    async def _cancelled_as_it_ended(self, flow_run: FlowRun) -> None:
        """A run set Cancelling that ended before the next poll is left Cancelling (the server
        refuses its Completed): mark it Cancelled."""
        try:
            now = await self.client.read_flow_run(flow_run.id)
        except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
            self._logger.warning("could not read the end state of flow run %s (%s)",
                                 flow_run.id, exc)
            return
        if now.state is not None and now.state.type == StateType.CANCELLING:
            await self._mark_flow_run_as_cancelled(now, state_updates={
                "message": "cancelled while it ran; it ended on the warm worker before "
                           "the worker saw the cancel"})

    async def kill_infrastructure(self, infrastructure_pid: str, configuration: Any,
                                  grace_seconds: int = 30) -> None:
        """A run cancelled before it started here: nothing to kill (the run's own poll
        sees it Cancelling once it starts)."""
        raise InfrastructureNotAvailable(
            f"flow run in the warm worker's process {infrastructure_pid}: it stops when the "
            "worker sees it cancelled")


def infrastructure_id() -> str:
    """`host:pid` of this process, as the run's infrastructure_pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve(pool: str, name: str | None = None,
                cancel_poll_seconds: float | None = None) -> None:
    """Start a warm worker on `pool` (made with the worker's type when missing) until stopped."""
    await WarmWorker(pool, name=name,
                     cancel_poll_seconds=cancel_poll_seconds or CANCEL_POLL_SECONDS).start()
