"""What a digest shows and in which order: the night it covers, each brief's outlet, section,
date and warnings, the reader's order (outlet, newest first, title) and near-duplicate
stories from several outlets grouped.

Near-duplicates: the Dice coefficient of the English title and summary's word bags, at
`SIMILAR` or more (the threshold and how it was measured: docs/output.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from rapidfuzz import process, utils
from rapidfuzz.distance import Indel

from briefs.tasks.generation.targets import ENGLISH, ENGLISH_TARGET, TARGETS
from briefs.tasks.quality.cleaning import clean_shown
from briefs.tasks.quality.warnings import CODES, Notice, as_notice, step_notices

SIMILAR = 60.0  # word Dice coefficient at which two outlets' briefs are one story (see above)
UNKNOWN_OUTLET = "Other"
# a folder named by words (not a date, a number): "bbc", "BBC News", "bbc.co.uk", "Le Monde"
_WORD_FOLDER = re.compile(r"[^\W\d_][\w .&'\u2019-]*")
_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")


@dataclass(frozen=True)
class DigestItem:
    """One brief as a digest shows it."""

    brief: dict[str, Any]
    outlet: str
    section: str | None
    published: str | None  # as the source gives it
    when: datetime | None  # `published` parsed (aware, UTC when the source gives no zone)
    url: str | None  # the article's original http(s) URL

    @property
    def article_id(self) -> str:
        return self.brief["article_id"]

    @property
    def key(self) -> str:
        return self.brief["source"].get("key", "")

    def title(self, lang: str) -> str:
        """The title in `lang`, else the English one, else the article id; on one line."""
        titles = self.brief.get("title") or {}
        title = titles.get(lang) or titles.get(ENGLISH) or self.article_id
        return " ".join(clean_shown(title).split())

    def summary(self, lang: str) -> str:
        """The summary in `lang`, without control characters (an older brief may hold some)."""
        return clean_shown((self.brief.get("summaries") or {}).get(lang, ""))

    def has(self, lang: str) -> bool:
        return lang in (self.brief.get("summaries") or {})

    def date_text(self) -> str:
        """The date as a reader wants it: `2026-11-27`, `2026-11-27 06:30`, else as given."""
        if self.when is None:
            return self.published or ""
        return self.when.strftime("%Y-%m-%d %H:%M" if self._has_time() else "%Y-%m-%d")

    def date_iso(self) -> str | None:
        """The date for `<time datetime>`: ISO 8601, the day alone when the source gives no
        time; None when it cannot be read."""
        if self.when is None:
            return None
        return self.when.isoformat() if self._has_time() else self.when.date().isoformat()

    def _has_time(self) -> bool:
        return bool(self.published) and bool(re.search(r"\d[T ]\d", self.published.strip()))

    def notices(self, lang: str) -> list[Notice]:
        """The warnings the digest in `lang` shows (`warnings_for`)."""
        return warnings_for(self.brief, lang)

    def warnings(self, lang: str) -> list[str]:
        """Those warnings as text: `code: detail` (an old plain string as it is)."""
        return [clean_shown(notice_text(n)) for n in self.notices(lang)]

    def reader_order(self) -> tuple:
        """Outlet ("Other" last), then newest first (undated and unreadable dates last), then
        title."""
        stamp = -self.when.timestamp() if self.when else 0.0
        return (self.outlet == UNKNOWN_OUTLET, self.outlet.casefold(), self.when is None, stamp,
                self.title(ENGLISH).casefold(), self.article_id)

    def time_order(self) -> tuple:
        """Earliest first (undated last): the first to report a story leads its entry."""
        stamp = self.when.timestamp() if self.when else 0.0
        return (self.when is None, stamp, self.outlet.casefold(), self.article_id)


@dataclass
class DigestEntry:
    """One story: the brief that leads it and the same story from other outlets."""

    lead: DigestItem
    others: list[DigestItem] = field(default_factory=list)

    @property
    def items(self) -> list[DigestItem]:
        return [self.lead, *self.others]


def warnings_for(brief: dict[str, Any], lang: str) -> list[Notice]:
    """The warnings of a brief that its digest in `lang` shows: the article's, the summary's
    and `lang`'s translation's; not those of other languages' translations, nor a model with
    random weights that only translated into other languages."""
    translations = (brief.get("steps") or {}).get("translations") or {}
    theirs = Counter(step_notices({"translations": {code: record for code, record
                                                    in translations.items() if code != lang}}))
    others = _other_languages_models(brief, lang)
    shown = []
    for notice in (as_notice(w) for w in brief.get("warnings") or []):
        if theirs[notice]:
            theirs[notice] -= 1
        elif not (notice.code == "random_weights" and notice.detail.split(" ", 1)[0] in others):
            shown.append(notice)
    return shown


def _other_languages_models(brief: dict[str, Any], lang: str) -> set[str]:
    """The ids of the models that only translated this brief into languages but `lang`."""
    models = brief.get("models") or {}
    ids = {role: str((record or {}).get("id")) for role, record in models.items()}
    others = {i for role, i in ids.items()
              if role.startswith("translator_") and role != f"translator_{lang}"}
    return others - {i for role, i in ids.items()
                     if not role.startswith("translator_") or role == f"translator_{lang}"}


def notice_text(notice: Notice) -> str:
    """A warning as one line: `code: detail`; an old plain warning (`uncoded`) as written."""
    if notice.code == "uncoded":
        return notice.detail
    return f"{notice.code}: {notice.detail}" if notice.detail else notice.code


def language_name(code: str) -> str:
    """A digest language's name (`German`), else its code."""
    if code == ENGLISH:
        return ENGLISH_TARGET.name
    target = TARGETS.get(code)
    return target.name if target else code


def original_url(source: dict[str, Any]) -> str | None:
    """The article's original URL when it is an http(s) link (never `javascript:` or such)."""
    url = (source.get("url") or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def outlet_and_section(url: str | None, key: str) -> tuple[str, str | None]:
    """The outlet (the URL's host without `www.`, else the key's first folder named by words,
    as written, else "Other") and the section (the first folder named by words after it, if
    any)."""
    if url:
        parts = urlsplit(url)
        host = (parts.hostname or "").removeprefix("www.")
        folders = [p for p in parts.path.split("/") if p][:-1]
        section = next((f for f in folders if len(f) > 2 and _WORD_FOLDER.fullmatch(f)), None)
        return host or UNKNOWN_OUTLET, section and section.lower()
    named = [f.strip() for f in PurePosixPath(key).parts[:-1] if _WORD_FOLDER.fullmatch(f)]
    return (named[0] if named else UNKNOWN_OUTLET), (named[1] if len(named) > 1 else None)


def parse_published(value: str | None) -> datetime | None:
    """An ISO 8601 date or time as an aware datetime (UTC when it has no zone); None when it is
    missing or cannot be read."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def digest_item(brief: dict[str, Any]) -> DigestItem:
    source = brief.get("source") or {}
    url = original_url(source)
    outlet, section = outlet_and_section(url, source.get("key", ""))
    published = source.get("published")
    published = str(published) if published not in (None, "") else None
    return DigestItem(brief, outlet, section, published, parse_published(published), url)


def similarity_words(brief: dict[str, Any]) -> list[str]:
    """The words two briefs are compared on, sorted: the English title and summary (the
    source language's when a brief has no English), lower-cased, without punctuation."""
    lang = ENGLISH if ENGLISH in (brief.get("summaries") or {}) else brief.get("source_language")
    title = (brief.get("title") or {}).get(lang, "")
    return sorted(utils.default_process(f"{title} {(brief.get('summaries') or {}).get(lang, '')}")
                  .split())


def similarities(words: list[str], others: Sequence[list[str]]) -> Any:
    """The word Dice coefficient, 0-100, of `words` with each of `others` (a numpy row);
    under SIMILAR is 0."""
    return 100 * process.cdist([words], others, scorer=Indel.normalized_similarity,
                               score_cutoff=SIMILAR / 100)[0]


def digest_entries(briefs: Iterable[dict[str, Any]]) -> list[DigestEntry]:
    """The night's briefs (documents) as digest entries in reader order, near-duplicate
    stories of different outlets grouped.

    Going from the earliest brief, each joins the entry whose lead it is most like (at least
    SIMILAR) when no brief of its outlet is in that entry yet; else it leads a new entry. A
    brief is compared with leads only, so a chain of small changes cannot join two stories.
    """
    entries: list[DigestEntry] = []
    lead_words: list[list[str]] = []  # entry by entry: its lead's words
    for item in sorted((digest_item(b) for b in briefs), key=DigestItem.time_order):
        words = similarity_words(item.brief)
        scores = similarities(words, lead_words) if words and lead_words else None
        similar = [] if scores is None else scores.nonzero()[0]  # empty texts: no story
        # the most similar first, then the earliest entry
        for position in sorted(similar, key=lambda p: (-scores[p], p)):
            entry = entries[position]
            if lead_words[position] and item.outlet not in {x.outlet for x in entry.items}:
                entry.others.append(item)
                break
        else:
            entries.append(DigestEntry(item))
            lead_words.append(words)
    return sorted(entries, key=lambda e: e.lead.reader_order())


def entries_in(entries: Iterable[DigestEntry], lang: str) -> list[DigestEntry]:
    """The entries as the digest for `lang` shows them: only briefs that have that language;
    an entry whose lead has not is led by its next brief that has."""
    kept = []
    for entry in entries:
        items = [i for i in entry.items if i.has(lang)]
        if items:
            kept.append(DigestEntry(items[0], items[1:]))
    return sorted(kept, key=lambda e: e.lead.reader_order())


def digest_languages(languages: Sequence[str]) -> list[str]:
    """The languages a run writes digests for: English, then the targets."""
    return list(dict.fromkeys([ENGLISH, *languages]))


@dataclass(frozen=True)
class Night:
    """What a digest's heading says of the night it covers: its date, the source it was read
    from, and how many articles failed or were skipped (None: not known)."""

    date: str | None = None  # YYYY-MM-DD
    source: str | None = None
    failed: int | None = None
    skipped: int | None = None

    def date_text(self) -> str | None:
        """The date as an editor reads it: `Friday 27 November 2026`."""
        try:
            day = datetime.strptime(self.date or "", "%Y-%m-%d")
        except ValueError:
            return self.date or None
        return f"{day:%A} {day.day} {day:%B %Y}"


def night_of_manifest(manifest: dict[str, Any]) -> Night:
    """The night as its manifest records it: the run's date and source (its `{date}` filled
    in, as a folder or prefix: ending in `/`), the night's counts."""
    parameters = manifest.get("parameters") or {}
    counts = manifest.get("counts") or {}
    source = parameters.get("source") or None
    date = parameters.get("date") or _date_in(source)
    if source:
        source = (source.replace("{date}", date) if date else source).rstrip("/") + "/"
    return Night(date, source, counts.get("failed"), counts.get("skipped"))


def night_of_entries(entries: Iterable[DigestEntry]) -> Night:
    """The night as its briefs tell it, without a manifest: the source most of them were
    read from and the date in its path, if any; failures are not known."""
    sources = Counter(_source_of(item.brief) for entry in entries for item in entry.items)
    sources.pop(None, None)
    source = sources.most_common(1)[0][0] if sources else None
    return Night(_date_in(source), source)


def _source_of(brief: dict[str, Any]) -> str | None:
    """Where a brief's article was read from: its URI without its key (and feed line)."""
    source = brief.get("source") or {}
    uri, key = str(source.get("uri") or "").partition("#")[0], str(source.get("key") or "")
    if not uri:
        return None
    return uri[:-len(key)] if key and uri.endswith(key) else uri.rpartition("/")[0] + "/"


def _date_in(source: str | None) -> str | None:
    found = _DATE.search(source or "")
    return found[1] if found else None


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 brief`, `2 briefs`, `1 story`, `3 stories`."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def night_facts(night: Night, briefs: int, stories: int) -> list[str]:
    """The heading's counts: how many briefs in how many stories, and how many articles
    failed or were skipped (when any did)."""
    facts = [f"{counted(briefs, 'brief')} in {counted(stories, 'story', 'stories')}"]
    facts += [f"{count} {what}" for what, count in (("failed", night.failed),
                                                    ("skipped", night.skipped)) if count]
    return facts


def warning_counts(entries: Iterable[DigestEntry], lang: str) -> list[tuple[str, int, str]]:
    """(code, how many, meaning) of the warnings a digest shows, the most frequent first."""
    counts = Counter(n.code for entry in entries for item in entry.items
                     for n in item.notices(lang))
    return [(code, count, CODES[code])
            for code, count in sorted(counts.items(), key=lambda c: (-c[1], c[0]))]
