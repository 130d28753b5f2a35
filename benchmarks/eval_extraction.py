"""HTML main-text extraction against the corpus's expected texts: ours against trafilatura's.

    .venv/bin/python benchmarks/eval_extraction.py [--set english|nonenglish|all] [--json FILE]
                                                                          (make eval-extraction)

Pages, from ../shared/corpus (or $BRIEFS_CORPUS):
- html/newspaper-tests: 45 English pages, html/NAME.html and the expected text text/NAME.txt;
- html/mozilla-readability-test-pages: 22 pages, DIR/source.html, and DIR/expected.html (the
  cleaned article) whose text is the expected text;
- nonenglish/newspaper-tests-nonenglish: html/*.html and the expected text in text/ (the files
  newspaper's own tests compare with; body_text/ holds an older Spanish copy, and French has
  no expected text, so it is left out).

Each page is extracted (a) by the project, through the code the pipeline runs
(`ingest.articles.parse_object`; a page it refuses counts as empty text, F1 0), and (b) by
trafilatura with its default settings, `trafilatura.extract(html)`. Scores are bag-of-words
token precision, recall and F1 (tasks/quality/extraction_score.py); means are per set, the 67 pages
of the two English sets together. Run it as a script, not with -m: an installed package
named `benchmarks` would shadow this folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `tasks` from this checkout, whatever the working directory

from briefs.tasks.core.config import LimitsConfig  # noqa: E402
from briefs.tasks.core.records import Article  # noqa: E402
from briefs.tasks.ingest.articles import RawObject, parse_object  # noqa: E402
from briefs.tasks.quality.extraction_score import score  # noqa: E402

CORPUS = Path(os.environ.get("BRIEFS_CORPUS", REPO.parent / "shared" / "corpus"))
NEWSPAPER = Path("html/newspaper-tests")
READABILITY = Path("html/mozilla-readability-test-pages")
NONENGLISH = Path("nonenglish/newspaper-tests-nonenglish")
NEWSPAPER_TEXTS = {"cnn_article": "cnn"}  # page → expected text, where the names differ
# non-English page → (expected text file, language); french_article.html has no expected text
NONENGLISH_PAGES = {
    "arabic_article": ("arabic", "ar"), "chinese_article": ("chinese", "zh"),
    "huffingtonpost.de1": ("huffingtonpost.de1", "de"),
    "huffingtonpost.de2": ("huffingtonpost.de2", "de"),
    "japanese_article": ("japanese", "ja"), "japanese_article2": ("japanese2", "ja"),
    "latvian_article": ("latvian", "lv"), "spanish_article": ("spanish", "es"),
    "thai_article": ("thai", "th"), "vogue.de1": ("vogue.de1", "de"),
    "vogue.de2": ("vogue.de2", "de"),
}
# Pages whose "expected text" is no article text: no extractor can score on them. They stay in
# the means the issue asks for; the means "without them" leave them out.
NOT_A_REFERENCE = {
    "bostonherald.com1": "reference is a tester's note (MISSED TINY PARAGRAPH...)",
    "dailystar.co.uk1": "reference is a tester's note (ONLY EXTRACTS ARTICLE...)",
    "theatlantic.com1": "reference is a tester's note (MISSES SECOND HALF...)",
    "huffingtonpost.de1": "a section page; reference is leftover template code",
    "huffingtonpost.de2": "a section page; reference is one teaser",
}
BLOCK_TAGS = frozenset(("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                        "blockquote", "pre", "table", "tr", "td", "th", "figure", "figcaption",
                        "section", "article", "header", "footer", "dd", "dt", "hr"))


@dataclass
class Page:
    group: str  # english | nonenglish
    subset: str  # newspaper | readability | nonenglish
    name: str
    language: str
    source: Path
    expected: str


@dataclass
class Row:
    group: str
    subset: str
    page: str
    language: str
    precision: float
    recall: float
    f1: float
    ms: float
    trafilatura_precision: float
    trafilatura_recall: float
    trafilatura_f1: float
    trafilatura_ms: float
    failure: str | None
    declared_language: str | None


def html_text(html: str) -> str:
    """The visible text of a cleaned article page, a line break around every block element."""
    import lxml.html

    root = lxml.html.fromstring(html)
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
            element.text = "\n" + (element.text or "")
    return root.text_content()


def load_pages(corpus: Path, which: str) -> list[Page]:
    pages: list[Page] = []
    if which in ("english", "all"):
        for source in sorted((corpus / NEWSPAPER / "html").glob("*.html")):
            text_name = NEWSPAPER_TEXTS.get(source.stem, source.stem)
            expected = corpus / NEWSPAPER / "text" / f"{text_name}.txt"
            pages.append(Page("english", "newspaper", source.stem, "en", source,
                              expected.read_text(encoding="utf-8")))
        for folder in sorted(p for p in (corpus / READABILITY).iterdir() if p.is_dir()):
            expected = (folder / "expected.html").read_text(encoding="utf-8")
            pages.append(Page("english", "readability", folder.name, "en",
                              folder / "source.html", html_text(expected)))
    if which in ("nonenglish", "all"):
        for name, (text_name, language) in NONENGLISH_PAGES.items():
            source = corpus / NONENGLISH / "html" / f"{name}.html"
            expected = corpus / NONENGLISH / "text" / f"{text_name}.txt"
            pages.append(Page("nonenglish", "nonenglish", name, language, source,
                              expected.read_text(encoding="utf-8")))
    return pages


def ours(page: Page, data: bytes) -> tuple[str, str | None, str | None]:
    """The project's text for a page, the failure reason if it refused it, and the declared
    language it found."""
    raw = RawObject(f"{page.subset}/{page.name}.html", page.source.as_uri(), data, None)
    result = parse_object(raw, LimitsConfig())[0]
    if isinstance(result, Article):
        return result.text, None, result.declared_language
    return "", result.reason, None


def evaluate(page: Page) -> Row:
    import trafilatura

    data = page.source.read_bytes()
    started = time.perf_counter()
    text, failure, declared = ours(page, data)
    ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    reference = trafilatura.extract(data) or ""
    trafilatura_ms = (time.perf_counter() - started) * 1000
    mine, theirs = score(text, page.expected), score(reference, page.expected)
    return Row(page.group, page.subset, page.name, page.language, *mine, ms, *theirs,
               trafilatura_ms, failure, declared)


def means(rows: list[Row]) -> dict[str, float]:
    fields = ("precision", "recall", "f1", "ms", "trafilatura_precision", "trafilatura_recall",
              "trafilatura_f1", "trafilatura_ms")
    return {name: statistics.fmean(getattr(row, name) for row in rows) for name in fields}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=("english", "nonenglish", "all"), default="all")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        raise SystemExit(f"the shared corpus is absent (looked in {CORPUS}); "
                         "set BRIEFS_CORPUS to its folder")
    logging.disable(logging.WARNING)  # trafilatura logs every page it discards
    warnings.simplefilter("ignore")  # dateutil warns of time zone names on some pages
    rows = [evaluate(page) for page in load_pages(CORPUS, args.set)]

    print(f"{'set':<12}{'page':<28}{'lang':<5}{'P':>6}{'R':>6}{'F1':>6}{'traf F1':>9}"
          f"{'ms':>7}{'traf ms':>9}  note")
    for row in rows:
        notes = [f"declared {row.declared_language}"] if row.group == "nonenglish" else []
        notes += [f"refused: {row.failure}"] if row.failure else []
        notes += [NOT_A_REFERENCE[row.page]] if row.page in NOT_A_REFERENCE else []
        note = "; ".join(notes)
        print(f"{row.subset:<12}{row.page[:27]:<28}{row.language:<5}{row.precision:6.3f}"
              f"{row.recall:6.3f}{row.f1:6.3f}{row.trafilatura_f1:9.3f}{row.ms:7.0f}"
              f"{row.trafilatura_ms:9.0f}  {note}")
    summary: dict[str, dict[str, float]] = {}
    groups = {"english": [r for r in rows if r.group == "english"],
              "english/newspaper": [r for r in rows if r.subset == "newspaper"],
              "english/readability": [r for r in rows if r.subset == "readability"],
              "nonenglish": [r for r in rows if r.group == "nonenglish"]}
    for name in ("english", "nonenglish"):
        groups[f"{name} without notes"] = [r for r in groups[name]
                                           if r.page not in NOT_A_REFERENCE]
    print(f"\n{'means':<26}{'pages':>6}{'P':>7}{'R':>7}{'F1':>7}{'traf P':>8}{'traf R':>8}"
          f"{'traf F1':>9}{'ms':>7}{'traf ms':>9}")
    for name, members in groups.items():
        if not members:
            continue
        summary[name] = {"pages": len(members), **means(members)}
        m = summary[name]
        print(f"{name:<26}{len(members):>6}{m['precision']:7.3f}{m['recall']:7.3f}{m['f1']:7.3f}"
              f"{m['trafilatura_precision']:8.3f}{m['trafilatura_recall']:8.3f}"
              f"{m['trafilatura_f1']:9.3f}{m['ms']:7.0f}{m['trafilatura_ms']:9.0f}")
    if args.json:
        args.json.write_text(json.dumps({"means": summary, "pages": [asdict(r) for r in rows]},
                                        indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
