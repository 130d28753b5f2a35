"""The per-language digests as editors read them: the night in the heading, order,
near-duplicates grouped, escaping, each language's warnings folded and counted, the language
switcher; the HTML page rendered in headless Chromium at a phone's width."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from briefs.tasks.output.digest import (
    SIMILAR,
    Night,
    digest_entries,
    entries_in,
    night_of_manifest,
    outlet_and_section,
    parse_published,
    similarities,
    similarity_words,
)
from briefs.tasks.output.documents import digest_html, digest_markdown
from briefs.tasks.quality.warnings import CODES
from tests.helpers import (
    corpus_or_skip,
    digest_footer,
    digest_night_line,
    missing,
    non_printing_in,
)

WIRE = ("Storm Bert brought heavy rain and winds of up to 80 mph to large parts of the country "
        "on Saturday, cutting power to 30,000 homes. The Met Office issued amber warnings for "
        "Wales and south-west England, and rail operators cancelled dozens of services.")
HOSTILE = "Tom &amp; Jerry <script>alert(1)</script> & friends"
LANGUAGES = ["en", "de", "fr"]


def brief(article_id: str, titles: dict[str, str], summaries: dict[str, str], key: str,
          url: str | None = None, published: str | None = None,
          warnings: list[Any] | None = None) -> dict[str, Any]:
    """A brief document as `documents.brief_document` writes it (the fields digests read)."""
    source = {"uri": f"s3://news-in/{key}", "key": key, "format": "json", "sha256": "0" * 64}
    source |= {"url": url} if url else {}
    source |= {"published": published} if published else {}
    return {"article_id": article_id, "source": source, "title": titles,
            "summaries": summaries, "source_language": "en",
            "route": {"name": "direct", "source_language": "en"},
            "warnings": warnings or [], "steps": {}}


def night() -> list[dict[str, Any]]:
    """A handful of briefs: one story from two outlets, a hostile title, one without a URL,
    one only in French, an undated one, warnings as records and as plain strings."""
    return [
        brief("storm-guardian", {"en": "Storm Bert cuts power to 30,000 homes",
                                 "de": "Sturm Bert legt den Strom lahm"},
              {"en": WIRE.replace("Saturday", "Saturday morning").replace("dozens of", "many"),
               "de": "Sturm Bert: Regen und Wind, 30.000 Haushalte ohne Strom."},
              "guardian/2026-11-27/storm.json",
              "https://www.theguardian.com/uk-news/2026/nov/27/storm-bert",
              "2026-11-27T08:10:00+00:00"),
        brief("storm-bbc", {"en": "Storm Bert: 30,000 homes without power",
                            "de": "Sturm Bert: 30.000 Haushalte ohne Strom"},
              {"en": WIRE, "de": "Sturm Bert brachte heftigen Regen und Wind."},
              "bbc/2026-11-27/storm.json", "https://www.bbc.co.uk/news/uk-68001234",
              "2026-11-27T06:30:00Z"),
        brief("bbc-budget", {"en": "Budget: what it means for you",
                             "de": "Haushalt: was er für Sie bedeutet"},
              {"en": "The chancellor set out tax rises and spending plans in the budget.",
               "de": "Der Finanzminister stellte Steuererhöhungen vor."},
              "bbc/2026-11-27/budget.json", "https://www.bbc.co.uk/news/business-68005678",
              "2026-11-27T12:00:00Z",
              [{"code": "random_weights", "detail": "a model has <random> weights"}]),
        brief("reuters-markets", {"en": HOSTILE, "de": HOSTILE.replace("friends", "Freunde")},
              {"en": "European shares rose on Friday as bond yields fell.",
               "de": "Europäische Aktien stiegen am Freitag."},
              "reuters/2026-11-26/markets.json",
              "https://www.reuters.com/markets/europe/shares-rise-2026-11-26/", "2026-11-26",
              ["an old plain warning"]),
        brief("council-bikes", {"en": "Council approves new bike lanes",
                                "de": "Stadtrat genehmigt neue Radwege"},
              {"en": "The council approved 12 km of new bike lanes along the river.",
               "de": "Der Rat genehmigte 12 km neue Radwege am Fluss."},
              "local/2026-11-27/"
              "council-approves-twelve-kilometres-of-new-bike-lanes-along-the-river.json",
              published="yesterday evening"),
        brief("paris-strike", {"en": "Transport strike in Paris", "fr": "Grève des transports"},
              {"en": "Metro and bus services stopped in Paris.",
               "fr": "Le métro et les bus se sont arrêtés à Paris."},
              "lemonde/2026-11-27/greve.json", "javascript:alert(1)"),
    ]


def titles_in_order(entries) -> list[str]:
    return [e.lead.article_id for e in entries]


# Plain tests: fast, no browser.

def test_outlet_from_the_url_host_else_the_key_and_a_section_when_there_is_one():
    assert outlet_and_section("https://www.bbc.co.uk/news/uk-1", "x.json") == ("bbc.co.uk",
                                                                             "news")
    assert outlet_and_section("https://apnews.com/article/abc-123", "ap/x.json") == (
        "apnews.com", "article")
    assert outlet_and_section("https://example.org/2026/11/27/x", "k") == ("example.org", None)
    assert outlet_and_section(None, "bbc/2026-11-27/x.json") == ("bbc", None)
    assert outlet_and_section(None, "2026-11-27/bbc/sport/x.json") == ("bbc", "sport")
    assert outlet_and_section(None, "x.json") == ("Other", None)
    # a folder names its outlet as written: capitals, spaces and dots kept
    assert outlet_and_section(None, "BBC News/2026-11-27/x.txt") == ("BBC News", None)
    assert outlet_and_section(None, "Le Monde/Économie/x.txt") == ("Le Monde", "Économie")
    assert outlet_and_section(None, "bbc.co.uk/x.txt") == ("bbc.co.uk", None)


def test_published_dates_are_read_as_iso_and_kept_as_text_otherwise():
    assert parse_published("2026-11-27T06:30:00Z").isoformat() == "2026-11-27T06:30:00+00:00"
    assert parse_published("2026-11-27").isoformat() == "2026-11-27T00:00:00+00:00"
    assert parse_published("yesterday evening") is None and parse_published(None) is None


def test_entries_go_by_outlet_then_newest_first_then_title_with_other_last():
    extra = [
        brief("bbc-undated", {"en": "A bbc story without a date"}, {"en": "Nothing."},
              "bbc/a.json", "https://www.bbc.co.uk/news/a"),
        brief("bbc-same-time", {"en": "Another budget story"}, {"en": "Unrelated words."},
              "bbc/b.json", "https://www.bbc.co.uk/news/b", "2026-11-27T13:00:00+01:00"),
        brief("no-outlet", {"en": "A loose file"}, {"en": "Text."}, "loose.json"),
    ]
    entries = digest_entries(night() + extra)
    assert titles_in_order(entries) == [
        "bbc-same-time",  # 12:00 UTC, same time as bbc-budget: by title ("Another" < "Budget")
        "bbc-budget", "storm-bbc", "bbc-undated",  # newest first, undated last
        "paris-strike", "council-bikes", "reuters-markets", "no-outlet"]  # "Other" last
    assert [e.lead.outlet for e in entries] == ["bbc.co.uk"] * 4 + [
        "lemonde", "local", "reuters.com", "Other"]


def test_the_same_story_from_two_outlets_is_one_entry_led_by_the_earliest():
    entries = digest_entries(night())
    [storm] = [e for e in entries if len(e.items) > 1]
    assert storm.lead.article_id == "storm-bbc"  # 06:30, the Guardian's came at 08:10
    assert [o.article_id for o in storm.others] == ["storm-guardian"]
    assert len(entries) == len(night()) - 1


def test_near_duplicates_of_one_outlet_or_of_different_stories_stay_apart():
    same_outlet = brief("storm-bbc-2", {"en": "Storm Bert: homes without power"},
                        {"en": WIRE}, "bbc/storm-2.json", "https://www.bbc.co.uk/news/uk-9")
    other_storm = brief("storm-cnn", {"en": "Storm Bert hits Ireland"},
                        {"en": "Storm Bert reached Ireland on Sunday, where the rivers Shannon "
                               "and Liffey burst their banks and two bridges were closed."},
                        "cnn/x.json", "https://edition.cnn.com/world/europe/storm-bert")
    empty = [brief(f"empty-{n}", {"en": ""}, {"en": ""}, f"x{n}.json", f"https://{n}.example/a")
             for n in "ab"]
    entries = digest_entries([*night(), same_outlet, other_storm, *empty])
    grouped = {e.lead.article_id: [o.article_id for o in e.others] for e in entries}
    assert grouped["storm-bbc"] == ["storm-guardian"]  # the BBC's second copy is not in it
    assert grouped["storm-bbc-2"] == [] and grouped["storm-cnn"] == []
    assert grouped["empty-a"] == grouped["empty-b"] == []


def test_a_digest_shows_only_briefs_in_its_language():
    entries = digest_entries(night())
    assert "paris-strike" not in titles_in_order(entries_in(entries, "de"))
    assert titles_in_order(entries_in(entries, "fr")) == ["paris-strike"]
    # an entry whose lead lacks the language is led by the next brief that has it
    guardian_only = [b for b in night() if b["article_id"] != "storm-bbc"]
    bbc_en_only = brief("storm-bbc", {"en": "Storm Bert: 30,000 homes without power"},
                        {"en": WIRE}, "bbc/storm.json", "https://www.bbc.co.uk/news/uk-1",
                        "2026-11-27T06:30:00Z")
    mixed = digest_entries([*guardian_only, bbc_en_only])
    [storm] = [e for e in entries_in(mixed, "de") if e.lead.outlet == "theguardian.com"]
    assert storm.others == []


def test_markdown_digest_is_ordered_grouped_escaped_and_links_the_other_languages():
    markdown = digest_markdown("en", digest_entries(night()), "run-1", LANGUAGES)
    # without a manifest, the night is what its briefs tell: where they were read from
    assert markdown.startswith("# Briefs of the night\n")
    assert digest_night_line(markdown) == "English · 6 briefs in 5 stories"
    assert "\n\nSource: s3://news-in/\n\n" in markdown
    assert digest_footer(markdown) == "Run run-1" and markdown.count("run-1") == 1
    assert "Languages: **English** · [German](de.md) · [French](fr.md)" in markdown
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == ["bbc.co.uk", "lemonde", "local", "reuters.com"]
    assert markdown.index("Budget: what it means") < markdown.index("Storm Bert: 30,000")
    assert ("- theguardian.com: [Storm Bert cuts power to 30,000 homes]"
            "(<https://www.theguardian.com/uk-news/2026/nov/27/storm-bert>)") in markdown
    assert "<script>" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "Tom &amp;amp; Jerry" in markdown  # the title's own "&amp;" shows as written
    assert ("<sub>⚠ 1 warning: random\\_weights: a model has &lt;random&gt; weights</sub>"
            in markdown)
    assert "<sub>⚠ 1 warning: an old plain warning</sub>" in markdown
    assert ("- 1 × random\\_weights: a model has random weights: its output is gibberish "
            "(tests only)") in markdown  # counted at the top, with its meaning
    assert "javascript:" not in markdown and "<sub>lemonde/2026-11-27/greve.json</sub>" in markdown
    # the night's source in the heading, but no brief's storage URI: not what editors need
    assert markdown.count("s3://") == 1


def test_html_digest_is_one_escaped_page_with_a_language_switcher():
    page = digest_html("de", digest_entries(night()), "run-1", LANGUAGES)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "url(" not in page and "@import" not in page  # nothing loaded from elsewhere
    assert ("&lt;script&gt;alert(1)&lt;/script&gt;" in page
            and "Tom &amp;amp; Jerry" in page)
    assert "&lt;random&gt;" in page  # the article's warnings show in every digest
    assert re.search(r'<details class="warnings">\s*<summary>⚠ 1 warning</summary>\s*<ul>\s*'
                     r'<li>random_weights: a model has &lt;random&gt; weights</li>', page)
    assert page.count("run-1") == 1 and "<footer><p>Run <code>run-1</code></p></footer>" in page
    assert re.findall(r'<a href="(\w+)\.html"[^>]*?( aria-current="page")?>(\w+)</a>', page) == [
        ("en", "", "English"), ("de", ' aria-current="page"', "German"), ("fr", "", "French")]
    assert ('<a href="https://www.theguardian.com/uk-news/2026/nov/27/storm-bert" '
            'rel="noopener">Sturm Bert legt den Strom lahm</a>') in page
    assert "Transport strike" not in page  # no German: not in the German digest
    english = digest_html("en", digest_entries(night()), "run-1", LANGUAGES)
    assert "javascript:" not in english and "lemonde/2026-11-27/greve.json" in english


RUN_UUID = "0f8e6c1a-3b2d-4c5e-9f70-1a2b3c4d5e6f"


def test_the_heading_is_the_night_with_counts_in_words_and_the_run_at_the_foot():
    manifest = {"run_id": RUN_UUID, "counts": {"total": 3, "succeeded": 1, "failed": 1,
                                               "skipped": 1},
                "parameters": {"source": "s3://news-in/2026-11-27/", "date": "2026-11-27"}}
    the_night = night_of_manifest(manifest)
    budget = digest_entries([b for b in night() if b["article_id"] == "bbc-budget"])
    markdown = digest_markdown("en", budget, RUN_UUID, ["en"], the_night)
    assert markdown.startswith("# Night of Friday 27 November 2026\n")
    assert digest_night_line(markdown) == "English · 1 brief in 1 story · 1 failed · 1 skipped"
    assert "\n\nSource: s3://news-in/2026-11-27/\n\n" in markdown
    assert digest_footer(markdown) == f"Run {RUN_UUID}" and markdown.count(RUN_UUID) == 1
    page = digest_html("en", budget, RUN_UUID, ["en"], the_night)
    assert ('<h1>Night of <time datetime="2026-11-27">Friday 27 November 2026</time></h1>'
            in page)
    assert ('<p class="night">English · 1 brief in 1 story · 1 failed · 1 skipped</p>\n'
            '<p class="source">Source: s3://news-in/2026-11-27/</p>') in page
    assert page.count(RUN_UUID) == 1 and f"Run <code>{RUN_UUID}</code>" in page
    storm = digest_entries([b for b in night() if b["article_id"].startswith("storm")])
    two = digest_markdown("en", storm, RUN_UUID, ["en"], Night("2026-11-27", "in/", 2, 0))
    assert digest_night_line(two) == "English · 2 briefs in 1 story · 2 failed"
    # The nightly deployment's source is a template: the heading shows the night's prefix.
    templated = night_of_manifest(manifest | {"parameters": {
        "source": "s3://news-in/{date}", "date": "2026-11-27"}})
    assert templated.source == "s3://news-in/2026-11-27/"


def warned_brief() -> dict[str, Any]:
    """A brief document written by `brief_document`, with warnings of its article, of its
    summary and of each of its two translations, and a model with random weights per step."""
    from briefs.tasks.core.config import load_config
    from briefs.tasks.core.records import Article, Brief, Source
    from briefs.tasks.output.documents import brief_document
    from briefs.tasks.quality.warnings import Notice, glossary_lost, step_record

    article = Article("storm-wire", Source("s3://news-in/wire/storm.txt", "wire/storm.txt",
                                           "txt", "0"), "Storm Bert", WIRE, language="en")
    models = {"summarizer": {"id": "tiny/bart"}, "translator_de": {"id": "tiny/marian-en-de"},
              "translator_fr": {"id": "tiny/marian-en-fr"}}
    article.warnings = [Notice("no_title", "the source has no title")] + [
        Notice("random_weights", f"{m['id']} has random weights") for m in models.values()]
    brief = Brief(article, "Storm Bert cut power.", 1, warnings=list(article.warnings),
                  titles={"en": "Storm Bert", "de": "Sturm Bert", "fr": "Tempête Bert"},
                  summaries={"en": "Storm Bert cut power.", "de": "Sturm Bert.",
                             "fr": "Tempête Bert."})
    loop = Notice("repetition", "summary 'en': the 1-gram 'Bert' repeats 8 times in a row")
    foreign = Notice("wrong_language", "translation 'fr': the text reads as 'en', not 'fr'")
    brief.steps = {"summary": step_record("k", [loop]), "translations": {
        "de": step_record("k-de", glossary_lost(["Met Office"], "de")),
        "fr": step_record("k-fr", [foreign])}}
    return brief_document(brief, load_config("tiny"), models, "run-1")


def test_each_digest_shows_its_own_languages_warnings_folded_and_counts_them_at_the_top():
    plain = brief("calm", {"en": "A calm night", "de": "Eine ruhige Nacht"},
                  {"en": "Nothing happened.", "de": "Nichts geschah."}, "wire/calm.txt")
    entries = digest_entries([warned_brief(), plain])
    shown = {}
    for lang in ("en", "de"):
        page = digest_html(lang, entries, "run-1", ["en", "de", "fr"])
        [folded] = re.findall(r'<details class="warnings">(.*?)</details>', page, flags=re.S)
        shown[lang] = re.findall(r"<li>(\w+): ", folded)
        assert "<details open" not in page  # folded until opened
        assert '<article id="calm">' in page and page.count("<details") == 1  # none: none
        counts = re.search(r'<ul class="codes".*?</ul>', page, flags=re.S)[0]
        for code in shown[lang]:
            assert f"× <code>{code}</code>: {CODES[code]}</li>" in counts
    assert shown["en"] == ["no_title", "random_weights", "repetition"]
    assert shown["de"] == ["no_title", "random_weights", "random_weights", "repetition",
                           "glossary_lost"]  # the summarizer's and the German translator's
    page = digest_html("de", entries, "run-1", ["en", "de", "fr"])
    assert "tiny/marian-en-de has" in page and "marian-en-fr" not in page
    assert "wrong_language" not in page and "<summary>⚠ 5 warnings</summary>" in page
    assert "<li>2 × <code>random_weights</code>: " in page
    markdown = digest_markdown("en", entries, "run-1", ["en", "de", "fr"])
    assert "<sub>⚠ 3 warnings: no\\_title: " in markdown
    assert "glossary" not in markdown and "wrong\\_language" not in markdown
    assert f"- 1 × repetition: {CODES['repetition']}" in markdown


def test_control_characters_in_an_older_brief_never_reach_a_digest():
    older = brief("old", {"en": "Storm\x1a Bert\u200b hits"}, {"en": "Rain\x0bfell\x07."},
                  "wire/old.txt")  # written before outputs were cleaned
    for document in (digest_html("en", digest_entries([older]), "run-1"),
                     digest_markdown("en", digest_entries([older]), "run-1")):
        assert non_printing_in(document) == []
        assert "Storm Bert hits" in document and "Rain fell." in document


def test_two_corpus_stories_are_never_grouped_and_a_syndicated_copy_is():
    """The threshold on real news (see tasks/output/digest.py): 351 different stories, each as a
    title (its reference summary) and a summary (its first three sentences), none grouped;
    the same text carried by a second outlet under its own headline, without its last
    sentence, is grouped with the first."""
    rows = [json.loads(line) for line in
            (corpus_or_skip() / "summaries.jsonl").read_text(encoding="utf-8").splitlines()]

    def lead(text: str, sentences: int) -> str:
        return " ".join(re.split(r"(?<=[.!?])\s+", " ".join(text.split()))[:sentences])

    stories = [brief(f"s{i}", {"en": row["summary"]}, {"en": lead(row["article"], 3)},
                     f"o{i}/x.json", f"https://outlet{i}.example/news/{i}", "2026-11-27")
               for i, row in enumerate(rows)]
    assert len(digest_entries(stories)) == len(rows) == 351
    words = [similarity_words(b) for b in stories]
    # each story is like itself alone
    assert all(int((similarities(w, words) >= SIMILAR).sum()) == 1 for w in words)
    copies = [brief(f"c{i}", {"en": f"Latest: {' '.join(row['summary'].split()[:6])}"},
                    {"en": lead(row["article"], 2)}, f"wire{i}/x.json",
                    f"https://wire{i}.example/world/{i}", "2026-11-28")
              for i, row in enumerate(rows[:40]) if len(lead(row["article"], 3).split()) > 40]
    entries = digest_entries(stories + copies)
    grouped = {e.lead.article_id: [o.article_id for o in e.others] for e in entries}
    assert len(entries) == len(rows)
    assert all(grouped[copy["article_id"].replace("c", "s")] == [copy["article_id"]]
               for copy in copies)


def write_night(dest: Path, briefs: list[dict[str, Any]], monkeypatch) -> dict[str, Any]:
    """The flow's own step: every digest of the run and the manifest, into a local folder."""
    from briefs.tasks import steps
    from briefs.tasks.core.config import load_config

    monkeypatch.setattr(steps, "get_run_logger", lambda: logging.getLogger("tests"))
    config = load_config("tiny").model_copy(update={"languages": ["de", "fr"]})
    from briefs.tasks.output.run_outputs import RunRecord

    return steps.write_digests_and_manifest.fn(str(dest), config, RunRecord(
        run_id="night-2026-11-27", started_at="2026-11-27T02:00:00+00:00", parameters={},
        timings={}, written=briefs[:-1], reused=briefs[-1:], unbriefed=[]))


def test_write_digests_and_manifest_links_every_language_of_the_run(tmp_path, monkeypatch):
    briefs = [b | {"warnings": [w for w in b["warnings"] if isinstance(w, dict)]}
              for b in night()]  # the manifest counts warnings by code
    write_night(tmp_path, briefs, monkeypatch)
    assert sorted(p.name for p in (tmp_path / "digests").iterdir()) == [
        f"{lang}.{ext}" for lang in ("de", "en", "fr") for ext in ("html", "md")]
    for lang in ("de", "en", "fr"):
        page = (tmp_path / "digests" / f"{lang}.html").read_text()
        assert re.findall(r'<a href="(\w+)\.html" hreflang', page) == ["en", "de", "fr"]
        assert re.findall(r'<a href="(\w+)\.html"[^>]* aria-current="page"', page) == [lang]
    english = (tmp_path / "digests" / "en.md").read_text()
    assert english.count("### ") == 5 and "Also reported by:" in english
    assert digest_night_line(english) == "English · 6 briefs in 5 stories"
    assert digest_footer(english) == "Run night-2026-11-27"


# The browser test: the HTML digest as a phone shows it.

PHONE = {"width": 390, "height": 844}


def corpus_night() -> dict[str, bytes]:
    """Thirty corpus articles as a night's producers drop them: BBC stories as hard-wrapped
    text without a title line in the outlet's folder (as its producer names it) and four in
    a feed, CNN's as JSON records with a headline and a time."""
    import textwrap

    from tests.corpus_sample import summaries

    rows = summaries(corpus_or_skip(), 351)
    bbc = [r for r in rows if r["id"].startswith("xsum-") and re.match(
        r"[A-Z][^\n]{40,}[.]\n", r["article"]) and "Last updated" not in r["article"][:80]]
    cnn = [r for r in rows if r["id"].startswith("cnn-")]
    objects = {f"BBC News/{r['id']}.txt": "\n\n".join(
        textwrap.fill(p, 72) for p in r["article"].split("\n") if p.strip()).encode()
        for r in bbc[:20]}
    objects["BBC News/feed.jsonl"] = "\n".join(
        json.dumps({"id": r["id"], "text": r["article"]}) for r in bbc[20:24]).encode()
    objects |= {f"CNN/{r['id'][:16]}.json": json.dumps(
        {"id": r["id"], "title": r["summary"].split("\n")[0], "body": r["article"],
         "published": f"2026-11-27T0{n}:15:00Z"}).encode() for n, r in enumerate(cnn[:6])}
    return objects


@pytest.mark.timeout(300)  # measured 25 s, 15 of them briefing the corpus night
def test_an_editor_reads_the_digest_on_a_phone(tmp_path, monkeypatch):
    chromium = shutil.which("chromium")
    if chromium is None:
        missing("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    from tests.helpers import CHROMIUM_FLAGS, brief_locally

    briefs = [b | {"warnings": [w for w in b["warnings"] if isinstance(w, dict)]}
              for b in night()]
    write_night(tmp_path, briefs, monkeypatch)
    source, dest = tmp_path / "news-in" / "2026-11-27", tmp_path / "corpus-night"
    manifest = brief_locally(source, dest, corpus_night(), ["de"])
    assert manifest["counts"]["succeeded"] == 30, [
        a for a in manifest["articles"] if a["status"] != "succeeded"]
    assert manifest["warnings"]["control_characters"]  # what the tiny summarizer generated
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS,
                                             headless=True)
        try:
            page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            read_the_hand_made_night(page, tmp_path / "digests", briefs)
            read_the_corpus_night(page, dest / "digests", tmp_path)
        finally:
            browser.close()
    assert dialogs == []


def read_the_hand_made_night(page, digests: Path, briefs: list[dict[str, Any]]) -> None:
    """Every title and link of the hand-made night, grouped and escaped; then German."""
    page.goto((digests / "en.html").as_uri())
    text = page.locator("body").inner_text()
    english = [b for b in briefs if "en" in b["summaries"]]
    for b in english:  # every title shown, as written
        assert b["title"]["en"] in text, b["title"]["en"]
        assert page.get_by_text(b["title"]["en"], exact=True).is_visible()
        url = b["source"].get("url", "")
        if url.startswith("https://"):  # every original link, opened apart
            link = page.locator(f'a[href="{url}"]')
            assert link.count() == 1 and link.get_attribute("rel") == "noopener"
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.get_by_text("lemonde/2026-11-27/greve.json").is_visible()
    # the story from two outlets: one entry, under the BBC, with the Guardian's link
    storm = page.locator("section").filter(
        has=page.get_by_role("heading", name="bbc.co.uk")).locator("article").filter(
        has_text="theguardian.com")
    assert storm.count() == 1
    assert storm.locator("a[href*='bbc.co.uk'], a[href*='theguardian.com']").count() == 2
    # no markup or entity shows but what the hostile title itself says
    assert text.count("<script") == 1 and "<script>alert(1)</script>" in text
    assert "&lt;" not in text and "&gt;" not in text and text.count("&amp;") == 1
    assert "a model has <random> weights" not in text  # folded: a marker, until opened
    page.get_by_text("⚠ 1 warning", exact=True).click()
    assert page.get_by_text("random_weights: a model has <random> weights").is_visible()
    assert page.locator("script").count() == 0
    assert page.evaluate(WIDTH) <= PHONE["width"]  # no sideways scrolling

    page.get_by_role("navigation", name="Languages").get_by_role("link", name="German").click()
    page.wait_for_url(re.compile(r"/digests/de\.html$"))
    german = page.locator("body").inner_text()
    for b in english:
        if "de" in b["title"]:
            assert b["title"]["de"] in german, b["title"]["de"]
    assert "Transport strike" not in german and "Storm Bert cuts" not in german
    current = page.locator('nav a[aria-current="page"]')
    assert current.inner_text() == "German" and page.evaluate(WIDTH) <= PHONE["width"]
    assert page.evaluate("document.documentElement.lang") == "de"


def read_the_corpus_night(page, digests: Path, tmp_path: Path) -> None:
    """The night of thirty corpus articles briefed by the tiny models: the night in the
    heading, the warnings counted at the top and folded under each brief, no control
    character anywhere; saved as the docs' picture."""
    from tests.helpers import screenshots

    assert non_printing_in((digests / "en.html").read_text(encoding="utf-8")) == []
    page.goto((digests / "en.html").as_uri())
    assert non_printing_in(page.locator("body").inner_text()) == []
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Night of Friday 27 November 2026")
    assert re.fullmatch(r"English · 30 briefs in \d+ stories",
                        page.locator("p.night").inner_text())
    assert re.fullmatch(r"Source: /.+/news-in/2026-11-27/",
                        page.locator("header p.source").inner_text())
    codes = page.get_by_role("list", name="Warnings by code").inner_text()
    assert f"× control_characters: {CODES['control_characters']}" in codes
    assert [h.inner_text() for h in page.locator("h2").all()] == ["BBC News", "CNN"]
    folded = page.locator("article details.warnings")
    assert folded.count() == 30 and page.locator("details[open]").count() == 0
    first = folded.first
    assert first.locator("summary").is_visible() and not first.locator("li").first.is_visible()
    first.locator("summary").click()
    assert first.get_attribute("open") is not None
    assert first.get_by_text(re.compile(r"^control_characters: summary 'en': ")).is_visible()
    assert page.evaluate(WIDTH) <= PHONE["width"]
    page.screenshot(path=screenshots(tmp_path) / "digest-phone.png")


WIDTH = "document.documentElement.scrollWidth"
