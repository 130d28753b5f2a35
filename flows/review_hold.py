"""The review hold (`review:` in the config, docs/delivery.md#review-hold): a night whose
briefs carry a `review.hold_on` code pauses before delivery, with Prefect's interactive input,
until an editor drops or approves them in the UI, or `review.timeout_seconds` passes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import Field

from briefs.flows.artifacts import publish_held_briefs
from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.output import review
from briefs.tasks.steps import apply_review

REVIEW_POLL_SECONDS = 2  # how soon a paused run notices the editor's answer
REVIEW_GRACE_SECONDS = 30  # Prefect's own pause timeout: a backstop after review.timeout_seconds


def review_before_delivery(dest: str, config: BriefsConfig, manifest: dict[str, Any],
                           briefs: list[dict[str, Any]]
                           ) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """Hold the delivery for review when briefs carry a `review.hold_on` code: pause the run
    with the held briefs and a form to drop any, then write the digests again without the
    dropped ones and record the review in the manifest. Returns the manifest, the briefs to
    deliver and whether to deliver at all. A night with nothing held never pauses."""
    settings = config.review
    held = review.held_briefs(briefs, settings.hold_on)
    if not held:
        return manifest, briefs, True
    decision = _wait_for_review(held, settings, manifest)
    record = review.review_record(settings, held, decision)
    reviewed = apply_review(dest, config, manifest, briefs, record)
    return reviewed.manifest, reviewed.briefs, decision.action == "deliver"


def _review_form(ids: list[str], description: str) -> type:
    """The form the paused run shows (a Prefect RunInput): the held briefs to drop (a
    multi-select of their ids), and the reviewer's name, as Prefect records no user."""
    class Review(RunInput):
        drop: list[Literal[tuple(ids)]] = Field(  # type: ignore[valid-type]
            default=[], title="Drop these briefs",
            description="held briefs to leave out of the delivered digests (their JSON "
                        "stays under briefs/); none: deliver them all")
        reviewer: str = Field(default="", title="Reviewer",
                              description="your name, for the manifest (optional)")

    return Review.with_initial_data(description=description)


def _wait_for_review(held: list[Any], settings: Any, manifest: dict[str, Any]) -> Any:
    """Pause the run for the editor's decision on the held briefs; at review.timeout_seconds
    the run resumes itself and review.on_timeout decides (before Prefect's own pause timeout,
    which would fail the run). A run that cannot pause goes on as on a timeout."""
    logger = get_run_logger()
    run_id = UUID(str(flow_run.get_id()))
    until = (datetime.now(UTC) + timedelta(seconds=settings.timeout_seconds)).isoformat(
        timespec="seconds")
    markdown = review.held_markdown(held, settings, manifest.get("parameters", {}).get("date"),
                                    until)
    form = _review_form([h.article_id for h in held], markdown)
    logger.warning("%d briefs held for review (%s: %s): the run pauses until %s; resume it "
                   "in the Prefect UI to drop any, or review.on_timeout (%s) decides",
                   len(held), ", ".join(settings.hold_on), ", ".join(h.article_id for h in held),
                   until, settings.on_timeout)
    expiry = _ReviewExpiry(run_id, settings.timeout_seconds)
    try:
        publish_held_briefs(markdown)
        answer = pause_flow_run(wait_for_input=form, poll_interval=REVIEW_POLL_SECONDS,
                                timeout=settings.timeout_seconds + REVIEW_GRACE_SECONDS)
    except FlowPauseTimeout:  # the run could not resume itself in time: it does so now
        expiry.resume(force=True)
        answer = None
    except Exception as exc:  # no pause (the API refused it): as if nobody answered
        logger.error("the run cannot pause for the review: %s; review.on_timeout (%s) "
                     "decides", exc, settings.on_timeout)
        return review.timed_out(settings.on_timeout)
    finally:
        expiry.stop()
    paused_at, resumed_at, input_at, sender = _review_stamps(run_id)
    if answer is None or expiry.fired:
        logger.warning("review: nobody answered within %d s; review.on_timeout: %s",
                       settings.timeout_seconds, settings.on_timeout)
        return review.timed_out(settings.on_timeout, resumed_at, paused_at)
    return review.decided(held, answer.drop, answer.reviewer, sender, input_at or resumed_at,
                          paused_at)


class _ReviewExpiry:
    """Resumes the paused run at the review's timeout (a timer thread); `fired` when it
    did, rather than an editor."""

    def __init__(self, run_id: Any, seconds: float) -> None:
        self.run_id, self.fired = run_id, False
        self.logger = get_run_logger()  # the timer's thread has no run context of its own
        self.timer = threading.Timer(seconds, self.resume)
        self.timer.daemon = True
        self.timer.start()

    def resume(self, force: bool = False) -> None:
        """Resume the run without input (the form's defaults); `force`: set it Running
        whatever its state (past Prefect's own timeout)."""
        try:
            with get_client(sync_client=True) as client:
                if force:
                    client.set_flow_run_state(self.run_id, Running(), force=True)
                    self.fired = True
                    return
                state = client.read_flow_run(self.run_id).state
                if state is None or state.type != StateType.PAUSED:
                    return  # an editor answered first
                result = client.resume_flow_run(self.run_id)
            self.fired = result.status == SetStateStatus.ACCEPT
        except Exception as exc:  # Prefect's own timeout is the backstop
            self.logger.warning("the review's timeout could not resume the run: %s", exc)

    def stop(self) -> None:
        """Cancel the timer, or wait for it to finish resuming (then `fired` is settled)."""
        self.timer.cancel()
        self.timer.join()


def _review_stamps(run_id: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """When the run paused and resumed (its state history), when the review's input came
    and who sent it, as Prefect recorded them (Prefect OSS records no user: a sender is set
    only when a flow run sent the input)."""
    def iso(stamp: Any) -> str | None:
        return stamp.isoformat(timespec="seconds") if stamp else None

    try:
        with get_client(sync_client=True) as client:
            states = sorted(client.read_flow_run_states(run_id), key=lambda s: s.timestamp)
            paused = [i for i, state in enumerate(states) if state.is_paused()]
            if not paused:
                return None, None, None, None
            pause = states[paused[-1]]
            resumed = states[paused[-1] + 1] if paused[-1] + 1 < len(states) else None
            keyset = pause.state_details.run_input_keyset or {}
            inputs = client.filter_flow_run_input(
                flow_run_id=run_id, key_prefix=keyset["response"], limit=1,
                exclude_keys=set()) if keyset.get("response") else []
    except Exception as exc:  # the times are for the record: the review goes on without
        get_run_logger().warning("the review's times cannot be read: %s", exc)
        return None, None, None, None
    answer = inputs[0] if inputs else None
    return (iso(pause.timestamp), iso(resumed.timestamp if resumed else None),
            iso(answer.created if answer else None), answer.sender if answer else None)
