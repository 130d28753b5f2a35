"""One pathological object costs bounded time and memory, is reported with its reason, and
leaves the other objects of its batch briefed: plain calls of the read step, no flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from briefs.tasks.core.config import LimitsConfig, load_config
from briefs.tasks.core.records import Article, Failure
from briefs.tasks.ingest.articles import RawObject, parse_object
from briefs.tasks.output.storage import open_store
from briefs.tasks.run.pipeline import read_articles

GOOD = ("The city council met on Monday evening and agreed a new budget for the coming year. "
        "The mayor said the money would go to schools, buses and the repair of old bridges.")


def read_folder(folder: Path, **limits: int) -> dict[str, Article | Failure]:
    """Every object under `folder` read as one batch of a run, by the name of its file (and
    `#L<n>` for a feed's line)."""
    store = open_store(str(folder))
    config = load_config("tiny").model_copy(update={"limits": LimitsConfig(**limits)})
    return {(item.uri if isinstance(item, Failure) else item.source.uri).rsplit("/", 1)[-1]:
            item for item in read_articles(store, store.list(), config)}


def reasons(items: dict[str, Article | Failure]) -> dict[str, str]:
    return {i: item.reason for i, item in items.items() if isinstance(item, Failure)}


@pytest.mark.parametrize("name, data", [
    ("nested-array.json", b"[" * 100_000 + b"]" * 100_000),
    ("nested-object.json", b'{"body":' * 100_000 + b'"x"' + b"}" * 100_000),
    ("nested-line.jsonl", json.dumps({"body": GOOD}).encode() + b"\n"
     + b"[" * 100_000 + b"]" * 100_000),
])
def test_json_nested_too_deeply_fails_alone_and_its_batch_goes_on(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    (tmp_path / "good.txt").write_text(GOOD)

    items = read_folder(tmp_path)

    assert isinstance(items["good.txt"], Article)
    [reason] = reasons(items).values()
    assert "nested too deeply" in reason
    if name.endswith(".jsonl"):  # the feed's good line is briefed, the deep one fails alone
        assert "line 2" in reason and sum(isinstance(i, Article) for i in items.values()) == 2


def test_a_feed_of_a_million_lines_is_refused_naming_the_limit():
    feed = b"\n".join(json.dumps({"id": n, "body": GOOD}).encode() for n in range(1_000_000))

    [failure] = parse_object(RawObject("feeds/huge.jsonl", "file:///in/feeds/huge.jsonl", feed),
                             LimitsConfig())

    assert isinstance(failure, Failure)
    assert "1000000 lines exceed the 100000-line limit (limits.max_feed_lines)" in failure.reason


def test_a_feed_within_the_line_limit_is_read_whole():
    feed = b"".join(json.dumps({"id": n, "body": GOOD}).encode() + b"\n" for n in range(50))
    items = parse_object(RawObject("f.jsonl", "file:///in/f.jsonl", feed),
                         LimitsConfig(max_feed_lines=50))
    assert len(items) == 50 and all(isinstance(i, Article) for i in items)


def test_an_object_of_2_gb_is_refused_from_its_listed_size_without_being_read(tmp_path):
    with (tmp_path / "huge.jsonl").open("wb") as huge:
        huge.truncate(2 * 2**30)  # sparse: 2 GiB listed, nothing on disk
    (tmp_path / "good.txt").write_text(GOOD)

    items = read_folder(tmp_path)

    assert isinstance(items["good.txt"], Article)
    assert reasons(items) == {"huge.jsonl": "2147483648 bytes exceed the 200000000-byte limit "
                                      "(limits.max_object_bytes)"}


def test_a_huge_single_line_html_page_is_read_within_the_article_limit(tmp_path):
    page = b"<html><body><article><p>" + (GOOD.encode() + b" ") * 10_000 + b"</p></article>"
    (tmp_path / "one-line.html").write_bytes(page + b"</body></html>")
    (tmp_path / "too-long.html").write_bytes(page * 2 + b"</body></html>")

    items = read_folder(tmp_path, max_article_bytes=2 * len(page))

    assert isinstance(items["one-line.html"], Article)
    assert items["one-line.html"].text.count("old bridges") == 10_000
    assert "limits.max_article_bytes" in reasons(items)["too-long.html"]


def test_a_notification_nested_too_deeply_is_refused_with_its_reason():
    """The late-arrivals run reads notifications from outside; a crafted one nested deeper
    than any S3 envelope fails with a NotificationError, not a RecursionError."""
    from briefs.tasks.ingest.s3_notifications import (
        MAX_ENVELOPES,
        NotificationError,
        created_objects,
    )

    event = {"Records": [{"eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": "news"}, "object": {"key": "a.json"}}}]}
    nested: object = event
    for _ in range(3):
        nested = [nested]
    assert [o.uri for o in created_objects(json.dumps(nested))] == ["s3://news/a.json"]
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(NotificationError, match=f"nested more than {MAX_ENVELOPES} deep"):
        created_objects(nested)
    with pytest.raises(NotificationError, match="JSON nested too deeply to read"):
        created_objects("[" * 100_000 + "]" * 100_000)
