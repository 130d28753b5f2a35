"""Output guards: read a finished summary or translation and say what looks wrong with it.

Each finding is a `Notice` (tasks/quality/warnings.py) whose detail names the step, the language and
what was seen. Guards never change an output; `fail_reason` turns the codes listed in
`guards.fail_on` into an article's failure. Plain functions: no Prefect, no models (the caller
passes token counts). Each guard is a `Guard` (its code, its check) in `GUARDS`, which
`check_output` runs in order; codes and their meanings are registered in tasks/quality/codes.py.

The thresholds were chosen on the shared corpus (how: docs/guards.md).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import accumulate
from typing import Any

import regex

from briefs.tasks.ingest.source_language import detect_language, language_code
from briefs.tasks.ingest.text import split_sentences, words
from briefs.tasks.quality.codes import CODES, GUARD_CODES
from briefs.tasks.quality.token_limit import cut_at_limit
from briefs.tasks.quality.warnings import Notice, as_notice

SUMMARY_STEP = "summary"  # the step whose `source` is the article (others: translations)

# repetition
# An n-gram of n words repeated this many times in a row is a loop: a single word 8 times
# (quotes say "Nein, nein, nein, nein, nein."), 2 to 4 words 4 times, 5 to 50 words 3 times.
LOOP_REPEATS = {1: 8, 2: 4, 3: 4, 4: 4}
LONG_LOOP_REPEATS = 3
LONG_LOOP_WORDS = 50
SHARE_MIN_TRIGRAMS = 30  # texts this long (in 3-grams) are also judged by their share...
MAX_REPEATED_SHARE = 0.5  # ...of 3-grams that repeat an earlier one (articles: at most 0.32)

# max_new_tokens: `cut_at_limit` and its constants are in tasks/quality/token_limit.py

# wrong_language
MIN_LANGUAGE_WORDS = 10  # words left once names and numbers are taken out
MIN_LANGUAGE_CONFIDENCE = 0.5  # the fast detector's confidence in another language...
MIN_CONFIRMED_CONFIDENCE = 0.9  # ...and lingua's accurate mode's, between the two alone
SAME_LANGUAGE = {"no": "nb", "nn": "nb"}  # lingua tells Bokmål from Nynorsk; we do not

# unsupported_numbers
NUMBER = regex.compile(r"(?<![0-9])[0-9]+(?:[.,'\u00a0\u202f][0-9]+)*(?:\s?%)?")
SCALE = regex.compile(r"\s?(thousand|million|billion|trillion|bn|tn|m|k)\b", regex.IGNORECASE)
SCALES = {"thousand": 10**3, "k": 10**3, "million": 10**6, "m": 10**6, "billion": 10**9,
          "bn": 10**9, "trillion": 10**12, "tn": 10**12}
PERCENT = regex.compile(r"\s?%$")
THOUSANDS = regex.compile(r"[0-9]{1,3}(?:[,.'\u00a0\u202f][0-9]{3})+")

# unsupported_entities
NAME_WORD = regex.compile(r"\w+(?:['\u2019\-]\w+)*")
POSSESSIVE = regex.compile(r"['\u2019]s$", regex.IGNORECASE)
# A capital after these (and at a sentence's start) says nothing about a name.
OPENERS = set("\"'\u201c\u2018\u201e\u00ab\u2039([{:;\u2014\u2013-")
# Lower-case words that may sit inside a name: "Bank of England", "Leonardo da Vinci".
NAME_JOINERS = frozenset({"of", "de", "da", "del", "della", "di", "du", "van", "von", "der",
                          "den", "ter", "la", "le", "al", "bin", "ibn", "y"})
# Capitalised words that are not names: the pronoun, honorifics (English).
NOT_NAMES = {"en": frozenset({"i", "mr", "mrs", "ms", "mx", "miss", "dr", "prof", "sir",
                              "dame", "rev", "st"})}
# Languages that capitalise every noun: a capital says nothing about a name there.
CAPITALISED_NOUNS = frozenset({"de", "lb"})


@dataclass(frozen=True)
class Output:
    """One output as the guards read it: `text`, the output of `step` ("summary",
    "translation") in `language` (ISO 639-1), made from `source` (the article for a summary,
    the English summary for a translation); `tokens` generated under `max_new_tokens`."""

    text: str
    step: str
    language: str
    where: str  # how details name the output: "summary 'en'"
    source: str | None = None
    tokens: int | None = None
    max_new_tokens: int | None = None
    check_language: bool = True

    @functools.cached_property
    def words(self) -> list[str]:
        return words(self.text)

    @property
    def of_article(self) -> bool:
        """Whether this is a summary with its article (the summary-only guards' input)."""
        return self.step == SUMMARY_STEP and self.source is not None


@dataclass(frozen=True)
class Guard:
    """One output guard: `check` reads an output and says what it saw (the detail after
    "STEP 'LANG': "), or None when the output is fine. Its meaning is its code's, registered
    in tasks/quality/codes.py."""

    code: str
    check: Callable[[Output], str | None]
    summary_only: bool = False  # runs on a summary with its article only
    alone: bool = False  # when it fires, the output gets this warning and no other

    def __post_init__(self) -> None:
        if self.code not in GUARD_CODES:
            raise ValueError(f"{self.code!r} is not registered as an output guard's code")

    @property
    def meaning(self) -> str:
        return CODES[self.code]


def check_output(
    text: str, *, step: str, language: str, source: str | None = None,
    tokens: int | None = None, max_new_tokens: int | None = None, check_language: bool = True,
) -> list[Notice]:
    """The warnings on one output (see `Output` for the arguments), one per guard of `GUARDS`
    that fires, in `GUARDS`' order.

    An empty output gets `empty_output` alone. The summary-only checks (`longer_than_input`,
    `unsupported_numbers`, `unsupported_entities`) need `source`; `max_new_tokens` needs
    both counts; `wrong_language` runs when `check_language`.
    """
    output = Output(text, step, language_code(language) or language,  # "zh-Hans" → "zh"
                    f"{step} {language!r}", source, tokens, max_new_tokens, check_language)
    notices: list[Notice] = []
    for guard in GUARDS:
        if guard.summary_only and not output.of_article:
            continue
        if (detail := guard.check(output)) is None:
            continue
        notice = Notice(guard.code, f"{output.where}: {detail}")
        if guard.alone:
            return [notice]
        notices.append(notice)
    return notices


def _empty(output: Output) -> str | None:
    return None if output.text.strip() else "the output is empty"


def _repetition(output: Output) -> str | None:
    loop = find_repetition(output.words, output.language)
    return str(loop) if loop else None


def _longer_than_input(output: Output) -> str | None:
    source_words = words(output.source or "")
    if len(output.words) <= len(source_words):
        return None
    return f"{len(output.words)} words, the article has {len(source_words)}"


def _unsupported_numbers(output: Output) -> str | None:
    numbers = unsupported_numbers(output.text, output.source or "")
    if not numbers:
        return None
    return f"{_count(numbers, 'number')} not in the article: {_quoted(numbers)}"


def _unsupported_entities(output: Output) -> str | None:
    names = unsupported_names(output.text, output.source or "", output.language)
    if not names:
        return None
    return f"{_count(names, 'name')} not in the article: {_quoted(names)}"


def _max_new_tokens(output: Output) -> str | None:
    if not cut_at_limit(output.text, output.tokens, output.max_new_tokens):
        return None
    return (f"{output.tokens} tokens generated, the limit is {output.max_new_tokens}, and it "
            f"ends mid-sentence: {_tail(output.text)!r}")


def _wrong_language(output: Output) -> str | None:
    other = wrong_language(output.text, output.language) if output.check_language else None
    if other is None:
        return None
    return (f"the text reads as {other[0]!r}, not {output.language!r} (lingua's confidence "
            f"{other[1]:.2f})")


def _one_per_code(guards: tuple[Guard, ...]) -> tuple[Guard, ...]:
    """`guards`, refused unless each output guard's registered code has exactly one."""
    if sorted(g.code for g in guards) != sorted(GUARD_CODES):
        raise RuntimeError(f"output guards {[g.code for g in guards]} do not match the codes "
                           f"registered for them: {list(GUARD_CODES)}")
    return guards


# The output guards, in the order they run and their warnings are listed. A new guard: its
# code and meaning in tasks/quality/codes.py (raised by OUTPUT_GUARD), its check here.
GUARDS: tuple[Guard, ...] = _one_per_code((
    Guard("empty_output", _empty, alone=True),
    Guard("repetition", _repetition),
    Guard("longer_than_input", _longer_than_input, summary_only=True),
    Guard("unsupported_numbers", _unsupported_numbers, summary_only=True),
    Guard("unsupported_entities", _unsupported_entities, summary_only=True),
    Guard("max_new_tokens", _max_new_tokens),
    Guard("wrong_language", _wrong_language),
))


def fail_reason(notices: Iterable[Notice | Mapping[str, Any] | str], fail_on: Iterable[str]
                ) -> str | None:
    """Why an article fails: its warnings whose code is in `fail_on`, as
    "guard CODE: DETAIL" joined by "; "; None when there are none.

    Warnings may also be given as a brief records them (`Notice.as_dict`, or a plain string
    in a brief written before warnings had codes, which counts as `uncoded`).
    """
    codes = set(fail_on)
    found = [n if isinstance(n, Notice) else as_notice(n) for n in notices]
    return "; ".join(f"guard {n.code}: {n.detail}" for n in found if n.code in codes) or None


# --- repetition ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Loop:
    """An n-gram repeated in a row, or (`in_a_row` False) a text mostly made of repeats."""

    unit: str
    repeats: int
    size: int
    in_a_row: bool = True
    share: float = 0.0

    def __str__(self) -> str:
        if self.in_a_row:
            return f"the {self.size}-gram {self.unit!r} repeats {self.repeats} times in a row"
        return (f"{self.share:.0%} of its 3-grams repeat an earlier one ({self.unit!r} "
                f"{self.repeats} times)")


def find_repetition(tokens: list[str], language: str = "en") -> Loop | None:
    """A generation loop in word tokens (`ingest.text.words`: a CJK or Thai character is a
    token): the shortest n-gram repeated in a row at least `LOOP_REPEATS` times (one token 8
    times, 2-4 tokens 4 times, 5-50 tokens 3 times); else, in a text of at least 30 3-grams,
    more than half of its 3-grams repeating an earlier one. N-grams of digits alone ("000" in
    "1,000,000,000,000") do not count. Compared case-insensitively."""
    lower = [token.casefold() for token in tokens]
    joiner = "" if language in ("zh", "ja", "th", "yue", "wuu") else " "
    words_before = list(accumulate((not t.isdigit() for t in lower), initial=0))
    for size in range(1, min(LONG_LOOP_WORDS, len(lower) // 2) + 1):
        needed = LOOP_REPEATS.get(size, LONG_LOOP_REPEATS)
        run = 0  # positions i so far in a row where lower[i] == lower[i + size]
        best: tuple[int, int] | None = None  # (repeats, start)
        for i in range(len(lower) - size):
            run = run + 1 if lower[i] == lower[i + size] else 0
            repeats = run // size + 1
            start = i - run + 1
            if (repeats >= needed and (best is None or repeats > best[0])
                    and words_before[start + size] > words_before[start]):  # not digits alone
                best = (repeats, start)
        if best:
            unit = joiner.join(tokens[best[1]:best[1] + size])
            return Loop(unit, best[0], size)
    trigrams = [tuple(lower[i:i + 3]) for i in range(len(lower) - 2)]
    if len(trigrams) >= SHARE_MIN_TRIGRAMS:
        share = 1 - len(set(trigrams)) / len(trigrams)
        if share > MAX_REPEATED_SHARE:
            gram, count = Counter(trigrams).most_common(1)[0]
            return Loop(joiner.join(gram), count, 3, in_a_row=False, share=share)
    return None


# --- max_new_tokens (cut_at_limit: tasks/quality/token_limit.py) -----------------------

def _tail(text: str, chars: int = 40) -> str:
    text = text.rstrip()
    return text if len(text) <= chars else "…" + text[-chars:]


# --- wrong_language -------------------------------------------------------------------------

# A number's whole token is matched from the token's start (`\S*\d\S*` alone would rescan
# a long token without a digit from each of its positions).
NAME_OR_NUMBER = regex.compile(r"\b[\p{Lu}\p{Lt}][\w'\u2019\-]*|(?<!\S)[^\s\d]*\d\S*")


def wrong_language(text: str, expected: str) -> tuple[str, float] | None:
    """The language `text` reads as, with lingua's confidence, when that is confidently not
    `expected`; None when it is `expected`, or cannot be told.

    Names and numbers are left out, at least 10 words must be left; the fast detector must be
    0.5 sure of another language and lingua's high-accuracy mode 0.9 sure between the two
    (measured on the corpus: docs/guards.md). Languages lingua does not know: never reported.
    """
    languages = _lingua_languages()
    expected = _same(language_code(expected) or expected)
    if expected not in languages:
        return None
    sample = regex.sub(r"\s+", " ", NAME_OR_NUMBER.sub(" ", text)).strip()
    if len(words(sample)) < MIN_LANGUAGE_WORDS:
        return None
    detected = detect_language(sample)
    other = _same(detected.language or expected)
    if other == expected or other not in languages:
        return None
    if detected.confidence < MIN_LANGUAGE_CONFIDENCE:
        return None
    confirmed = _two_way(expected, other).compute_language_confidence(sample, languages[other])
    if confirmed < MIN_CONFIRMED_CONFIDENCE:
        return None
    return other, confirmed


def _same(code: str) -> str:
    return SAME_LANGUAGE.get(code, code)


@functools.cache
def _lingua_languages() -> dict[str, Any]:
    """ISO 639-1 code → lingua `Language`, for every language lingua knows."""
    from lingua import Language

    return {_same(lang.iso_code_639_1.name.lower()): lang for lang in Language.all()}


@functools.lru_cache(maxsize=4)  # each holds two languages' models: about 40 MB
def _two_way(first: str, second: str) -> Any:
    """A high-accuracy lingua detector that tells only these two languages apart."""
    from lingua import LanguageDetectorBuilder

    languages = _lingua_languages()
    return LanguageDetectorBuilder.from_languages(languages[first], languages[second]).build()


# --- unsupported_numbers --------------------------------------------------------------------

def unsupported_numbers(text: str, source: str) -> list[str]:
    """The numbers written in digits in `text` that `source` does not have, as written.

    Numbers compare by value: "1,200" == "1200" == "1.200" (a thousands separator: one of
    , . ' or a no-break space, before groups of three digits) and "3,5" == "3.5"; a "%" or
    "per cent" after a number does not matter; "1.2m", "£1.2 million" and "1,200,000" are the
    same (thousand/k, million/m, billion/bn, trillion/tn after a number). Numbers spelled out
    in words are not read, so "two" in the article does not support "2" in the summary.
    """
    known = set().union(*(values for _, values in _numbers(source)))
    missing: list[str] = []
    for written, values in _numbers(text):
        if not values & known and written not in missing:
            missing.append(written)
    return missing


def _numbers(text: str) -> list[tuple[str, set[Decimal]]]:
    found = []
    for match in NUMBER.finditer(text):
        written = match.group()
        number = PERCENT.sub("", written)
        values = _values(number)
        if not values:  # "2,3,4" is no one number: each part is one
            found.extend((part, {Decimal(part)}) for part in regex.findall(r"[0-9]+", number))
            continue
        scale = SCALE.match(text, match.end())
        if scale and number == written:
            factor = SCALES[scale.group(1).lower()]
            values |= {value * factor for value in values}
        found.append((written, values))
    return found


def _values(number: str) -> set[Decimal]:
    """What `number` may mean: with "." or "," as the decimal mark, the other (and ' and
    no-break spaces) separating thousands where they sit before groups of three digits."""
    values = set()
    for decimal_mark in (".", ","):
        whole, mark, fraction = number.rpartition(decimal_mark)
        if not mark or not regex.fullmatch(r"[0-9]+", fraction):
            whole, fraction = number, ""
        if not whole.isdigit() and not THOUSANDS.fullmatch(whole):
            continue
        digits = regex.sub(r"[^0-9]", "", whole)
        try:
            values.add(Decimal(f"{digits}.{fraction}" if fraction else digits))
        except InvalidOperation:
            continue
    return values


# --- unsupported_entities -------------------------------------------------------------------

def unsupported_names(text: str, source: str, language: str = "en") -> list[str]:
    """Capitalised names in `text` with a word that `source` does not have.

    No NER model is available offline, so this is a heuristic:
    - a name is a run of capitalised words (ALL-CAPS acronyms too) inside one sentence, with
      only spaces between them, allowing joiners such as "of", "de", "van" inside
      ("Bank of England");
    - a word that opens a sentence (sentencex splits them), or follows an opening quote,
      bracket, colon or dash, is never taken as a name: capitals say nothing there. So a name
      at a sentence's start is missed unless more capitalised words follow ("John Smith
      said" checks "Smith");
    - day and month names (babel's, in `language`) and, in English, "I" and honorifics
      (Mr, Dr, Sir...) are not names;
    - a name is supported when every word of it is a word of `source`, compared
      case-insensitively, a possessive "'s" dropped and a plural "s" allowed either way.
    Limits: abstractive summaries say "British" for "UK", "the Scottish government" for
    "Holyrood": those are reported; a common word capitalised mid-sentence (a title, a
    brand) is taken as a name; languages that capitalise every noun (German) and scripts
    without capitals (Chinese, Japanese, Thai, Arabic) are not checked.
    """
    lang = language_code(language) or language
    if lang in CAPITALISED_NOUNS:
        return []
    known = {word.casefold() for word in words(source)}
    not_names = _not_names(lang)
    missing: list[str] = []
    for name in _names(text, lang):
        parts = [p.casefold() for w in name for p in words(POSSESSIVE.sub("", w))]
        content = [p for p in parts if p not in not_names and p not in NAME_JOINERS]
        if any(not _supported(p, known) for p in content):
            shown = " ".join(name)
            if shown not in missing:
                missing.append(shown)
    return missing


def _names(text: str, language: str) -> list[list[str]]:
    names: list[list[str]] = []
    for sentence in split_sentences(text, language):
        current: list[str] = []
        pending: list[str] = []  # joiners waiting for a capitalised word after them
        previous_end = None
        for match in NAME_WORD.finditer(sentence):
            word = match.group()
            gap = sentence[previous_end:match.start()] if previous_end is not None else ""
            opens = previous_end is None or bool(set(gap.strip()) & OPENERS)
            adjacent = previous_end is not None and not gap.strip()
            previous_end = match.end()
            capitalised = word[0].isupper() and not any(c.isdigit() for c in word)
            if capitalised and not opens:
                if current and adjacent:
                    current.extend(pending)
                    current.append(word)
                else:
                    _close(current, names)
                    current = [word]
                pending = []
            elif current and adjacent and word in NAME_JOINERS and not pending:
                pending = [word]
            else:
                _close(current, names)
                current, pending = [], []
        _close(current, names)
    return names


def _close(current: list[str], names: list[list[str]]) -> None:
    if current:
        names.append(list(current))


def _supported(word: str, known: set[str]) -> bool:
    return (word in known or f"{word}s" in known
            or (word.endswith("s") and word[:-1] in known))


@functools.cache
def _not_names(language: str) -> frozenset[str]:
    from babel import Locale, UnknownLocaleError
    from babel.dates import get_day_names, get_month_names

    calendar: set[str] = set()
    try:
        locale = Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        locale = None
    if locale is not None:
        for width in ("wide", "abbreviated"):
            for names in (get_day_names(width, locale=locale),
                          get_month_names(width, locale=locale)):
                calendar.update(n.casefold().rstrip(".") for n in names.values())
    return frozenset(calendar | NOT_NAMES.get(language, frozenset()))


def _count(items: list[str], noun: str) -> str:
    return f"1 {noun}" if len(items) == 1 else f"{len(items)} {noun}s"


def _quoted(items: list[str], most: int = 8) -> str:
    shown = ", ".join(repr(item) for item in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")
