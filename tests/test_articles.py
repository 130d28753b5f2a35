"""Every input format parses into articles; bad input becomes a failure with a reason."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from tasks.articles import RawObject, article_id_for, input_format, parse_object
from tasks.config import LimitsConfig
from tasks.records import Article, Failure
from tests.conftest import SEEDS, corpus_or_skip
from tests.corpus_sample import html_pages

LIMITS = LimitsConfig()
BODY = "The council approved the budget on Monday. Schools and hospitals get more money."


def parse(key: str, data: bytes) -> list[Article | Failure]:
    return parse_object(RawObject(key, f"mem://{key}", data), LIMITS)


def only_article(key: str, data: bytes) -> Article:
    [item] = parse(key, data)
    assert isinstance(item, Article), item
    return item


def test_seed_article_is_text_without_a_title_line():
    seed = next(SEEDS.glob("*.txt"))
    article = only_article(seed.name, seed.read_bytes())
    assert article.text.startswith("North Korean leader Kim Jong-un")
    assert article.title == ""  # its first line is a full paragraph, not a title
    assert article.source.format == "txt" and len(article.source.sha256) == 64


def test_text_short_first_line_is_the_title():
    article = only_article("a/story.txt", f"Budget approved\n\n{BODY}".encode())
    assert (article.title, article.text) == ("Budget approved", BODY)


def test_markdown_heading_is_the_title():
    article = only_article("story.md", f"# Budget approved\n\n{BODY}\n".encode())
    assert (article.title, article.text) == ("Budget approved", BODY)


@pytest.mark.parametrize("field", ["body", "text", "content"])
def test_json_body_fields(field):
    record = {"id": "x1", "title": "Budget", field: BODY, "url": "https://example.org/a",
              "published": "2026-11-27", "language": "en"}
    article = only_article("story.json", json.dumps(record).encode())
    assert (article.title, article.text, article.url) == ("Budget", BODY, "https://example.org/a")
    assert article.declared_language == "en" and article.published == "2026-11-27"


def test_jsonl_gz_one_article_a_line_and_bad_lines_fail_alone():
    lines = [json.dumps({"title": "One", "body": BODY}), "{not json",
             json.dumps({"title": "Three", "text": BODY}), json.dumps({"title": "no body"})]
    items = parse("feed.jsonl.gz", gzip.compress("\n".join(lines).encode()))
    assert [type(i).__name__ for i in items] == ["Article", "Failure", "Article", "Failure"]
    assert "line 2: malformed JSON" in items[1].reason
    assert "no body field" in items[3].reason
    assert items[0].article_id != items[2].article_id
    assert items[2].source.line == 3 and items[2].source.uri.endswith("#L3")


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty article"),
    (b"   \n\t  ", "empty article"),
    (b"Hello", "only 1 words"),
    (b'{"title": "x", "body": 42}', "must be a string"),
    (b"[1, 2]", "must be an object"),
    (b"{oops", "malformed JSON"),
])
def test_bad_input_fails_with_a_reason(data, reason):
    key = "bad.json" if data.strip().startswith((b"{", b"[")) else "bad.txt"
    [item] = parse(key, data)
    assert isinstance(item, Failure) and reason in item.reason


def test_other_encodings_are_decoded_not_rejected():
    german = ("Die Straßenbahn fährt über die Brücke und hält am Bahnhof, wo viele Menschen "
              "warten. Außerdem gibt es neue Pläne für die Schule.")
    latin = only_article("latin.txt", f"Zürich plant\n\n{german}".encode("latin-1"))
    assert (latin.title, latin.text) == ("Zürich plant", german)
    utf16 = only_article("utf16.txt", f"Title\r\n\r\n{BODY}".replace("\n", "\r\n").encode("utf-16"))
    assert (utf16.title, utf16.text) == ("Title", BODY)
    bom = only_article("bom.txt", f"\ufeffTitle\n\n{BODY}".encode())
    assert bom.title == "Title"


def test_binary_data_under_a_text_name_fails():
    [item] = parse("image.txt", bytes(range(256)) * 4)
    assert isinstance(item, Failure) and "binary" in item.reason


def test_size_limit_and_gzip_inflation_cap():
    small = LimitsConfig(max_article_bytes=1000)
    [big] = parse_object(RawObject("big.txt", "m", b"a " * 600), small)
    assert "exceed the 1000-byte limit" in big.reason
    [bomb] = parse_object(RawObject("bomb.txt.gz", "m", gzip.compress(b"a" * 100_000)), small)
    assert "inflates to more than" in bomb.reason


def test_html_main_text_and_title_come_from_the_page():
    page = html_pages(corpus_or_skip(), 1)[0]
    expected = (page.parent.parent / "text" / page.name.replace(".html", ".txt")).read_text()
    article = only_article(f"pages/{page.name}", page.read_bytes())
    assert article.title
    first_words = " ".join(expected.split()[:8])
    assert first_words in " ".join(article.text.split())


def test_html_without_main_text_fails():
    page = b"<html><head><script>var a = 1;</script></head><body><nav>Home</nav></body></html>"
    [item] = parse("empty.html", page)
    assert isinstance(item, Failure) and "no main text" in item.reason


def test_ids_are_stable_distinct_and_safe():
    keys = ["2026-11-27/World News/Kim’s speech.txt", "../../etc/passwd.txt", "中文.html",
            "x" * 1000 + ".txt", "a b.json", "a-b.json"]
    ids = [article_id_for(k) for k in keys]
    assert ids == [article_id_for(k) for k in keys]
    assert len(set(ids)) == len(ids)
    for article_id in ids:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,80}", article_id), article_id
    assert article_id_for("feed.jsonl", 3) != article_id_for("feed.jsonl", 4)


def test_input_formats():
    assert [input_format(k) for k in ("a.txt", "a.MD", "a.json.gz", "a.jsonl", "a.htm",
                                      "a.html.gz", "a.csv")] == [
        "txt", "md", "json", "jsonl", "html", "html", None]
