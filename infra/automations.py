"""The nightly run's alert, as code: `make deploy` creates it, or replaces it on redeploy.

It fires when a run of `briefs/nightly` ends Failed (the run broke, or more articles failed
than `alerts.max_failed_share` allows: the flow then ends Failed with the counts in its
message), TimedOut (past `timeouts.run_seconds`) or Crashed, and sends the notification block
named in the config's `alerts.notification_block`. A run whose few failures stay within the
share completes and emits `briefs.run.partial` instead, which another automation can match.
"""

from __future__ import annotations

import sys

from prefect.automations import Automation
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

from tasks.config import load_config

DEPLOYMENT = "briefs/nightly"
AUTOMATION_NAME = "briefs-nightly-failed"
ALERT_STATES = ("Failed", "TimedOut", "Crashed")
SUBJECT = "briefs: nightly run {{ flow_run.name }} ended {{ flow_run.state.name }}"
BODY = ("Run {{ flow_run.name }} of {{ deployment.name }} ended {{ flow_run.state.name }}: "
        "{{ flow_run.state.message }}\nSee {{ flow_run|ui_url }}")


def alert_automation(deployment_id: str, block_document_id: str) -> Automation:
    return Automation(
        name=AUTOMATION_NAME,
        description="Notify when a nightly briefs run fails, times out or crashes.",
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{state}" for state in ALERT_STATES},
            match_related={"prefect.resource.id": f"prefect.deployment.{deployment_id}"},
            posture=Posture.Reactive, threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT,
                                  body=BODY)],
    )


def main() -> int:
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
        deployment = client.read_deployment_by_name(DEPLOYMENT)
    for existing in _existing():
        existing.delete()
    automation = alert_automation(str(deployment.id), str(block._block_document_id)).create()
    print(f"automation {automation.name!r} ({automation.id}) notifies {block_slug!r}")
    return 0


def _existing() -> list[Automation]:
    try:
        found = Automation.read(name=AUTOMATION_NAME)
    except ValueError:
        return []
    return found if isinstance(found, list) else [found]


if __name__ == "__main__":
    sys.exit(main())
