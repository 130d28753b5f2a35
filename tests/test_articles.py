"""Every input format parses into articles; bad input becomes a failure with a reason."""

from __future__ import annotations

import gzip
import json
import re
import textwrap

import pytest

from briefs.tasks.core.config import LimitsConfig
from briefs.tasks.core.records import Article, Failure
from briefs.tasks.ingest.articles import RawObject, article_id_for, input_format, parse_object
from briefs.tasks.ingest.text import split_sentences
from tests.corpus_sample import html_pages, summaries
from tests.helpers import SEEDS, corpus_or_skip

LIMITS = LimitsConfig()
BODY = "The council approved the budget on Monday. Schools and hospitals get more money."
INCOMPLETE_GZIP = "gzip stream ends early: the object is incomplete"


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


# --- gzip: truncated uploads and several members ---------------------------------------------

def corpus_text(count: int) -> list[str]:
    """Whole articles from the shared corpus (real news text, one paragraph a line)."""
    return [row["article"] for row in summaries(corpus_or_skip(), count)]


@pytest.mark.parametrize("cut", ["middle", "end of the data", "trailer"])
def test_truncated_gzip_fails_as_incomplete(cut):
    packed = gzip.compress(corpus_text(1)[0].encode())
    short = {"middle": packed[:len(packed) // 2], "end of the data": packed[:-20],
             "trailer": packed[:-3]}[cut]
    [item] = parse("partial.txt.gz", short)
    assert isinstance(item, Failure) and item.reason == INCOMPLETE_GZIP


@pytest.mark.parametrize("members", [2, 3])
def test_every_member_of_a_concatenated_gzip_is_read(members):
    texts = corpus_text(members)
    article = only_article("cat.txt.gz", b"".join(gzip.compress(f"{t}\n".encode()) for t in texts))
    assert (article.title, article.text) == ("", "\n".join(texts))


def test_every_member_of_a_concatenated_jsonl_gz_feed_is_read():
    lines = [json.dumps({"title": title, "body": BODY}) for title in ("One", "Two", "Three")]
    items = parse("feed.jsonl.gz", b"".join(gzip.compress(f"{line}\n".encode()) for line in lines))
    assert [item.title for item in items] == ["One", "Two", "Three"]


def test_members_that_together_pass_the_limit_fail_with_the_limit():
    small = LimitsConfig(max_article_bytes=1000)
    part = gzip.compress(f"{BODY}\n".encode() * 7)  # 567 bytes each, 1134 together
    [item] = parse_object(RawObject("cat.txt.gz", "m", part + part), small)
    assert item.reason == "inflates to more than the 1000-byte limit (limits.max_article_bytes)"


def test_gzip_bomb_of_many_members_fails_fast_by_ratio():
    member = gzip.compress(b"a " * 500_000)  # 1 MB from about 1 KB
    bomb = member * 30 + member[:-20]  # 31 MB in all, and its end is cut off
    roomy = LimitsConfig(max_article_bytes=100_000_000)
    [item] = parse_object(RawObject("bomb.txt.gz", "m", bomb), roomy)
    # The ratio stops inflation long before the cut-off end would be reached.
    assert item.reason == (f"inflates more than 100 times its {len(bomb)} compressed bytes "
                           "(limits.max_inflate_ratio): a likely gzip bomb")


@pytest.mark.parametrize("damage", ["not gzip", "corrupt data", "wrong checksum"])
def test_data_that_is_not_gzip_fails_with_a_reason(damage):
    packed = gzip.compress(BODY.encode())
    data = {"not gzip": BODY.encode(),
            "corrupt data": packed[:10] + b"\xff" * 20 + packed[30:],
            "wrong checksum": packed[:-8] + bytes([packed[-8] ^ 1]) + packed[-7:]}[damage]
    [item] = parse("story.txt.gz", data)
    assert isinstance(item, Failure) and item.reason.startswith("not valid gzip data (")


# --- titles of .txt and .md: only a line that stands alone ----------------------------------

LEAD = ("North Korean leader Kim Jong-un warned party officials in a speech Tuesday that the "
        "country would speed up its preparations for war, state media reported on Wednesday.")


def hard_wrapped(paragraphs: list[str], width: int) -> str:
    """Paragraphs filled to `width` columns, a blank line between them, as mail and wire text."""
    return "\n\n".join(textwrap.fill(paragraph, width, break_on_hyphens=False)
                       for paragraph in paragraphs)


def test_hard_wrapped_lead_sentence_is_not_taken_for_a_title():
    text = hard_wrapped([LEAD, BODY], 68)
    assert text.split("\n")[1].startswith("Tuesday that")  # a capitalised second line
    article = only_article("kim.txt", text.encode())
    assert article.title == ""
    assert " ".join(article.text.split()).startswith(LEAD)


@pytest.mark.parametrize("width", [60, 66, 72])
def test_hard_wrapped_corpus_articles_keep_their_whole_text(width):
    rows = [row for row in summaries(corpus_or_skip(), 40)
            if "\n" in hard_wrapped([row["article"].split("\n")[0]], width)][:8]
    assert len(rows) == 8
    for row in rows:
        paragraphs = [p for p in row["article"].split("\n") if p.strip()]
        article = only_article(f"{row['id']}.txt", hard_wrapped(paragraphs, width).encode())
        assert article.title == "", row["id"]
        assert article.text.split() == row["article"].split(), row["id"]


def test_title_line_directly_followed_by_a_paragraph_is_the_title():
    story = corpus_text(1)[0]
    article = only_article("venter.txt", f"Venter unveils a synthetic life form\n{story}".encode())
    assert (article.title, article.text) == ("Venter unveils a synthetic life form", story)


def test_title_line_followed_by_hard_wrapped_paragraphs_is_the_title():
    article = only_article("kim.txt", f"Kim orders faster war preparations\n"
                                      f"{hard_wrapped([LEAD, BODY], 72)}".encode())
    assert article.title == "Kim orders faster war preparations"
    assert " ".join(article.text.split()).startswith(LEAD)


def test_markdown_heading_directly_followed_by_the_body_is_the_title():
    article = only_article("kim.md", f"# Kim orders faster war preparations\n"
                                     f"{hard_wrapped([LEAD], 60)}\n".encode())
    assert article.title == "Kim orders faster war preparations"
    assert " ".join(article.text.split()) == LEAD


def test_a_quoted_sentence_is_not_a_title():
    text = f'The mayor called the budget "a fair deal for every school."\n\n{BODY}'
    assert only_article("mayor.txt", text.encode()).title == ""


@pytest.mark.parametrize(("first", "second"), [
    ("The council approved the budget for schools,", "Hospitals and roads on Monday."),
    ("The council approved the budget for schools and", "Hospitals on Monday."),
    ("The council, after a long debate over the new tax -", "Mayor Jones said - approved it."),
    ("The council approved the budget", "after a long debate on Monday."),
])
def test_a_first_line_that_runs_on_is_not_a_title(first, second):
    text = f"{first}\n{second} {BODY}"  # the second line is much longer than the first
    article = only_article("council.txt", text.encode())
    assert (article.title, article.text) == ("", text)


# --- hard-wrapped text: lines joined again before sentences are split ----------------------

INJURY = ("The 22-year-old fractured her neck and back, dislocated her pelvis and broke three "
          "ribs in the fall.")
INJURY_BODY = ("She was flown to hospital in Innsbruck, where surgeons operated on her for six "
               "hours. Her team said she was awake and talking on Wednesday.")
GERMAN_LEAD = ("Die Bundesregierung hat am Mittwoch einen neuen Entwurf für das "
               "Klimaschutzgesetz vorgelegt.")
GERMAN_BODY = "Umweltverbände begrüßten den Schritt. Die Opposition sprach von Symbolpolitik."
CHINESE_LEAD = "北京时间周二，国家统计局发布了最新的经济数据。"
CHINESE_BODY = ("数据显示，第三季度国内生产总值同比增长百分之四点八，略高于市场预期。"
                "分析人士认为，消费回暖是主要原因。")


def derived_title(key: str, text: str) -> Article:
    """The article of a title-less text file, its language detected and its title derived,
    as a run reads it."""
    from briefs.tasks.ingest.source_language import describe

    article = only_article(key, text.encode())
    assert article.title == "", article.title  # no line of it stands alone as a title
    describe(article, 0.5)
    return article


def test_a_hard_wrapped_article_is_titled_by_its_first_whole_sentence():
    text = hard_wrapped([f"{INJURY} {INJURY_BODY}"], 60)
    assert text.split("\n")[0] == "The 22-year-old fractured her neck and back, dislocated her"
    article = derived_title("injury.txt", text)
    assert article.title == INJURY
    assert [w.code for w in article.warnings] == ["no_title"]


def test_a_hard_wrapped_german_article_is_titled_by_its_first_whole_sentence():
    text = hard_wrapped([GERMAN_LEAD + " " + GERMAN_BODY], 48)
    assert text.split("\n")[1].startswith("Entwurf")  # a break before a noun
    article = derived_title("klima.txt", text)
    assert (article.language, article.title) == ("de", GERMAN_LEAD)


def test_a_hard_wrapped_chinese_article_is_joined_without_spaces():
    wrapped = "\n".join((CHINESE_LEAD + CHINESE_BODY)[i:i + 18]
                        for i in range(0, len(CHINESE_LEAD + CHINESE_BODY), 18))
    assert wrapped.split("\n")[0] == CHINESE_LEAD[:18]  # the lead runs over two lines
    article = derived_title("tongji.txt", wrapped)
    assert (article.language, article.title) == ("zh", CHINESE_LEAD)
    assert split_sentences(wrapped, "zh") == [CHINESE_LEAD, *re.findall(r"[^。]+。",
                                                                        CHINESE_BODY)]


@pytest.mark.parametrize("width", [50, 72])
def test_hard_wrapping_changes_no_sentence_of_a_corpus_article(width):
    """Sentences (what chunks are packed from) are the same wrapped or not: a line break
    inside a paragraph is a space, a blank line ends the paragraph."""
    for row in summaries(corpus_or_skip(), 30):
        paragraphs = [p for p in row["article"].split("\n") if p.strip()]
        wrapped = split_sentences(hard_wrapped(paragraphs, width))
        unwrapped = split_sentences("\n\n".join(paragraphs))
        assert [s.split() for s in wrapped] == [s.split() for s in unwrapped], row["id"]


def test_a_line_that_stands_alone_stays_a_sentence_of_its_own():
    dateline = "LONDON, 27 November"
    text = f"{dateline}\n{hard_wrapped([INJURY], 60)}\n\n## Recovery\n{INJURY_BODY}"
    assert split_sentences(text) == [dateline, INJURY, "## Recovery",
                                     *split_sentences(INJURY_BODY)]
    first, second = split_sentences(INJURY_BODY)
    assert split_sentences(f"{first}\n{second}") == [first, second]


# --- article ids from the record's own id or URL ---------------------------------------------

def feed(records: list[dict], key: str = "feeds/world.jsonl") -> list[Article | Failure]:
    return parse(key, "\n".join(json.dumps(record) for record in records).encode())


def ids_by_line(items: list[Article | Failure]) -> list[str]:
    return [item.article_id for item in items]


def test_inserting_a_line_keeps_the_ids_of_the_other_records():
    rows = summaries(corpus_or_skip(), 4)
    v1 = [{"id": row["id"], "body": row["article"]} for row in rows[1:]]
    v2 = [{"id": rows[0]["id"], "body": rows[0]["article"]}, *v1]
    first, second = feed(v1), feed(v2)
    assert all(isinstance(item, Article) for item in first + second)
    assert ids_by_line(second)[1:] == ids_by_line(first)
    assert [item.article_id.startswith(f"{row['id']}-") for item, row in zip(
        second, rows, strict=True)] == [True] * 4  # readable: the record's id leads the name
    assert [item.source.line for item in second] == [1, 2, 3, 4]
    assert second[1].source.uri == "mem://feeds/world.jsonl#L2"


def test_records_without_an_id_are_named_by_their_url():
    urls = ["https://news.example.org/world/2026/11/27/kim-speech.html",
            "https://news.example.org/business/budget-approved"]
    v1 = [{"url": url, "body": BODY} for url in urls]
    v2 = [{"url": "https://news.example.org/sport/final", "body": BODY}, *v1]
    assert ids_by_line(feed(v2))[1:] == ids_by_line(feed(v1))
    assert feed(v1)[0].article_id.startswith("world-2026-11-27-kim-speech-")
    assert feed(v1)[1].article_id.startswith("business-budget-approved-")


def test_numeric_ids_name_articles():
    v1 = [{"id": 1017, "body": BODY}, {"id": 1018, "body": BODY}]
    v2 = [{"id": 1016, "body": BODY}, *v1]
    assert ids_by_line(feed(v2))[1:] == ids_by_line(feed(v1))
    assert feed(v1)[0].article_id.startswith("1017-")


def test_the_same_record_id_in_two_feeds_names_two_articles():
    [reuters] = feed([{"id": 1, "body": BODY}], "reuters/feed.jsonl")
    [afp] = feed([{"id": 1, "body": BODY}], "afp/feed.jsonl")
    assert reuters.article_id != afp.article_id


def test_a_json_object_is_named_by_its_id_field():
    record = {"id": "xsum-10138849", "title": "Budget", "body": BODY}
    article = only_article("2026-11-27/story.json", json.dumps(record).encode())
    assert article.article_id.startswith("xsum-10138849-")
    other = only_article("2026-11-27/story.json", json.dumps({**record, "id": "x2"}).encode())
    assert other.article_id != article.article_id


def test_a_repeated_id_in_one_feed_fails_instead_of_overwriting():
    items = feed([{"id": "abc", "title": "One", "body": BODY}, {"id": "def", "body": BODY},
                  {"id": "ghi", "body": BODY}, {"url": "https://example.org/a", "body": BODY},
                  {"id": "abc", "title": "Five", "body": BODY}])
    assert [type(i).__name__ for i in items] == ["Article"] * 4 + ["Failure"]
    assert items[4].reason == "line 5: duplicate id 'abc' (first on line 1)"
    assert items[4].uri.endswith("#L5") and items[4].article_id != items[0].article_id


def test_a_repeated_url_in_one_feed_fails_when_records_have_no_id():
    url = "https://news.example.org/world/kim-speech"
    items = feed([{"url": url, "body": BODY}, {"url": url, "body": BODY}])
    assert isinstance(items[1], Failure)
    assert items[1].reason == f"line 2: duplicate url '{url}' (first on line 1)"


def test_failed_lines_and_records_without_id_or_url_are_named_by_line():
    items = feed([{"title": "no id", "body": BODY}, {"id": "abc", "body": BODY}])
    failed = parse("feeds/world.jsonl", b'{"id": "abc", "body": "cut off\n{"id": "d", "body": 1}'
                                        b'\n{"id": "e", "body": "Too short."}')
    assert isinstance(items[0], Article)
    assert items[0].article_id == article_id_for("feeds/world.jsonl", 1)
    assert [type(item).__name__ for item in failed] == ["Failure"] * 3
    assert [item.article_id for item in failed] == [article_id_for("feeds/world.jsonl", n)
                                                    for n in (1, 2, 3)]


@pytest.mark.parametrize("record_id", ["../../etc/passwd", "中文 id", "x" * 1000, "a b", "a-b",
                                       "https://example.org/a?b=c"])
def test_ids_from_records_are_safe_names(record_id):
    [article] = feed([{"id": record_id, "body": BODY}])
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,80}", article.article_id), article.article_id
