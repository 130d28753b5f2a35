"""Review hold: a night whose briefs carry a `review.hold_on` code pauses before delivery
until an editor drops or approves them in Prefect's form (or review.timeout_seconds passes).

The flow tests run real flow runs on the session's Prefect API, tiny models (every brief
carries `random_weights`) and a webhook receiver on loopback; the editor is the API's resume
call, as the UI's form makes it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from briefs.tasks.core.config import ConfigError, ReviewConfig, load_config
from briefs.tasks.output import review
from briefs.tasks.output.run_outputs import RunRecord, write_night
from briefs.tasks.output.storage import LocalStore
from tests.helpers import (
    HOOK_BLOCK,
    brief_locally,
    configure_delivery,
    flow_run_state_names,
    save_delivery_blocks,
)
from tests.prefect_stack import free_port

RUN_DATE = "2026-11-27"
HOLD = ReviewConfig(hold_on=["random_weights"], timeout_seconds=60)

# Three stories, each with its own title and link, so a digest shows which it holds.
STORIES = {
    "harbour": ("Harbour cranes return after strike", "https://news.example.org/harbour",
                "Dock workers in the northern port ended a nine day strike on Thursday after "
                "the operator agreed to hire two hundred permanent staff and to review night "
                "shift pay. Container ships that had waited offshore began unloading within "
                "hours, and the port authority said the backlog would clear by Monday."),
    "library": ("City library opens late on weekends", "https://news.example.org/library",
                "The central library will stay open until ten at night on Saturdays and "
                "Sundays from next month, the council said, after a survey found students "
                "had nowhere quiet to study. The longer hours are paid for by closing two "
                "meeting rooms that were rarely booked during the week."),
    "orchard": ("Late frost cuts the apple harvest", "https://news.example.org/orchard",
                "Growers in the valley expect a third fewer apples this autumn after a late "
                "frost in April killed blossom on the lower slopes. Cooperatives said prices "
                "at the market would rise, and some farms plan to cover trees with fleece "
                "next spring to protect the flowers from the cold nights."),
}


def brief(article_id: str, codes: list[str], title: str = "A title",
          url: str | None = None) -> dict[str, Any]:
    return {"article_id": article_id, "title": {"en": title, "de": "Ein Titel"},
            "summaries": {"en": "s", "de": "z"},
            "source": {"uri": f"/in/{article_id}.json", "key": f"{article_id}.json",
                       **({"url": url} if url else {})},
            "warnings": [{"code": c, "detail": f"about {c}"} for c in codes]}


def write_stories() -> dict[str, bytes]:
    return {f"{name}.json": json.dumps({"id": name, "title": title, "url": url,
                                        "body": body}).encode()
            for name, (title, url, body) in STORIES.items()}


def digest_texts(dest: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((dest / "digests").iterdir())}


# --- the plain logic ------------------------------------------------------------------------

def test_held_briefs_are_those_with_a_hold_code():
    briefs = [brief("a", ["random_weights", "no_title"], "Alpha | one", "https://x.org/a"),
              brief("b", ["no_title"]), brief("c", ["random_weights"])]
    assert review.held_briefs(briefs, []) == []
    held = review.held_briefs(briefs, ["random_weights", "repetition"])
    assert [h.article_id for h in held] == ["a", "c"]
    assert held[0] == review.Held("a", "Alpha | one", ["random_weights: about random_weights"],
                                  ["random_weights"], "https://x.org/a")
    assert held[1].link == "/in/c.json"  # no original URL: where it was read
    assert [h.article_id for h in review.held_briefs(briefs, ["no_title"])] == ["a", "b"]

    markdown = review.held_markdown(held, HOLD, RUN_DATE, "2026-11-28T06:00:00+00:00")
    assert markdown.startswith("## 2 briefs held for review")
    assert "Alpha \\| one" in markdown and "[original](<https://x.org/a>)" in markdown
    assert "`/in/c.json`" in markdown and "`review.on_timeout: deliver`" in markdown


def test_the_decision_an_editor_makes_and_the_timeout_actions():
    held = review.held_briefs([brief("a", ["random_weights"]), brief("b", ["random_weights"])],
                              ["random_weights"])
    editor = review.decided(held, ["b", "b"], reviewer="  Desk ", at="t1", paused_at="t0")
    assert (editor.action, editor.decision, editor.dropped) == ("deliver", "reviewed", ["b"])
    assert (editor.by, editor.reviewer, editor.at, editor.paused_at) == (
        "unknown", "Desk", "t1", "t0")  # Prefect OSS records no user
    assert review.decided(held, [], reviewer="").reviewer is None
    with pytest.raises(ValueError, match="not held for review.*: zzz"):
        review.decided(held, ["zzz"])

    deliver, hold = review.timed_out("deliver"), review.timed_out("hold", "t2", "t0")
    assert (deliver.action, deliver.decision, deliver.dropped) == ("deliver", "timed_out", [])
    assert (hold.action, hold.by, hold.at) == ("hold", review.TIMEOUT, "t2")
    record = review.review_record(ReviewConfig(hold_on=["random_weights"], on_timeout="hold"),
                                  held, hold)
    assert record["held"] == ["a", "b"] and record["dropped"] == []
    assert record["held_codes"] == {"a": ["random_weights"], "b": ["random_weights"]}
    assert (record["decision"], record["action"], record["delivered"]) == (
        "timed_out", "hold", False)


def test_the_review_settings_are_checked_and_change_no_brief(monkeypatch):
    assert ReviewConfig().hold_on == [] and ReviewConfig().on_timeout == "deliver"
    plain = load_config("tiny").config_hash()
    monkeypatch.setenv("BRIEFS_REVIEW__HOLD_ON", '["random_weights", "repetition"]')
    monkeypatch.setenv("BRIEFS_REVIEW__ON_TIMEOUT", "hold")
    held = load_config("tiny")
    assert held.review.hold_on == ["random_weights", "repetition"]
    assert held.config_hash() == plain  # who reviews changes no brief: nothing is re-briefed
    monkeypatch.setenv("BRIEFS_REVIEW__HOLD_ON", '["random_weight"]')
    with pytest.raises(ConfigError, match=r"review\.hold_on.*unknown warning codes"):
        load_config("tiny")
    monkeypatch.setenv("BRIEFS_REVIEW__HOLD_ON", "[]")
    monkeypatch.setenv("BRIEFS_REVIEW__ON_TIMEOUT", "drop")
    with pytest.raises(ConfigError, match=r"review\.on_timeout"):
        load_config("tiny")


def test_dropped_briefs_leave_the_digests_and_stay_out_of_a_later_partial_rebuild(tmp_path):
    """Plain steps, tiny models, no Prefect: the review's decision rewrites the digests
    without the dropped brief, keeps its JSON, records the review; a partial run of the
    night later rebuilds the digests without it too."""
    source, dest = tmp_path / "in", tmp_path / "out"
    manifest = brief_locally(source, dest, write_stories(), ["de"])
    store = LocalStore(dest)
    briefs = [json.loads(p.read_text()) for p in sorted((dest / "briefs").glob("*.json"))]
    held = review.held_briefs(briefs, ["random_weights"])
    assert len(held) == 3  # the tiny models' random weights: every brief
    dropped = next(h for h in held if h.link == STORIES["library"][1])
    decision = review.decided(held, [dropped.article_id], reviewer="desk")
    reviewed = review.apply_review(store, manifest, briefs, ["de"],
                                   review.review_record(HOLD, held, decision))

    assert dropped.article_id not in {b["article_id"] for b in reviewed.briefs}
    assert len(reviewed.briefs) == 2
    for name, text in digest_texts(dest).items():
        assert STORIES["library"][1] not in text, name
        assert STORIES["harbour"][1] in text and STORIES["orchard"][1] in text, name
    assert (dest / "briefs" / f"{dropped.article_id}.json").is_file()
    for key in ("manifest.json", f"runs/{manifest['run_id']}/manifest.json"):
        assert json.loads((dest / key).read_text())["review"]["dropped"] == [
            dropped.article_id]

    # A partial run (nothing briefed now) rebuilds the night's digests: still without it.
    later = RunRecord(run_id="later", started_at="2026-11-28T09:00:00+00:00",
                      parameters={"source": str(source), "date": None}, timings={},
                      written=[], partial=True)
    night = write_night(store, later, ["de"]).night
    assert night["review"]["dropped"] == [dropped.article_id]
    assert STORIES["library"][1] not in (dest / "digests" / "en.md").read_text()
    assert STORIES["harbour"][1] in (dest / "digests" / "en.md").read_text()


# --- real flow runs that pause --------------------------------------------------------------

@pytest.fixture
def held_night(tmp_path, monkeypatch, prefect_api, webhook) -> tuple[Path, Path]:
    """A night of three stories, delivered to the webhook, held on `random_weights`."""
    save_delivery_blocks(webhook.url, free_port())
    configure_delivery(monkeypatch, blocks=(HOOK_BLOCK,))
    monkeypatch.setenv("BRIEFS_REVIEW__HOLD_ON", '["random_weights"]')
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for name, data in write_stories().items():
        (source / name).write_bytes(data)
    return source, dest


class Night(threading.Thread):
    """The briefs flow in a thread, so the test can resume it from the outside."""

    def __init__(self, source: Path, dest: Path, **parameters: Any) -> None:
        super().__init__(daemon=True)
        self.source, self.dest, self.parameters = source, dest, parameters
        self.state: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        from briefs.flows.briefs_flow import briefs

        try:
            self.state = briefs(str(self.source), str(self.dest), date=RUN_DATE,
                                languages=["de"], models="tiny", return_state=True,
                                **self.parameters)
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            self.error = exc


def wait_until_paused(night: Night, seconds: float = 240):
    """The night's flow run, once Paused (found by its `dest` parameter)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    ends = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while time.monotonic() < ends:
            for run in client.read_flow_runs(flow_run_filter=paused):
                if run.parameters.get("dest") == str(night.dest):
                    return run
            assert night.is_alive(), f"the run ended without pausing: {night.state}"
            time.sleep(0.5)
    pytest.fail(f"the run did not pause within {seconds} s")


def finished(night: Night, seconds: float = 240):
    night.join(seconds)
    assert not night.is_alive(), "the run did not end after the review"
    if night.error:
        raise night.error
    return night.state


@pytest.mark.timeout(600)
def test_an_editor_drops_a_held_brief_and_the_rest_is_delivered(held_night, monkeypatch,
                                                                webhook):
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    monkeypatch.setenv("BRIEFS_REVIEW__TIMEOUT_SECONDS", "500")
    night = Night(*held_night)
    night.start()
    run = wait_until_paused(night)

    # What the UI shows: the form's schema (the held ids to drop) and its description.
    keyset = run.state.state_details.run_input_keyset
    with get_client(sync_client=True) as client:
        schema = json.loads(client.read_flow_run_input(run.id, keyset["schema"]))
        description = json.loads(client.read_flow_run_input(run.id, keyset["description"]))
    held_ids = schema["properties"]["drop"]["items"]["enum"]
    assert len(held_ids) == 3 and set(schema["properties"]) == {"drop", "reviewer"}
    assert description.startswith("## 3 briefs held for review")
    for title, url, _ in STORIES.values():
        assert title in description and url in description
    assert webhook.posts == []  # nothing delivered while the run waits

    briefs_dir = held_night[1] / "briefs"
    by_url = {json.loads(p.read_text())["source"]["url"]: json.loads(p.read_text())
              ["article_id"] for p in briefs_dir.glob("*.json")}
    dropped = by_url[STORIES["library"][1]]
    resume_flow_run(run.id, run_input={"drop": [dropped], "reviewer": "night desk"})
    state = finished(night)
    assert state.is_completed(), state.message

    names = flow_run_state_names(run.id)
    assert names[-3:] == ["Paused", "Running", "Completed"] and "Failed" not in names
    dest = held_night[1]
    for name, text in digest_texts(dest).items():
        assert STORIES["library"][1] not in text, name
        assert STORIES["harbour"][1] in text and STORIES["orchard"][1] in text, name
    assert (briefs_dir / f"{dropped}.json").is_file()  # the brief itself is kept
    manifest = json.loads((dest / "manifest.json").read_text())
    kept = json.loads((dest / "runs" / manifest["run_id"] / "manifest.json").read_text())
    record = manifest["review"]
    assert record == kept["review"]
    assert sorted(record["held"]) == sorted(held_ids) and record["dropped"] == [dropped]
    assert (record["decision"], record["action"], record["by"], record["reviewer"]) == (
        "reviewed", "deliver", "unknown", "night desk")
    assert record["paused_at"] <= record["decided_at"]
    assert [r["status"] for r in manifest["delivery"]] == ["sent", "sent"]
    assert sorted(p["subject"] for p in webhook.posts) == [
        f"Briefs {RUN_DATE} (de): 2 briefed, 0 failed",
        f"Briefs {RUN_DATE} (en): 2 briefed, 0 failed"]


@pytest.mark.timeout(600)
def test_a_review_nobody_answers_holds_back_everything(held_night, monkeypatch, webhook):
    """review.on_timeout: hold. The run resumes itself at the timeout (never Failed by
    Prefect's own pause timeout), delivers nothing and records it."""
    from briefs.flows.briefs_flow import briefs

    monkeypatch.setenv("BRIEFS_REVIEW__TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("BRIEFS_REVIEW__ON_TIMEOUT", "hold")
    source, dest = held_night
    state = briefs(str(source), str(dest), date=RUN_DATE, languages=["de"], models="tiny",
                   return_state=True)
    assert state.is_completed(), state.message
    names = flow_run_state_names(state.state_details.flow_run_id)
    assert names[-3:] == ["Paused", "Running", "Completed"] and "Failed" not in names

    assert webhook.posts == []
    manifest = json.loads((dest / "manifest.json").read_text())
    assert "delivery" not in manifest
    record = manifest["review"]
    assert len(record["held"]) == 3 and record["dropped"] == []
    assert (record["decision"], record["action"], record["delivered"], record["by"]) == (
        "timed_out", "hold", False, review.TIMEOUT)
    assert record["decided_at"] is not None and record["paused_at"] is not None
    for text in digest_texts(dest).values():  # nothing dropped: the digests are whole
        assert all(url in text for _, url, _ in STORIES.values())


@pytest.mark.timeout(300)
def test_a_trial_run_neither_pauses_nor_delivers(held_night, monkeypatch, webhook):
    from briefs.flows.briefs_flow import briefs

    monkeypatch.setenv("BRIEFS_REVIEW__TIMEOUT_SECONDS", "600")  # a pause would hang here
    source, dest = held_night
    state = briefs(str(source), str(dest), date=RUN_DATE, languages=["de"], models="tiny",
                   limit=2, return_state=True)
    assert state.is_completed(), state.message
    assert "Paused" not in flow_run_state_names(state.state_details.flow_run_id)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert "review" not in manifest and "delivery" not in manifest and webhook.posts == []
