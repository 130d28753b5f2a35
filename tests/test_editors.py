"""Editors' controls: re-brief chosen articles (`article_ids`, `force`), the history of
replaced briefs, the night's digests and manifest after a partial run, and the S3
notifications that `briefs notify` turns into events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from briefs.flows.briefs_flow import briefs
from briefs.tasks.core.records import Failure
from briefs.tasks.ingest.s3_notifications import NotificationError, created_objects
from briefs.tasks.ingest.selection import select
from briefs.tasks.output.layout import night_manifest
from briefs.tasks.output.storage import ObjectInfo
from briefs.tasks.run.nights import night_of
from tests.corpus_sample import mixed_objects
from tests.helpers import corpus_or_skip, s3_record

NIGHT = "2026-11-27"


# --- choosing articles ------------------------------------------------------------------

OBJECTS = [ObjectInfo("txt/a.txt", 10), ObjectInfo("bulk/feed.jsonl", 20),
           ObjectInfo("json/b.json", 30)]
SOURCE = "s3://news-in/2026-11-27/"
MANIFEST = {"articles": [
    {"article_id": "story-7-1a2b3c4d5e", "source": f"{SOURCE}bulk/feed.jsonl#L2",
     "status": "succeeded"},
    {"article_id": "story-b-9f8e7d6c5b", "source": f"{SOURCE}json/b.json",
     "status": "failed", "reason": "too short"}]}


def test_chosen_articles_are_found_by_manifest_id_key_uri_and_plain_file_id():
    from briefs.tasks.ingest.articles import article_id_for

    plain_id = article_id_for("txt/a.txt")
    chosen = select(["story-7-1a2b3c4d5e", plain_id, f"{SOURCE}json/b.json", "nope-123"],
                    OBJECTS, SOURCE, MANIFEST)
    assert [o.key for o in chosen.objects] == ["txt/a.txt", "bulk/feed.jsonl", "json/b.json"]
    assert chosen.article_ids == {"story-7-1a2b3c4d5e": "bulk/feed.jsonl"}
    assert chosen.whole == {f"{SOURCE}json/b.json", f"{SOURCE}txt/a.txt"}  # a plain file's
    [missing] = chosen.not_found
    assert missing.article_id == "nope-123"
    assert "not found" in missing.reason and SOURCE in missing.reason


def test_the_entry_of_an_object_that_failed_whole_takes_the_object_again():
    from briefs.tasks.ingest.articles import article_id_for

    failed_whole = {"article_id": article_id_for("bulk/feed.jsonl"),
                    "source": f"{SOURCE}bulk/feed.jsonl", "status": "failed",
                    "reason": "not gzip data"}
    chosen = select([failed_whole["article_id"]], OBJECTS, SOURCE, {"articles": [failed_whole]})
    assert chosen.whole == {f"{SOURCE}bulk/feed.jsonl"} and not chosen.article_ids


def test_an_arrival_gone_since_its_event_is_skipped_not_failed():
    [gone] = select([f"{SOURCE}renamed.tmp"], OBJECTS, SOURCE, None, missing="skipped").not_found
    assert (gone.status, gone.article_id) == ("skipped", f"{SOURCE}renamed.tmp")


def test_of_a_feed_only_the_chosen_line_is_kept_and_a_vanished_one_is_reported():
    from briefs.tasks.core.records import Article, Source

    chosen = select(["story-7-1a2b3c4d5e", "gone-0000000000"], OBJECTS, SOURCE,
                    {"articles": [*MANIFEST["articles"], {
                        "article_id": "gone-0000000000",
                        "source": f"{SOURCE}bulk/feed.jsonl#L9"}]})

    def line(number: int, article_id: str) -> Article:
        return Article(article_id, Source(f"{SOURCE}bulk/feed.jsonl#L{number}",
                                          "bulk/feed.jsonl", "jsonl", "0"), "", "text")

    assert chosen.keeps(line(2, "story-7-1a2b3c4d5e"))
    assert not chosen.keeps(line(1, "other-1111111111"))
    assert not chosen.keeps(Failure("other-2222222222", f"{SOURCE}bulk/feed.jsonl#L3", "bad"))
    [vanished] = chosen.unaccounted({"story-7-1a2b3c4d5e"}, SOURCE)
    assert vanished.article_id == "gone-0000000000"
    assert "holds no article 'gone-0000000000'" in vanished.reason
    # The whole object failed (named by its key, not by the chosen ids): each chosen
    # article of it fails with that reason.
    assert not chosen.keeps(Failure("feed-1234567890", f"{SOURCE}bulk/feed.jsonl",
                                    "not gzip data"))
    assert {f.article_id: f.reason for f in chosen.unaccounted(set(), SOURCE)} == {
        "story-7-1a2b3c4d5e": "not gzip data", "gone-0000000000": "not gzip data"}


def test_the_nights_manifest_takes_the_partial_runs_entries_and_counts_the_night():
    from briefs.tasks.output.layout import ALREADY_BRIEFED

    previous = {"run_id": "r1", "delivery": [{"block": "slack-webhook/desk", "status": "sent"}],
                "articles": [*MANIFEST["articles"],
                             {"article_id": "c-1", "source": f"{SOURCE}c.txt",
                              "status": "succeeded"},
                             {"article_id": "d-1", "source": f"{SOURCE}d.txt",
                              "status": "succeeded", "warnings": ["length"]}]}
    run = {"run_id": "r2", "counts": {"total": 4, "succeeded": 1, "failed": 2, "skipped": 1},
           "articles": [
               {"article_id": "story-b-9f8e7d6c5b", "source": f"{SOURCE}json/b.json",
                "status": "succeeded"},
               {"article_id": "nope-123", "source": SOURCE, "status": "failed",
                "reason": "not found: no article 'nope-123' in the night's manifest"},
               {"article_id": "c-1", "source": f"{SOURCE}c.txt", "status": "failed",
                "reason": "batch 1/1 ran past its time limit"},
               {"article_id": "d-1", "source": f"{SOURCE}d.txt", "status": "skipped",
                "reason": ALREADY_BRIEFED}]}
    night = night_manifest(previous, run)
    by_id = {e["article_id"]: e for e in night["articles"]}
    assert set(by_id) == {"story-7-1a2b3c4d5e", "story-b-9f8e7d6c5b", "c-1", "d-1"}
    assert by_id["story-b-9f8e7d6c5b"]["status"] == "succeeded"  # briefed now
    assert by_id["c-1"] == {**previous["articles"][2],  # its earlier brief still stands
                            "rebrief_failed": "batch 1/1 ran past its time limit"}
    assert by_id["d-1"] == previous["articles"][3]  # up to date: as the night had it
    assert night["counts"] == {"total": 4, "succeeded": 4, "failed": 0, "skipped": 0}
    assert night["run_counts"] == run["counts"] and night["run_id"] == "r2"
    assert night["delivery"] == previous["delivery"]  # the night's, sent by its run


def test_of_an_object_read_whole_the_run_entries_are_all_the_night_keeps():
    feed, other = f"{SOURCE}bulk/feed.jsonl", f"{SOURCE}other.jsonl"
    previous = {"articles": [
        {"article_id": "a1", "source": f"{feed}#L1", "status": "succeeded"},
        {"article_id": "a2", "source": f"{feed}#L2", "status": "succeeded"},  # line removed
        {"article_id": "other-1", "source": other, "status": "failed", "reason": "bad"},
        {"article_id": "kept", "source": f"{SOURCE}txt/a.txt", "status": "succeeded"}]}
    run = {"counts": {}, "articles": [
        {"article_id": "a1", "source": f"{feed}#L1", "status": "succeeded"},
        {"article_id": "o1", "source": f"{other}#L1", "status": "succeeded"}]}
    night = night_manifest(previous, run, {feed, other})
    assert [e["article_id"] for e in night["articles"]] == ["a1", "o1", "kept"]
    assert night["counts"] == {"total": 3, "succeeded": 3, "failed": 0, "skipped": 0}


def test_the_night_of_an_object_comes_from_the_source_template():
    assert night_of("s3://news-in/2026-11-27/late/x.html", "s3://news-in/{date}/") == NIGHT
    assert night_of("s3://news-in/misc/x.html", "s3://news-in/{date}/") is None
    assert night_of("s3://other/2026-11-27/x.html", "s3://news-in/{date}/") is None
    assert night_of("s3://news-in/x.html", "s3://news-in/") == ""


# --- S3 event notifications -------------------------------------------------------------


def test_notifications_in_every_envelope_name_the_created_objects():
    direct = {"Records": [s3_record("2026-11-27/late+news/caf%C3%A9.html"),
                          s3_record("2026-11-27/old.html", "ObjectRemoved:Delete")]}
    through_sns = {"Type": "Notification", "MessageId": "m1", "Message": json.dumps(
        {"Records": [s3_record("2026-11-27/b.txt")]})}
    sqs_response = {"Messages": [{"MessageId": "1", "ReceiptHandle": "h1",
                                  "Body": json.dumps(through_sns)},
                                 {"MessageId": "2", "ReceiptHandle": "h2",
                                  "Body": json.dumps({"Service": "Amazon S3",
                                                      "Event": "s3:TestEvent"})}]}
    eventbridge = {"version": "0", "source": "aws.s3", "detail-type": "Object Created",
                   "time": "2026-11-28T09:15:00Z", "detail": {
                       "bucket": {"name": "news-in"},
                       "object": {"key": "2026-11-27/c.json", "size": 9, "etag": "e"}}}

    [cafe] = created_objects(json.dumps(direct))
    assert cafe.uri == "s3://news-in/2026-11-27/late news/café.html"
    assert (cafe.size, cafe.etag, cafe.event_name) == (1234, "0123abcd", "ObjectCreated:Put")
    assert [o.uri for o in created_objects(sqs_response)] == ["s3://news-in/2026-11-27/b.txt"]
    one_message = sqs_response["Messages"][0]  # the README's loop sends them one at a time
    assert [o.uri for o in created_objects(one_message)] == ["s3://news-in/2026-11-27/b.txt"]
    assert [o.uri for o in created_objects([eventbridge])] == ["s3://news-in/2026-11-27/c.json"]


@pytest.mark.parametrize("message, expected", [
    ("{not json", "not JSON"),
    ('{"hello": 1}', "not an S3 event notification"),
    ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "an S3 record without 's3'"),
    ('{"Type": "SubscriptionConfirmation", "SubscribeURL": "https://sns.example/confirm"}',
     "confirm it by opening https://sns.example/confirm"),
])
def test_what_is_not_a_notification_is_refused_with_the_reason(message, expected):
    with pytest.raises(NotificationError, match=expected):
        created_objects(message)


def test_briefs_notify_names_the_bad_message_and_exits_non_zero(tmp_path: Path):
    message = tmp_path / "message.json"
    message.write_text('{"hello": 1}')
    done = subprocess.run([sys.executable, "-m", "briefs.flows.cli", "notify", str(message)],
                          capture_output=True, text=True, timeout=120)  # refused before sending
    assert done.returncode == 1
    assert f"{message}: not an S3 event notification" in done.stderr


# --- a partial run on a real Prefect API, tiny models ---------------------------------

def read(folder: Path, key: str) -> dict:
    return json.loads((folder / key).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def briefed_night(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A night of five articles (two plain files, a JSON, a two-line feed) briefed whole."""
    source, dest = tmp_path_factory.mktemp("in"), tmp_path_factory.mktemp("out")
    for key, data in mixed_objects(corpus_or_skip(), {"txt": 2, "json": 1, "jsonl": 2}).items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(data)
    state = briefs(source=str(source), dest=str(dest), languages=["de"], models="tiny",
                   return_state=True)
    assert state.is_completed(), state.message
    return source, dest, read(dest, "manifest.json")


@pytest.mark.usefixtures("prefect_api")
def test_chosen_articles_are_briefed_again_with_history_and_the_nights_digests(briefed_night):
    source, dest, first = briefed_night
    ids = [e["article_id"] for e in first["articles"]]
    feed_line = next(e["article_id"] for e in first["articles"] if "#L2" in e["source"])
    txt_key = next(e["source"] for e in first["articles"] if "/txt/" in e["source"])
    txt_key = txt_key[len(str(source)) + 1:]
    before = {i: (dest / f"briefs/{i}.json").read_bytes() for i in ids}

    state = briefs(source=str(source), dest=str(dest), languages=["de"], models="tiny",
                   article_ids=[feed_line, txt_key, "no-such-story"], force=True,
                   return_state=True)

    run = state.result(raise_on_failure=False)
    txt_id = next(e["article_id"] for e in run["articles"] if e["source"].endswith(txt_key))
    chosen = {feed_line, txt_id}
    assert sorted(run["touched"]) == sorted([*chosen, "no-such-story"])
    assert {e["article_id"]: e["status"] for e in run["articles"]} == {
        feed_line: "succeeded", txt_id: "succeeded", "no-such-story": "failed"}
    assert run["trigger"] == {"kind": "local"}
    assert run["parameters"]["force"] is True
    for article_id in ids:
        after = (dest / f"briefs/{article_id}.json").read_bytes()
        if article_id not in chosen:
            assert after == before[article_id], f"{article_id} was not chosen"
            assert not (dest / "history" / article_id).exists()
            continue
        replaced = json.loads(before[article_id])
        kept = dest / "history" / article_id / f"{replaced['created_at']}.json"
        assert kept.read_bytes() == before[article_id]
        assert json.loads(after)["steps"]["summary"]["run_id"] == run["run_id"]

    night = read(dest, "manifest.json")  # the night's: every article, and this run's marks
    assert {e["article_id"] for e in night["articles"]} == set(ids)
    assert night["counts"] == {"total": 5, "succeeded": 5, "failed": 0, "skipped": 0}
    assert night["touched"] == run["touched"]
    assert read(dest, f"runs/{run['run_id']}/manifest.json") == run
    for lang in ("en", "de"):  # rebuilt from every brief of the night, not only the two
        digest = (dest / f"digests/{lang}.md").read_text(encoding="utf-8")
        assert " · 5 briefs in " in digest.split("\n")[2]  # the night's, in its heading
        assert digest.rstrip().endswith(f"Run {run['run_id']}")  # this run, at the foot


@pytest.mark.usefixtures("prefect_api")
def test_without_force_a_chosen_unchanged_article_is_left_as_it_is(briefed_night):
    source, dest, first = briefed_night
    entry = first["articles"][0]
    before = (dest / f"briefs/{entry['article_id']}.json").read_bytes()
    history = sorted(p.relative_to(dest) for p in dest.glob("history/**/*.json"))

    state = briefs(source=str(source), dest=str(dest), languages=["de"], models="tiny",
                   article_ids=[entry["article_id"]], return_state=True)

    assert state.is_completed(), state.message
    [only] = state.result()["articles"]
    assert (only["article_id"], only["status"]) == (entry["article_id"], "skipped")
    assert "already briefed" in only["reason"]
    assert (dest / f"briefs/{entry['article_id']}.json").read_bytes() == before
    assert sorted(p.relative_to(dest) for p in dest.glob("history/**/*.json")) == history
    night = read(dest, "manifest.json")  # the night still has it as briefed
    assert next(e for e in night["articles"] if e["article_id"] == entry["article_id"]) == entry
    assert night["counts"]["succeeded"] == night["counts"]["total"] == 5


@pytest.mark.usefixtures("prefect_api")
def test_an_empty_list_of_articles_is_refused_not_taken_for_the_whole_night(briefed_night):
    """The form always shows `article_ids` (empty: the whole night). An editor who means to
    brief chosen articles switches `only_article_ids` on; then an empty list, like an item
    added and left blank, is refused and nothing is touched."""
    source, dest, _ = briefed_night
    before = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    for chosen in ({"article_ids": [], "only_article_ids": True},
                   {"article_ids": ["  "], "only_article_ids": True},
                   {"article_ids": [""]}):
        state = briefs(source=str(source), dest=str(dest), languages=["de"], models="tiny",
                       force=True, return_state=True, **chosen)
        assert state.is_failed(), chosen
        assert "article_ids is empty" in state.message and "only_article_ids" in state.message
    assert {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()} == before


@pytest.mark.usefixtures("prefect_api")
def test_a_burst_of_arrivals_is_read_back_whole_across_pages_and_each_object_once():
    import asyncio
    from datetime import UTC, datetime

    from briefs.tasks.events import OBJECT_CREATED, Arrivals, arrived_objects, emit_created
    from tests.prefect_stack import wait_until

    since = datetime.now(UTC)
    burst = created_objects({"Records": [s3_record(f"burst/{n:03}.txt") for n in range(60)]})
    asyncio.run(emit_created(burst + burst[:5]))  # S3 delivered five of them twice
    asyncio.run(emit_created(created_objects({"Records": [s3_record("x.txt", bucket="other")]})))
    window = Arrivals(since=since, seconds=30, first="s3://news-in/burst/000.txt")

    uris = wait_until(lambda: (found := arrived_objects(window, "s3://news-in/")) and
                      len(found) >= 60 and found, 60, "the events to be stored")
    assert uris == [o.uri for o in burst]
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    with get_client(sync_client=True) as client:  # the five sent twice are stored once
        stored = client.read_events(EventFilter(event=EventNameFilter(name=[OBJECT_CREATED]),
                                                resource=EventResourceFilter(
                                                    id_prefix=["s3://news-in/burst/"])),
                                    limit=1)
    assert stored.total == 60
