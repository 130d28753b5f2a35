"""What started a run, as its manifest records it."""

from __future__ import annotations

from prefect.runtime import deployment, flow_run


def run_trigger(event_run: bool) -> dict[str, str]:
    """`{"kind": ...}`: `schedule` (with the schedule's slug), `event` (late arrivals, with
    the automation's name), `automation` (another automation), `manual` (the UI's form, or
    the API), `local` (`briefs run`, no deployment), or `unknown` (the API did not say)."""
    if deployment.id is None:
        return {"kind": "local"}
    from prefect import get_run_logger
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            created_by = client.read_flow_run(flow_run.get_id()).created_by
    except Exception as exc:  # the API did not answer: the run goes on all the same
        get_run_logger().warning("what started this run cannot be read: %s", exc)
        return {"kind": "event" if event_run else "unknown"}
    by = {"by": created_by.display_value} if created_by and created_by.display_value else {}
    if event_run:
        return {"kind": "event", **by}
    if created_by is not None and created_by.type == "SCHEDULE":
        return {"kind": "schedule", **by}
    if created_by is not None and created_by.type == "AUTOMATION":
        return {"kind": "automation", **by}
    return {"kind": "manual"}
