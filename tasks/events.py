"""Late arrivals as Prefect events: one `briefs.object.created` per new object, its URI as
the resource; the nightly deployment's trigger starts a run for a window of them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from briefs.tasks.ingest.s3_notifications import CreatedObject
from briefs.tasks.run.nights import source_prefix

if TYPE_CHECKING:
    from prefect.events import DeploymentEventTrigger

OBJECT_CREATED = "briefs.object.created"
# Events up to a minute before the trigger's own are read too: the trigger drops an event
# stamped before its window (another host's clock, a slow consumer); one read twice is
# found up to date.
LOOK_BACK = timedelta(seconds=60)
TRIGGER_NAME = "briefs-late-arrivals"
WINDOW_SECONDS = 30  # the trigger's `within`: a burst of uploads in it is one run
SCHEDULE_AFTER_SECONDS = 40  # the run starts once its window's events are stored


class Arrivals(BaseModel):
    """The `briefs.object.created` events an event-started run briefs: those from `since`
    (the event that fired the trigger) to `seconds` later (the trigger's `within`, during
    which it does not fire again)."""

    since: datetime
    seconds: float = Field(WINDOW_SECONDS, gt=0, le=3600)
    first: str | None = None  # the URI in the event that fired the trigger


def arrived_objects(arrivals: Arrivals, prefix: str) -> list[str]:
    """The URIs (starting with `prefix`) named by the events of the window, in the order
    they came, each once; the trigger's own always among them."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventOrder,
        EventResourceFilter,
    )

    window = EventFilter(
        event=EventNameFilter(name=[OBJECT_CREATED]),
        occurred=EventOccurredFilter(since=arrivals.since - LOOK_BACK,
                                     until=arrivals.since + timedelta(seconds=arrivals.seconds)),
        resource=EventResourceFilter(id_prefix=[prefix]),
        order=EventOrder.ASC)
    uris = [arrivals.first] if arrivals.first and arrivals.first.startswith(prefix) else []
    with get_client(sync_client=True) as client:
        page = client.read_events(window, limit=50)  # the most a page holds
        while page is not None:
            uris += [event.resource.id for event in page.events]
            page = client.read_events_page(str(page.next_page)) if page.next_page else None
    return list(dict.fromkeys(uris))


def late_arrivals_trigger(source: str) -> DeploymentEventTrigger:
    """The nightly deployment's trigger for objects under `source` (flows/deployments.py)."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name=TRIGGER_NAME, enabled=True, expect={OBJECT_CREATED},
        description="Brief objects that arrive under the nightly source after its run.",
        match={"prefect.resource.id": source_prefix(source) + "*"},
        posture="Reactive", threshold=1, within=timedelta(seconds=WINDOW_SECONDS),
        schedule_after=timedelta(seconds=SCHEDULE_AFTER_SECONDS),
        parameters={"arrivals": {"since": "{{ event.occurred.isoformat() }}",
                                 "seconds": WINDOW_SECONDS,
                                 "first": "{{ event.resource.id }}"}})


async def emit_created(objects: list[CreatedObject]) -> None:
    """Send one `briefs.object.created` event per object to the Prefect API. The event's id
    comes from the object and its S3 sequencer, so a message delivered twice (SQS delivers
    at least once) is one event."""
    from prefect.events import Event
    from prefect.events.clients import get_events_client

    async with get_events_client() as client:
        for item in objects:
            resource = {"prefect.resource.id": item.uri, "prefect.resource.name": item.key,
                        "briefs.bucket": item.bucket}
            await client.emit(Event(
                event=OBJECT_CREATED, resource=resource,
                id=uuid.uuid5(uuid.NAMESPACE_URL, f"{item.uri}#{item.sequencer or item.etag}"),
                payload={"size": item.size, "etag": item.etag, "s3_event": item.event_name,
                         "s3_event_time": item.event_time}))
