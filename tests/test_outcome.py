"""How a run ends: the failure-share policy, time limits, partial writes, parameters, URIs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from briefs.flows.briefs_flow import briefs
from briefs.tasks.ingest.articles import article_id_for
from tests.corpus_sample import summaries
from tests.helpers import SLOW_SUMMARIES, corpus_or_skip, run_cli, tiny_config

pytestmark = pytest.mark.usefixtures("prefect_api")


def write_night(folder: Path, count: int, broken: int = 0) -> list[str]:
    """`count` corpus articles and `broken` empty ones (which fail); returns the keys."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for row in summaries(corpus_or_skip(), count):
        (folder / f"{row['id']}.txt").write_text(row["article"])
        keys.append(f"{row['id']}.txt")
    for number in range(broken):
        (folder / f"broken-{number}.txt").write_text("")
        keys.append(f"broken-{number}.txt")
    return keys


def manifest_of(dest: Path) -> dict:
    return json.loads((dest / "manifest.json").read_text())


def partial_events(run_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    with get_client(sync_client=True) as client:
        page = client.read_events(EventFilter(
            event=EventNameFilter(name=["briefs.run.partial"]),
            resource=EventResourceFilter(id=[f"briefs.run.{run_id}"])), limit=50)
    return page.events


def test_a_few_broken_inputs_complete_the_run_and_publish_the_failures(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    write_night(source, 20, broken=1)  # 1 of 21 failed: 4.8%, within the default 5%

    state = briefs(str(source), str(dest), languages=["de"], models="tiny", return_state=True)

    assert state.is_completed(), state.message
    assert "1 failed" in state.message and "within alerts.max_failed_share" in state.message
    manifest = manifest_of(dest)
    assert manifest["counts"]["failed"] == 1
    for _ in range(30):  # events are persisted asynchronously by the server
        if events := partial_events(manifest["run_id"]):
            break
        time.sleep(1)
    [event] = events
    assert event.payload["counts"] == manifest["counts"]
    assert [f["source"] for f in event.payload["failed"]] == [str(source / "broken-0.txt")]
    assert any(r.id == f"prefect.flow-run.{manifest['run_id']}" for r in event.related)


def test_more_failures_than_the_allowed_share_fail_the_run(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    write_night(source, 4, broken=1)  # 20%
    config = tiny_config(tmp_path, "strict", alerts={"max_failed_share": 0.1})

    state = briefs(str(source), str(dest), languages=["de"], config=config, return_state=True)

    assert state.is_failed() and "above alerts.max_failed_share (10.0%)" in state.message
    assert not partial_events(manifest_of(dest)["run_id"])


def test_the_cli_exits_2_when_articles_failed_within_the_share(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    write_night(source, 3, broken=1)
    config = tiny_config(tmp_path, "lenient", alerts={"max_failed_share": 0.5})
    code, output = run_cli(str(source), str(dest), "--languages", "de", "--config", config)
    assert code == 2 and "within alerts.max_failed_share" in output


def test_a_model_step_past_its_limit_fails_its_batch_and_the_run_goes_on(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    keys = write_night(source, 2)
    config = tiny_config(tmp_path, "slow", generation=SLOW_SUMMARIES,
                         timeouts={"generate_seconds": 1}, batching={"articles_per_task": 1})

    state = briefs(str(source), str(dest), languages=["de"], config=config, return_state=True)

    assert state.is_failed() and state.name == "Failed"
    entries = manifest_of(dest)["articles"]
    assert [Path(e["source"]).name for e in entries] == sorted(keys)  # both batches ran
    for entry in entries:
        assert entry["status"] == "failed"
        assert "ran past its time limit of 1 s (timeouts.generate_seconds)" in entry["reason"]


def test_a_run_past_its_time_limit_ends_timed_out_and_accounts_for_every_article(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    keys = write_night(source, 4)
    config = tiny_config(tmp_path, "deadline", generation=SLOW_SUMMARIES,
                         timeouts={"run_seconds": 2}, batching={"articles_per_task": 1})

    state = briefs(str(source), str(dest), languages=["de"], config=config, return_state=True)

    assert state.is_failed() and state.name == "TimedOut", (state.name, state.message)
    assert "time limit (timeouts.run_seconds)" in state.message
    entries = manifest_of(dest)["articles"]
    assert sorted(Path(e["source"]).name for e in entries) == sorted(keys)
    reasons = [e["reason"] for e in entries]
    assert all("timeouts.run_seconds" in reason for reason in reasons)
    assert any(r.startswith("not briefed: the run passed its time limit") for r in reasons)


def test_briefs_written_before_a_write_fails_are_recorded_as_written(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    keys = write_night(source, 4)
    blocked = article_id_for(keys[1])
    (dest / "briefs" / f"{blocked}.json").mkdir(parents=True)  # a write there must fail

    state = briefs(str(source), str(dest), languages=["de"], models="tiny", return_state=True)

    manifest = manifest_of(dest)
    by_id = {e["article_id"]: e for e in manifest["articles"]}
    assert by_id[blocked]["status"] == "failed"
    assert by_id[blocked]["reason"].startswith("the brief could not be written: ")
    assert str(dest / "briefs" / f"{blocked}.json") in by_id[blocked]["reason"]
    others = [i for i in by_id if i != blocked]
    assert all(by_id[i]["status"] == "succeeded" for i in others)
    digest = (dest / "digests" / "de.md").read_text()
    shown = [Path(by_id[i]["source"]).name for i in [*others, blocked]]  # keys, no URLs
    assert all(key in digest for key in shown[:-1]) and shown[-1] not in digest
    assert "1 failed" in state.message


def test_limit_must_not_be_negative(tmp_path):
    """The form's limit is 0 for all, else a count; the CLI's --limit is a count."""
    write_night(tmp_path / "in", 1)
    state = briefs(str(tmp_path / "in"), str(tmp_path / "out"), models="tiny", limit=-1,
                   return_state=True)
    assert state.is_failed() and "limit" in state.message
    assert not (tmp_path / "out").exists()
    code, output = run_cli(str(tmp_path / "in"), str(tmp_path / "out"), "--models", "tiny",
                           "--limit", "0")
    assert code == 1 and "--limit must be at least 1" in output


def test_manifests_name_local_sources_by_absolute_path(tmp_path, monkeypatch):
    source = tmp_path / "in"
    write_night(source, 1, broken=1)
    (source / "notes.csv").write_text("a,b\n")
    monkeypatch.chdir(tmp_path)

    briefs("in", "out", languages=["de"], models="tiny", return_state=True)

    sources = {e["source"] for e in manifest_of(tmp_path / "out")["articles"]}
    assert len(sources) == 3
    assert all(Path(s).is_absolute() and Path(s).parent == source for s in sources), sources


def test_a_run_cut_off_in_its_last_batch_ends_timed_out(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    write_night(source, 2)  # one batch
    slower = {"summary": {**SLOW_SUMMARIES["summary"], "num_beams": 48}}
    config = tiny_config(tmp_path, "last-batch", generation=slower, timeouts={"run_seconds": 8})
    started = time.monotonic()

    state = briefs(str(source), str(dest), languages=["de"], config=config, return_state=True)

    assert state.name == "TimedOut", (state.name, state.message)
    entries = manifest_of(dest)["articles"]
    assert len(entries) == 2
    assert all(e["reason"].startswith("batch 1/1 ran past its time limit of ")
               and e["reason"].endswith(" s (timeouts.run_seconds)") for e in entries), entries
    assert time.monotonic() - started < 30  # cut off at the limit, not when generate ended


def test_objects_of_other_types_do_not_dilute_the_failed_share(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    write_night(source, 4, broken=1)  # 1 of 5 articles failed: 20%
    for number in range(20):  # 1 of 25 objects would be 4%, within the 5% allowed
        (source / f"sheet-{number}.csv").write_text("a,b\n1,2\n")

    state = briefs(str(source), str(dest), languages=["de"], models="tiny", return_state=True)

    assert state.is_failed() and "20.0% failed, above" in state.message
