"""Model output cleaned of control and other non-printing characters before it is written.

Removed: control characters (Unicode category Cc) but the line feed and the tab, format
characters (Cf: zero-width spaces, bidi controls, soft hyphens, BOMs) but the zero-width
joiner and non-joiner that Indic, Arabic and Persian script and emoji need, private-use
(Co), unassigned (Cn) and lone surrogates (Cs). A control character that is whitespace
(a vertical tab, a carriage return, a form feed) becomes a space, so words never run
together. Each output that held any gets a `control_characters` warning on its step, kept
with the step as the guards' warnings are; the digests clean what they show the same way.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from briefs.tasks.core.records import Brief
from briefs.tasks.generation.targets import ENGLISH
from briefs.tasks.quality.warnings import Notice

KEPT = frozenset("\n\t\u200c\u200d")  # line feed, tab, zero-width non-joiner and joiner
REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs"})
SHOWN_AT_MOST = 6  # code points named in a warning's detail


def non_printing(char: str) -> bool:
    """Whether `char` is a control or other non-printing character that output must not hold."""
    return char not in KEPT and unicodedata.category(char) in REMOVED_CATEGORIES


@dataclass(frozen=True)
class Cleaned:
    """A text without its non-printing characters, and what was taken out of it."""

    text: str
    removed: Counter[str]

    def notice(self, where: str) -> Notice | None:
        """The `control_characters` warning on the output `where` names ("summary 'en'"),
        or None when nothing was removed."""
        if not self.removed:
            return None
        count = sum(self.removed.values())
        names = ", ".join(f"U+{ord(c):04X}" for c, _ in self.removed.most_common(SHOWN_AT_MOST))
        more = " and others" if len(self.removed) > SHOWN_AT_MOST else ""
        noun = "character" if count == 1 else "characters"
        return Notice("control_characters", f"{where}: {count} control or non-printing {noun} "
                                            f"removed ({names}{more})")


def clean_text(text: str) -> Cleaned:
    """`text` without control and non-printing characters (whitespace ones become a space)."""
    if not any(non_printing(c) for c in text):  # the common case: nothing to do
        return Cleaned(text, Counter())
    removed: Counter[str] = Counter()
    kept = []
    for char in text:
        if non_printing(char):
            removed[char] += 1
            if char.isspace():
                kept.append(" ")
        else:
            kept.append(char)
    return Cleaned("".join(kept), removed)


def clean_brief(brief: Brief) -> None:
    """Clean every model output of `brief` in place, once: the summaries, and the titles but
    the article's own. What the summary step made (the summary, a route's summary in the
    source language and its English title) is warned about in `steps.summary`; a
    translation's summary and title in `steps.translations[lang]`. Cleaning again finds
    nothing, so a brief may pass through here more than once."""
    translations = brief.steps.get("translations") or {}
    own_title = brief.article.language or "und"
    for lang in sorted(set(brief.summaries) | set(brief.titles)):
        record = translations.get(lang) if lang in translations else brief.steps.get("summary")
        notices = _clean_summary(brief, lang) + ([] if lang == own_title
                                                 else _clean_title(brief, lang))
        if notices and record is not None:
            record.setdefault("warnings", []).extend(n.as_dict() for n in notices)
        elif notices:
            brief.warnings.extend(notices)


def _clean_summary(brief: Brief, lang: str) -> list[Notice]:
    if lang not in brief.summaries:
        return []
    step = "summary" if lang not in (brief.steps.get("translations") or {}) else "translation"
    cleaned = clean_text(brief.summaries[lang])
    brief.summaries[lang] = cleaned.text
    if lang == ENGLISH:
        brief.summary = cleaned.text
    notices = [n for n in [cleaned.notice(f"{step} {lang!r}")] if n]
    if notices and not cleaned.text.strip():
        notices.append(Notice("empty_output", f"{step} {lang!r}: the output is empty once its "
                                              "control characters are removed"))
    return notices


def _clean_title(brief: Brief, lang: str) -> list[Notice]:
    if lang not in brief.titles:
        return []
    cleaned = clean_text(brief.titles[lang])
    brief.titles[lang] = cleaned.text
    return [n for n in [cleaned.notice(f"title {lang!r}")] if n]


def clean_shown(value: Any) -> str:
    """A text as a digest shows it: cleaned (briefs written before cleaning may hold them)."""
    return clean_text(str(value)).text
