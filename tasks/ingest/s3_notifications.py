"""S3 event notifications (the JSON S3 sends to SQS, SNS, EventBridge or a webhook) → the
objects created. Plain parsing: AWS's own shapes, unwrapped from their envelopes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from briefs.tasks.ingest.articles import ParseError, load_json

# A list of SQS responses of SNS envelopes of an event is 4 deep; deeper is not S3's.
MAX_ENVELOPES = 8


class NotificationError(ValueError):
    """A message that is not an S3 event notification, with what was found instead."""


@dataclass(frozen=True)
class CreatedObject:
    """One object an S3 notification says was created."""

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None
    event_name: str = ""
    event_time: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def created_objects(message: Any) -> list[CreatedObject]:
    """The objects created, from any of the shapes S3 notifications arrive in: the event
    itself (`Records`), an SQS ReceiveMessage response (`Messages`, each body a message) or
    one of its messages, an SNS envelope (`Type: Notification`, the event in `Message`), an
    EventBridge `Object Created` event, or a list of these, at most MAX_ENVELOPES deep. S3's
    test event and other event types (removals, restores) name no created object."""
    return _created(message, 0)


def _created(message: Any, depth: int) -> list[CreatedObject]:
    if depth > MAX_ENVELOPES:
        raise NotificationError(f"envelopes nested more than {MAX_ENVELOPES} deep")
    if isinstance(message, str):
        try:
            message = load_json(message)
        except ParseError as exc:
            raise NotificationError(f"not JSON ({exc})") from None
    deeper = depth + 1
    if isinstance(message, list):
        return [o for item in message for o in _created(item, deeper)]
    if not isinstance(message, dict):
        raise NotificationError(f"expected a JSON object, got {type(message).__name__}")
    if "Messages" in message:  # aws sqs receive-message
        return [o for m in message["Messages"] or []
                for o in _created(m.get("Body"), deeper)]
    if "Body" in message and "ReceiptHandle" in message:  # one SQS message of those
        return _created(message["Body"], deeper)
    if message.get("Type") == "Notification" and "Message" in message:  # through SNS
        return _created(message["Message"], deeper)
    if message.get("Type") == "SubscriptionConfirmation":
        raise NotificationError("an SNS subscription confirmation, not a notification: "
                                f"confirm it by opening {message.get('SubscribeURL')}")
    if "Records" in message:
        return [_from_record(r) for r in message["Records"]
                if str(r.get("eventName", "")).startswith("ObjectCreated:")]
    if message.get("source") == "aws.s3" and "detail" in message:  # EventBridge
        return [_from_eventbridge(message)] if message.get("detail-type") == "Object Created" \
            else []
    if message.get("Event") == "s3:TestEvent":
        return []
    raise NotificationError("not an S3 event notification: no Records, Messages, SNS "
                            f"Message or EventBridge detail (keys: {', '.join(list(message)[:8])})")


def _from_record(record: dict[str, Any]) -> CreatedObject:
    try:
        s3 = record["s3"]
        found = s3["object"]
        return CreatedObject(s3["bucket"]["name"], unquote_plus(found["key"]), found.get("size"),
                             found.get("eTag"), found.get("sequencer"), record["eventName"],
                             record.get("eventTime"))
    except (KeyError, TypeError) as exc:
        raise NotificationError(f"an S3 record without {exc}") from None


def _from_eventbridge(event: dict[str, Any]) -> CreatedObject:
    try:
        detail = event["detail"]
        found = detail["object"]
        return CreatedObject(detail["bucket"]["name"], unquote_plus(found["key"]),
                             found.get("size"), found.get("etag"), found.get("sequencer"),
                             "Object Created", event.get("time"))
    except (KeyError, TypeError) as exc:
        raise NotificationError(f"an EventBridge S3 event without {exc}") from None
