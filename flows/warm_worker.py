"""A warm worker: a Prefect worker that runs its pool's flow runs in its own process, one at a
time, so the models a shard run loads stay loaded for the next one (`briefs warm-worker`).

A process worker starts every flow run in a fresh process: each shard imports the libraries
and loads every model again. This worker (type `briefs-warm`) runs each flow run it takes
in a thread of its own long-lived process, with Prefect's flow engine (`run_flow`), as the
flow run's process would:
- The engine sends the flow run's heartbeats from this process. A worker that dies takes
  them with it, and the zombie automation marks its shard run Crashed; the parent run then
  submits that shard again, to another worker, which takes over the briefs already written.
- One flow run at a time (its limit is 1). After each, the models that run did not use are
  released, with the memory freed: a worker holds one run's models, whatever ran before.
- A shard run set Cancelling while it runs (the parent stopped it) cannot be stopped inside
  a thread: the worker marks it Cancelled and exits, as a killed process would, so no stale
  attempt writes beside the next one. Run it under a supervisor that starts it again
  (systemd `Restart=always`, a Kubernetes Deployment); it comes back cold.
- It runs the installed package (the deployment's module path), never pulled code, with the
  worker's own environment: a deployment's job variables do not apply.
"""

from __future__ import annotations

import gc
import os
import socket
from functools import partial
from typing import Any

import anyio
import anyio.abc
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.flow_engine import run_flow
from prefect.flows import load_flow_from_flow_run
from prefect.states import State
from prefect.workers.base import (
    BaseJobConfiguration,
    BaseVariables,
    BaseWorker,
    BaseWorkerResult,
)

from briefs.tasks.models.loading import release_unused_models
from briefs.tasks.models.memory import release_freed_memory

WORKER_TYPE = "briefs-warm"
# How often a running flow run's state is read, to see it set Cancelling.
CANCEL_POLL_SECONDS = 5.0
# The exit status of a worker that left with its cancelled run (the supervisor restarts it).
CANCELLED_EXIT = 3


class WarmJobConfiguration(BaseJobConfiguration):
    """Nothing to configure per run: a run uses the worker's process and environment."""


class WarmVariables(BaseVariables):
    """No job variables: a run uses the worker's process and environment."""


class WarmWorkerResult(BaseWorkerResult):
    """How a flow run that ran in the worker's process ended (status 0: Completed)."""


class WarmWorker(BaseWorker[WarmJobConfiguration, WarmVariables, WarmWorkerResult]):
    """Runs the pool's flow runs in this process, one at a time, keeping the models loaded."""

    type = WORKER_TYPE
    job_configuration = WarmJobConfiguration
    job_configuration_variables = WarmVariables
    _description = ("Runs briefs' shard runs one at a time in the worker's own process, "
                    "keeping the models loaded from one to the next.")
    _display_name = "briefs warm worker"

    def __init__(self, work_pool_name: str, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(work_pool_name, name=name, limit=1, **kwargs)

    async def run(self, flow_run: FlowRun, configuration: WarmJobConfiguration,
                  task_status: anyio.abc.TaskStatus[str] | None = None) -> WarmWorkerResult:
        """Run the flow run to its end in a thread of this process. A flow that cannot be
        loaded raises before the run is reported started: the worker marks it Crashed."""
        flow = await load_flow_from_flow_run(flow_run, ignore_storage=True,
                                             use_placeholder_flow=False)
        identifier = infrastructure_id()
        if task_status is not None:
            task_status.started(identifier)  # recorded as the run's infrastructure_pid
        async with anyio.create_task_group() as group:
            group.start_soon(self._leave_if_cancelled, flow_run)
            state = await anyio.to_thread.run_sync(
                partial(run_flow, flow, flow_run=flow_run, return_type="state"))
            group.cancel_scope.cancel()
        released = release_unused_models()
        gc.collect()
        release_freed_memory()
        if released:
            self._logger.info("released %d models the last run did not use: %s",
                              len(released), ", ".join(released))
        # The engine recorded the run's final state itself; a status other than 0 would have
        # the worker mark it Crashed on top.
        ended = isinstance(state, State) and state.is_final()
        return WarmWorkerResult(identifier=identifier, status_code=0 if ended else 1)

    async def _leave_if_cancelled(self, flow_run: FlowRun) -> None:
        """While the run goes on: once it is set Cancelling, mark it Cancelled and exit."""
        while True:
            await anyio.sleep(CANCEL_POLL_SECONDS)
            now = await self.client.read_flow_run(flow_run.id)
            if now.state is not None and now.state.type == StateType.CANCELLING:
                await self._mark_flow_run_as_cancelled(now, state_updates={
                    "message": f"cancelled while running on the warm worker {self.name!r}, "
                               "which exits with it (its supervisor starts it again)"})
                self._logger.warning("flow run %s was cancelled while running here: exiting",
                                     flow_run.id)
                os._exit(CANCELLED_EXIT)


def infrastructure_id() -> str:
    """`host:pid` of this process, as the run's infrastructure_pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve(pool: str, name: str | None = None) -> None:
    """Start a warm worker on `pool` (made with the worker's type when missing) until stopped."""
    await WarmWorker(pool, name=name).start()
