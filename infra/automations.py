"""The automations, as code: `make deploy` creates them, or replaces them on redeploy.

Zombie runs: a flow run whose process died with its machine (a worker killed, a node lost)
stays Running for ever. Flow runs emit a heartbeat every PREFECT_FLOWS_HEARTBEAT_FREQUENCY
seconds (`make worker` sets 30); this automation marks a run Crashed after three missed
heartbeats, and a parent run that fans out then submits that shard again.

The nightly run's alert:
It fires when a run of `briefs/nightly` or `briefs-arrivals/late-arrivals` ends Failed (the
run broke, or more articles failed than `alerts.max_failed_share` allows: the flow then ends
Failed with the counts in its message), TimedOut (past `timeouts.run_seconds`) or Crashed, and
sends the notification block named in the config's `alerts.notification_block`. A run whose
few failures stay within the share completes and emits `briefs.run.partial` instead, which
another automation can match.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from prefect.automations import Automation
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.settings import get_current_settings

from briefs.flows import ARRIVALS_DEPLOYMENT, NIGHTLY_DEPLOYMENT
from briefs.tasks.core.config import load_config

ALERTED_DEPLOYMENTS = (NIGHTLY_DEPLOYMENT, ARRIVALS_DEPLOYMENT)
AUTOMATION_NAME = "briefs-nightly-failed"
ZOMBIE_AUTOMATION_NAME = "briefs-crash-zombie-runs"
MISSED_HEARTBEATS = 3
ALERT_STATES = ("Failed", "TimedOut", "Crashed")
SUBJECT = "briefs: nightly run {{ flow_run.name }} ended {{ flow_run.state.name }}"
BODY = ("Run {{ flow_run.name }} of {{ deployment.name }} ended {{ flow_run.state.name }}: "
        "{{ flow_run.state.message }}\nSee {{ flow_run|ui_url }}")


def alert_automation(deployment_ids: list[str], block_document_id: str) -> Automation:
    return Automation(
        name=AUTOMATION_NAME,
        description="Notify when a nightly briefs run fails, times out or crashes.",
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{state}" for state in ALERT_STATES},
            match_related={"prefect.resource.id": [f"prefect.deployment.{deployment_id}"
                                                   for deployment_id in deployment_ids]},
            posture=Posture.Reactive, threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT,
                                  body=BODY)],
    )


def zombie_automation(heartbeat_seconds: int) -> Automation:
    """Crashed for a flow run whose heartbeats stopped while it had not ended."""
    return Automation(
        name=ZOMBIE_AUTOMATION_NAME,
        description=f"Mark a flow run Crashed after {MISSED_HEARTBEATS} missed heartbeats.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=MISSED_HEARTBEATS * heartbeat_seconds),
        ),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"no heartbeat for {MISSED_HEARTBEATS * heartbeat_seconds} s: its process "
                    "or machine died")],
    )


def main() -> int:
    heartbeat = get_current_settings().flows.heartbeat_frequency or 30
    _replace(ZOMBIE_AUTOMATION_NAME, zombie_automation(heartbeat))
    print(f"automation {ZOMBIE_AUTOMATION_NAME!r}: Crashed after {MISSED_HEARTBEATS} missed "
          f"heartbeats of {heartbeat} s")
    block_slug = load_config("default").alerts.notification_block
    if not block_slug:
        print("alerts.notification_block is empty: no alert automation created")
        return 0
    try:
        block = Block.load(block_slug)
    except ValueError as exc:
        print(f"the notification block {block_slug!r} does not exist yet ({exc}); create it "
              "(e.g. in the UI under Blocks) and run make deploy again", file=sys.stderr)
        return 0
    with get_client(sync_client=True) as client:
        deployment_ids = [str(client.read_deployment_by_name(name).id)
                          for name in ALERTED_DEPLOYMENTS]
    automation = _replace(AUTOMATION_NAME, alert_automation(deployment_ids,
                                                             str(block._block_document_id)))
    print(f"automation {automation.name!r} ({automation.id}) notifies {block_slug!r}")
    return 0


def _replace(name: str, automation: Automation) -> Automation:
    """Create `automation`, deleting any earlier one of that name."""
    try:
        found = Automation.read(name=name)
    except ValueError:
        found = []
    for existing in found if isinstance(found, list) else [found]:
        existing.delete()
    return automation.create()


if __name__ == "__main__":
    sys.exit(main())
