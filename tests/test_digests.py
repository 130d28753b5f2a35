"""The per-language digests as editors read them: order, near-duplicates grouped, escaping,
the language switcher; the HTML page rendered in headless Chromium at a phone's width."""

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
    digest_entries,
    entries_in,
    outlet_and_section,
    parse_published,
    similarities,
    similarity_words,
)
from briefs.tasks.output.documents import digest_html, digest_markdown
from tests.conftest import corpus_or_skip, missing

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
    assert outlet_and_section(None, "x.json") == ("other", None)


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
        "paris-strike", "council-bikes", "reuters-markets", "no-outlet"]  # "other" last
    assert [e.lead.outlet for e in entries] == ["bbc.co.uk"] * 4 + [
        "lemonde", "local", "reuters.com", "other"]


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
    assert "Languages: **English** · [German](de.md) · [French](fr.md)" in markdown
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == ["bbc.co.uk", "lemonde", "local", "reuters.com"]
    assert markdown.index("Budget: what it means") < markdown.index("Storm Bert: 30,000")
    assert ("- theguardian.com: [Storm Bert cuts power to 30,000 homes]"
            "(<https://www.theguardian.com/uk-news/2026/nov/27/storm-bert>)") in markdown
    assert "<script>" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "Tom &amp;amp; Jerry" in markdown  # the title's own "&amp;" shows as written
    assert "⚠ random\\_weights: a model has &lt;random&gt; weights" in markdown
    assert "⚠ an old plain warning" in markdown
    assert "javascript:" not in markdown and "<sub>lemonde/2026-11-27/greve.json</sub>" in markdown
    assert "s3://" not in markdown  # the storage URI is not what editors need


def test_html_digest_is_one_escaped_page_with_a_language_switcher():
    page = digest_html("de", digest_entries(night()), "run-1", LANGUAGES)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "url(" not in page and "@import" not in page  # nothing loaded from elsewhere
    assert ("&lt;script&gt;alert(1)&lt;/script&gt;" in page
            and "Tom &amp;amp; Jerry" in page)
    assert "&lt;random&gt;" in page  # warnings show in every digest
    assert re.findall(r'<a href="(\w+)\.html"[^>]*?( aria-current="page")?>(\w+)</a>', page) == [
        ("en", "", "English"), ("de", ' aria-current="page"', "German"), ("fr", "", "French")]
    assert ('<a href="https://www.theguardian.com/uk-news/2026/nov/27/storm-bert" '
            'rel="noopener">Sturm Bert legt den Strom lahm</a>') in page
    assert "Transport strike" not in page  # no German: not in the German digest
    english = digest_html("en", digest_entries(night()), "run-1", LANGUAGES)
    assert "javascript:" not in english and "lemonde/2026-11-27/greve.json" in english


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


# The browser test: the HTML digest as a phone shows it.

PHONE = {"width": 390, "height": 844}


@pytest.mark.timeout(180)  # measured 4 s
def test_an_editor_reads_the_digest_on_a_phone(tmp_path, monkeypatch):
    chromium = shutil.which("chromium")
    if chromium is None:
        missing("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    from tests.test_deployment import CHROMIUM_FLAGS, screenshots

    briefs = [b | {"warnings": [w for w in b["warnings"] if isinstance(w, dict)]}
              for b in night()]
    write_night(tmp_path, briefs, monkeypatch)
    english = [b for b in briefs if "en" in b["summaries"]]
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS,
                                             headless=True)
        try:
            page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto((tmp_path / "digests" / "en.html").as_uri())
            text = page.locator("body").inner_text()
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
            assert "a model has <random> weights" in text
            assert page.locator("script").count() == 0 and dialogs == []
            width = "document.documentElement.scrollWidth"
            assert page.evaluate(width) <= PHONE["width"]  # no sideways scrolling
            page.screenshot(path=screenshots(tmp_path) / "digest-phone.png", full_page=True)

            page.get_by_role("navigation", name="Languages").get_by_role(
                "link", name="German").click()
            page.wait_for_url(re.compile(r"/digests/de\.html$"))
            german = page.locator("body").inner_text()
            for b in english:
                if "de" in b["title"]:
                    assert b["title"]["de"] in german, b["title"]["de"]
            assert "Transport strike" not in german and "Storm Bert cuts" not in german
            current = page.locator('nav a[aria-current="page"]')
            assert current.inner_text() == "German" and page.evaluate(width) <= PHONE["width"]
            assert page.evaluate("document.documentElement.lang") == "de"
        finally:
            browser.close()
