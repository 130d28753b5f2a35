"""Raw object bytes → articles: formats, decoding, titles, stable ids, limits."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import json
import re
import time
import unicodedata
import zlib
from dataclasses import dataclass
from itertools import takewhile
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from briefs.tasks.core.config import LimitsConfig
from briefs.tasks.core.records import Article, Failure, Source
from briefs.tasks.ingest.source_language import language_code
from briefs.tasks.ingest.text import MARKDOWN_HEADING, SENTENCE_END, WRAP_LOOKAHEAD_LINES, runs_on
from briefs.tasks.ingest.text import words as text_words

if TYPE_CHECKING:
    from lxml.html import HtmlElement

SUPPORTED_SUFFIXES = (".txt", ".md", ".json", ".jsonl", ".html", ".htm")
BODY_FIELDS = ("body", "text", "content")
TITLE_MAX_CHARS = 200
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))


class ParseError(ValueError):
    """Input that cannot become an article; the message is the reason shown to users."""


@dataclass(frozen=True)
class RawObject:
    key: str
    uri: str
    data: bytes
    etag: str | None = None


def input_format(key: str) -> str | None:
    """`txt`, `md`, `json`, `jsonl` or `html` for a supported key (optionally `.gz`), else None."""
    name = key.lower().removesuffix(".gz")
    for suffix in SUPPORTED_SUFFIXES:
        if name.endswith(suffix):
            return "html" if suffix == ".htm" else suffix[1:]
    return None


class RecordRef(NamedTuple):
    """A record's own name: its non-empty `id` (string or number), else its `url`."""

    field: str
    value: str


def record_ref(record: object) -> RecordRef | None:
    """The record's `id`, else its `url`; None for a record with neither (or not a dict)."""
    if not isinstance(record, dict):
        return None
    record_id, url = record.get("id"), record.get("url")
    if isinstance(record_id, int | float) and not isinstance(record_id, bool):
        return RecordRef("id", str(record_id))
    for field_name, value in (("id", record_id), ("url", url)):
        if isinstance(value, str) and value.strip():
            return RecordRef(field_name, value.strip())
    return None


def article_id_for(key: str, line: int | None = None, ref: RecordRef | None = None) -> str:
    """A stable id, safe as a file name: a readable slug plus a short hash.

    Named by the record's own id or URL (`ref`) when it has one, so that moving lines in a feed
    keeps it, hashed with the key so that feeds do not collide; else by the key (and JSONL line).
    """
    if ref is not None:
        readable = ref.value if ref.field == "id" else _url_name(ref.value)
        return _named_id(readable, f"{key}#{ref.field}={ref.value}")
    if line is not None:
        return _named_id(_stem(key), f"{key}#{line}", suffix=f"-l{line}")
    return _named_id(_stem(key), key)


def _named_id(readable: str, unique: str, suffix: str = "") -> str:
    """`<slug><suffix>-<hash>`: the ASCII slug of `readable`'s end, 10 hex digits of `unique`."""
    ascii_text = unicodedata.normalize("NFKD", readable).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[-60:].strip("-")
    digest = hashlib.sha256(unique.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug or 'article'}{suffix}-{digest}"


def _stem(name: str) -> str:
    """A key or URL path without `.gz` and its format suffix."""
    stem = re.sub(r"(\.gz)?$", "", name, flags=re.I)
    return re.sub(r"\.(txt|md|jsonl?|html?)$", "", stem, flags=re.I)


def _url_name(url: str) -> str:
    """The readable part of a URL: its path without a format suffix, else its host."""
    parts = urlsplit(url)
    return _stem(parts.path.strip("/")) or parts.netloc


RATIO_FLOOR_BYTES = 1_000_000  # small files may compress very well; bombs are big


def inflate(data: bytes, limit: int, limit_name: str, max_ratio: int) -> bytes:
    """Gunzip every member, stopping as soon as the output passes `limit` bytes or `max_ratio` ×
    the input.

    A gzip bomb fails fast with a reason, never by running out of memory; a stream cut short
    (a partial upload) fails instead of yielding the part that inflated.
    """
    by_ratio = max(max_ratio * len(data), RATIO_FLOOR_BYTES)
    cap = min(limit, by_ratio)
    try:
        out = gzip.GzipFile(fileobj=io.BytesIO(data)).read(cap + 1)
    except EOFError:
        raise ParseError("gzip stream ends early: the object is incomplete") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise ParseError(f"not valid gzip data ({exc})") from None
    if len(out) > cap:
        if cap == limit:
            raise ParseError(f"inflates to more than the {limit}-byte limit ({limit_name})")
        raise ParseError(f"inflates more than {max_ratio} times its {len(data)} compressed bytes "
                         "(limits.max_inflate_ratio): a likely gzip bomb")
    return out


def decode_text(data: bytes) -> str:
    """Bytes → text: BOM first, then UTF-8, then the charset the document declares (an HTML
    page's `<meta charset>`), then charset detection; binary is refused."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace").replace("\r\n", "\n")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _decode_declared(data)
        if text is None:
            from charset_normalizer import from_bytes

            best = from_bytes(data).best()
            if best is None:
                raise ParseError("binary data, not text in any known encoding") from None
            text = str(best)
    if "\x00" in text:
        raise ParseError("contains NUL bytes: binary data, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_title(text: str) -> tuple[str, str]:
    """The first line is the title when it stands alone; the rest is the body."""
    first, _, rest = text.strip().partition("\n")
    title = first.strip().lstrip("#").strip()
    if title and rest.strip() and len(title) <= TITLE_MAX_CHARS and _stands_alone(first, rest):
        return title, rest.strip()
    return "", text.strip()


def _stands_alone(first: str, rest: str) -> bool:
    """A Markdown heading; else a line without a sentence end that has a blank line after it or
    does not run on into the next line."""
    if MARKDOWN_HEADING.match(first):
        return True
    if SENTENCE_END.search(first.rstrip()):
        return False
    following = [line.strip() for line in takewhile(str.strip, rest.split("\n"))]
    return not following or not runs_on(first.strip(), following[:WRAP_LOOKAHEAD_LINES])


def parse_object(raw: RawObject, limits: LimitsConfig) -> list[Article | Failure]:
    """Every article in one input object, or failures that say why not."""
    fmt = input_format(raw.key)
    started = time.perf_counter()
    try:
        if fmt is None:
            expected = ", ".join(SUPPORTED_SUFFIXES)
            raise ParseError(f"unsupported file type; expected one of {expected} (optionally .gz)")
        limit, limit_name = ((limits.max_object_bytes, "limits.max_object_bytes") if fmt == "jsonl"
                             else (limits.max_article_bytes, "limits.max_article_bytes"))
        check_size(len(raw.data), limit, limit_name)
        data = raw.data
        if raw.key.lower().endswith(".gz"):
            data = inflate(raw.data, limit, limit_name, limits.max_inflate_ratio)
        if fmt == "jsonl":
            check_lines(data.count(b"\n") + (not data.endswith(b"\n")), limits.max_feed_lines)
            return _parse_jsonl(raw, data, limits)
        source = Source(uri=raw.uri, key=raw.key, format=fmt,
                        sha256=hashlib.sha256(raw.data).hexdigest(), etag=raw.etag)
        article = _checked(_parse_single(fmt, data, raw, source), limits)
    except ParseError as exc:
        return [Failure(article_id_for(raw.key), raw.uri, str(exc))]
    article.parse_ms = int((time.perf_counter() - started) * 1000)
    return [article]


def check_size(size: int, limit: int, limit_name: str) -> None:
    """Refuse input over a byte limit, naming the limit to raise."""
    if size > limit:
        raise ParseError(f"{size} bytes exceed the {limit}-byte limit ({limit_name})")


def check_lines(lines: int, limit: int) -> None:
    """Refuse a feed of more lines than the limit, before any line is parsed."""
    if lines > limit:
        raise ParseError(f"{lines} lines exceed the {limit}-line limit (limits.max_feed_lines)")


def load_json(text: str, where: str = "") -> object:
    """The JSON value in `text`; malformed or too deeply nested JSON is a ParseError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{where}malformed JSON: {exc}") from None
    except RecursionError:
        raise ParseError(f"{where}JSON nested too deeply to read") from None


def _parse_single(fmt: str, data: bytes, raw: RawObject, source: Source) -> Article:
    text = decode_text(data)
    if fmt == "html":
        return _from_html(text, raw, source)
    if fmt == "json":
        record = load_json(text)
        return _from_record(record, article_id_for(raw.key, ref=record_ref(record)), source)
    title, body = split_title(text)
    return Article(article_id_for(raw.key), source, title, body)


def _parse_jsonl(raw: RawObject, data: bytes, limits: LimitsConfig) -> list[Article | Failure]:
    results: list[Article | Failure] = []
    first_lines: dict[str, int] = {}  # article id → the line that has it
    for number, line in enumerate(decode_text(data).split("\n"), start=1):
        if not line.strip():
            continue
        source = Source(uri=f"{raw.uri}#L{number}", key=raw.key, format="jsonl",
                        sha256=hashlib.sha256(line.encode()).hexdigest(), etag=raw.etag,
                        line=number)
        line_id = article_id_for(raw.key, number)  # failures are named by their line
        try:
            check_size(len(line.encode()), limits.max_article_bytes, "limits.max_article_bytes")
            record = load_json(line, f"line {number}: ")
            article_id = _claim_id(raw.key, record, number, first_lines)
            results.append(_checked(_from_record(record, article_id, source), limits))
        except ParseError as exc:
            results.append(Failure(line_id, source.uri, str(exc)))
    if not results:
        results.append(Failure(article_id_for(raw.key), raw.uri, "empty JSONL file"))
    return results


def _claim_id(key: str, record: object, line: int, first_lines: dict[str, int]) -> str:
    """The article id of a feed's line; an id or URL that an earlier line has is a ParseError."""
    ref = record_ref(record)
    article_id = article_id_for(key, line, ref)
    if ref is not None and article_id in first_lines:
        raise ParseError(f"line {line}: duplicate {ref.field} {ref.value!r} "
                         f"(first on line {first_lines[article_id]})")
    first_lines[article_id] = line
    return article_id


def _from_record(record: object, article_id: str, source: Source) -> Article:
    if not isinstance(record, dict):
        raise ParseError(f"JSON must be an object with a body, not {type(record).__name__}")
    field_name = next((name for name in BODY_FIELDS if name in record), None)
    if field_name is None:
        raise ParseError(f"JSON has no body field (one of {', '.join(BODY_FIELDS)})")
    body = record[field_name]
    if not isinstance(body, str):
        raise ParseError(f"JSON field {field_name!r} must be a string, not {type(body).__name__}")
    title = record.get("title")
    language = record.get("language")
    return Article(
        article_id, source, _valid_unicode(title) if isinstance(title, str) else "",
        _valid_unicode(body), declared_language=language if isinstance(language, str) else None,
        url=_optional_str(record.get("url")), published=_optional_str(record.get("published")),
    )


def _valid_unicode(text: str) -> str:
    """JSON may hold lone surrogates (\\ud800): replace them so every output stays valid."""
    return text.encode("utf-8", "replace").decode("utf-8").strip()


# precision-mode text under this share of the balanced mode's (in words) has lost the article
PRECISION_MIN_SHARE = 0.3
VISIBLE_TEXT = ("//body//text()[not(ancestor::script) and not(ancestor::style) "
                "and not(ancestor::noscript)]")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _from_html(html: str, raw: RawObject, source: Source) -> Article:
    """The page's main text, title, URL, date and declared language.

    trafilatura in precision mode first: it leaves out more of a page's related links, reader
    comments and notices (benchmarks/eval_extraction.py). Where it keeps under
    PRECISION_MIN_SHARE of the words that the balanced mode finds, it has lost the article
    itself, and the balanced text is used. Comments are left out; tables are kept (some pages
    lay their text out in them).
    """
    import trafilatura

    tree = trafilatura.load_html(html)
    if tree is None:  # nothing a parser can read: no main text
        return Article(article_id_for(raw.key), source, "", "")
    precise = trafilatura.bare_extraction(tree, favor_precision=True, with_metadata=True,
                                          include_comments=False)
    text, meta = _document_text(precise), precise
    # The balanced text is part of the page's text: a precise text that has a large enough
    # share of the latter needs no balanced run (most pages).
    kept = len(text_words(text))
    if kept < PRECISION_MIN_SHARE * len(text_words(" ".join(tree.xpath(VISIBLE_TEXT)))):
        balanced = trafilatura.bare_extraction(tree, with_metadata=precise is None,
                                               include_comments=False)
        if kept < PRECISION_MIN_SHARE * len(text_words(_document_text(balanced))):
            text = _document_text(balanced)
        meta = precise if precise is not None else balanced
    return Article(
        article_id_for(raw.key), source, (getattr(meta, "title", None) or "").strip(), text,
        declared_language=_declared_language(tree), url=getattr(meta, "url", None),
        published=getattr(meta, "date", None),
    )


def _document_text(document: object) -> str:
    return (getattr(document, "text", None) or "").strip()


def _declared_language(tree: HtmlElement) -> str | None:
    """The ISO 639-1 code of the page's `<html lang>` (else `xml:lang`, else a
    Content-Language meta tag), read by langcodes: `en-US` → `en`, `zh-Hans` → `zh`."""
    root = tree.getroottree().getroot()
    candidates = [root.get("lang"), root.get("xml:lang"), root.get(XML_LANG)]
    candidates += root.xpath("//meta[translate(@http-equiv, 'CONTENT-LANGUAGE', "
                             "'content-language')='content-language']/@content")
    return next(filter(None, (language_code((value or "").strip()) for value in candidates)),
                None)


def _decode_declared(data: bytes) -> str | None:
    """Text in the charset an HTML page declares in its first bytes (`<meta charset>`,
    http-equiv Content-Type, an XML declaration), read as browsers read it (ISO-8859-1 as
    windows-1252, Shift_JIS as cp932...: w3lib's WHATWG mapping); None without a usable
    declaration or when the bytes are not in that charset."""
    from w3lib.encoding import html_body_declared_encoding, resolve_encoding

    declared = html_body_declared_encoding(data)
    codec = resolve_encoding(declared) if declared else None
    if codec is None or codec.startswith(("utf-16", "utf-32")):  # no BOM: not UTF-16
        return None
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _checked(article: Article, limits: LimitsConfig) -> Article:
    words = len(text_words(article.text))  # Chinese, Japanese, Thai: characters
    where = "no main text found in the HTML page: " if article.source.format == "html" else ""
    if words == 0:
        raise ParseError(f"{where}empty article: no body text")
    if words < limits.min_article_words:
        raise ParseError(f"{where}only {words} words, fewer than limits.min_article_words "
                         f"({limits.min_article_words}): too short to summarize")
    return article


def _optional_str(value: object) -> str | None:
    return _valid_unicode(str(value)) if value not in (None, "") else None
