"""HTML main-text extraction: the token scores, and what the project extracts from real pages."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from briefs.tasks.core.config import LimitsConfig
from briefs.tasks.core.records import Article
from briefs.tasks.ingest.articles import RawObject, decode_text, parse_object
from briefs.tasks.quality.extraction_score import Score, score, tokens
from tests.helpers import corpus_or_skip

NONENGLISH = Path("nonenglish/newspaper-tests-nonenglish")
UTF8_DECLARATION = re.compile(rb"""charset=(["']?)utf-8""", re.I)


def test_tokens_are_lower_case_words_and_unspaced_scripts_by_character():
    assert tokens("The Council's 2026 budget, approved!") == [
        "the", "council", "s", "2026", "budget", "approved"]
    assert tokens("東京タワーは高い") == ["東", "京", "タ", "ワ", "ー", "は", "高", "い"]
    assert tokens("ภาษาไทย") == ["ภ", "า", "ษ", "า", "ไ", "ท", "ย"]
    assert tokens("iPhone15の価格 Zürich") == ["iphone15", "の", "価", "格", "zürich"]
    assert tokens(" -- ... !") == []


def test_score_counts_tokens_as_multisets():
    # extracted a a b, expected a b c: 2 tokens in common (a once, b once) of 3 each
    assert score("a a b", "a b c") == pytest.approx(Score(2 / 3, 2 / 3, 2 / 3))
    # all extracted tokens are right, but 2 of the 6 expected ones are found: F1 = 2PR/(P+R)
    assert score("the cat", "The cat sat on the mat.") == pytest.approx(Score(1, 1 / 3, 0.5))
    assert score("the the the", "the") == pytest.approx(Score(1 / 3, 1, 0.5))
    assert score("dog", "cat") == Score(0.0, 0.0, 0.0)


def test_score_splits_cjk_text_by_character():
    # 東京都 against 東京: 2 of 3 extracted characters are right, both expected ones found
    assert score("東京都", "東京") == pytest.approx(Score(2 / 3, 1, 0.8))


def test_score_of_empty_texts():
    assert score("", "") == Score(1.0, 1.0, 1.0)
    assert score("... !", "") == Score(1.0, 1.0, 1.0)  # no tokens on either side
    assert score("", "some text") == Score(0.0, 0.0, 0.0)
    assert score("some text", "") == Score(0.0, 0.0, 0.0)


def test_a_declared_legacy_charset_is_read_as_browsers_read_it():
    # pages labelled ISO-8859-1 are windows-1252 in practice: curly quotes and € in 0x80-0x9f
    page = '<html><head><meta charset="iso-8859-1"></head><p>“Zürich” costs 5 € – déjà.</p>'
    assert decode_text(page.encode("cp1252")) == page
    sjis = ("<html><head><meta http-equiv='Content-Type' content='text/html; charset=Shift_JIS'>"
            "</head><p>東京の天気は晴れです。①</p>")
    assert decode_text(sjis.encode("cp932")) == sjis


def test_a_wrong_charset_declaration_falls_back_to_detection():
    page = "<meta charset='utf-16'><p>Zürich plant neue Straßen für die Innenstadt.</p>"
    assert decode_text(page.encode("latin-1")) == page


@pytest.fixture
def corpus() -> Path:
    return corpus_or_skip()


def extract(path: Path, data: bytes | None = None) -> Article:
    data = path.read_bytes() if data is None else data
    [item] = parse_object(RawObject(f"pages/{path.name}", path.as_uri(), data), LimitsConfig())
    assert isinstance(item, Article), item
    return item


def test_german_page_main_text_title_and_declared_language(corpus: Path):
    article = extract(corpus / NONENGLISH / "html" / "vogue.de1.html")
    expected = (corpus / NONENGLISH / "text" / "vogue.de1.txt").read_text(encoding="utf-8")
    assert ("Im Design von Chanel-Nagellackfläschchen sind die iPhone-Cases von Iphoria der "
            "Hingucker bei jedem iPhone.") in article.text
    assert article.title == "Lieblingsstück: die Iphonehülle von Iphoria"
    assert article.declared_language == "de"  # <html lang="de">
    assert article.published == "2013-05-29"
    assert score(article.text, expected).f1 > 0.95


def test_html_lang_gives_the_primary_language_subtag(corpus: Path):
    article = extract(corpus / NONENGLISH / "html" / "chinese_article.html")
    assert article.declared_language == "zh"  # <html lang="zh-Hans">
    assert article.text.startswith("香港行政长官梁振英在各方压力下就其大宅的违章建筑")
    yahoo = extract(corpus / "html" / "mozilla-readability-test-pages" / "yahoo-4" / "source.html")
    assert yahoo.declared_language == "ja"


def test_reader_comments_are_left_out(corpus: Path):
    article = extract(corpus / NONENGLISH / "html" / "spanish_article.html")
    assert ("El fiscal Pedro Horrach está perfilando con el jefe de la Fiscalía Anticorrupción, "
            "Antonio Salinas, en Madrid") in article.text
    assert "Esta es la segunda ocasión en que el juez Castro imputa" in article.text
    assert "A mi lo que me despierta la curiosidad" not in article.text  # a reader's comment
    assert "Hace 2 horas" not in article.text  # the comments' times


def test_whole_article_kept_where_precision_mode_loses_it(corpus: Path):
    # trafilatura's precision mode keeps about 6% of this article; the balanced text is used
    folder = corpus / "html" / "mozilla-readability-test-pages" / "engadget"
    article = extract(folder / "source.html")
    expected = (folder / "expected.html").read_text(encoding="utf-8")
    assert score(article.text, html.unescape(re.sub(r"<[^>]+>", " ", expected))).recall > 0.95


@pytest.mark.parametrize(("page", "label", "codec"), [
    ("french_article", "iso-8859-1", "cp1252"),  # its ’ are 0x92 in windows-1252
    ("latvian_article", "windows-1257", "cp1257"),
    ("japanese_article2", "Shift_JIS", "cp932"),
])
def test_page_served_in_a_legacy_charset_reads_as_the_utf8_page(corpus: Path, page: str,
                                                                label: str, codec: str):
    # The corpus pages are all UTF-8: the same page as a server in `label` would send it
    # (characters outside the charset as character references), declared in its <meta> tags.
    path = corpus / NONENGLISH / "html" / f"{page}.html"
    original = extract(path)
    declared = UTF8_DECLARATION.sub(rb"charset=\g<1>" + label.encode(), path.read_bytes())
    assert declared != path.read_bytes()
    legacy = extract(path, declared.decode("utf-8").encode(codec, "xmlcharrefreplace"))
    assert (legacy.title, legacy.text) == (original.title, original.text)
    assert not re.search("[\x80-\x9f]", legacy.text)  # no C1 controls from a latin-1 reading


def test_japanese_article_is_not_refused_as_too_short(corpus: Path):
    # no spaces between words: limits.min_article_words counts its characters
    article = extract(corpus / NONENGLISH / "html" / "japanese_article.html")
    expected = (corpus / NONENGLISH / "text" / "japanese.txt").read_text(encoding="utf-8")
    assert article.text.startswith("６月12日の歴史的な米朝首脳会談を巡って戦っていたのは")
    assert article.declared_language == "ja"
    assert score(article.text, expected).f1 > 0.9
