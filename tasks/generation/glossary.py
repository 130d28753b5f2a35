"""A glossary enforced around a translation model by masking terms with placeholders.

Before `generate`, terms that must not be translated (names, agencies) and terms with a fixed
translation for the target language are replaced by placeholders (`mask`); afterwards each
placeholder becomes the term's required output and every term whose placeholder did not come
back is reported (`unmask`), for the caller to turn into a warning. `missing_terms` checks any
translation, masked or not, against the glossary.

Placeholders look like ``ZQ1Z``, ``ZQ2Z`` ... ``ZQ10Z``: upper-case ASCII letters and digits,
which Marian/OPUS-MT and NLLB SentencePiece vocabularies split into ordinary pieces (nothing
special-token-like such as ``<...>``, nothing mapped to <unk>); acronym-like, so models copy them;
the pair "ZQ" does not occur in news text; the closing "Z" ends the number, so ``ZQ1Z`` is no
prefix of ``ZQ10Z``. A text that already holds that shape (in any case) gets another letter
pair (``QZ1Q``, ``XQ1X`` ...), so masking still round-trips.

Decisions:

- Matching is case-sensitive and whole-word: a term matches only where no letter, digit or
  underscore touches it, so "KCNA" is masked in "KCNA's", "pro-KCNA" and "(KCNA)" but not in
  "XKCNA" or "KCNAs". Chinese, Japanese and Thai characters do not count (those scripts put
  no spaces between words): "金正恩说" holds "金正恩". Whitespace inside a term matches any
  run of whitespace.
- Overlapping terms: leftmost-longest wins, in one pass of one compiled alternation (longest
  terms first), so a placeholder never lands inside another.
- Every occurrence gets its own placeholder, numbered from 1 in order of appearance.
- `unmask` finds placeholders in any case, also glued to neighbouring text. A placeholder
  repeated right after itself (only whitespace between) is kept once; one repeated elsewhere
  becomes its term each time; one never handed out (invented by the model) is left as it is.
- `Unmasked.lost` and `missing_terms` name each output term once, however many of its
  occurrences went missing, in order of first occurrence.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import count, product

from briefs.tasks.ingest.text import UNSPACED_SCRIPTS

_FIRST_MARKERS = ("ZQ", "QZ", "XQ", "QX", "ZX", "XZ")
# A letter or digit of a script that puts spaces between words: a term must not touch one. In
# Chinese, Japanese and Thai, words touch without spaces, so their characters are no bound.
_SPACED_WORD = rf"(?:(?![{UNSPACED_SCRIPTS}])\w)"
_MAX_DIGITS = 9  # a longer number is no placeholder of ours (and int() of it stays cheap)


@dataclass(frozen=True)
class Masked:
    """A masked text and its placeholders, in order, each with the term it stands for."""

    text: str
    slots: dict[str, str]  # placeholder -> what must appear in the output
    marker: str = _FIRST_MARKERS[0]  # the letters of the placeholders: ZQ -> ZQ1Z, ZQ2Z ...


@dataclass(frozen=True)
class Unmasked:
    """A model's output with the terms put back, and the terms whose placeholders were lost."""

    text: str
    lost: list[str]


def terms_for(keep: list[str], fixed: dict[str, dict[str, str]], target: str) -> dict[str, str]:
    """Source term -> what must appear in a translation into `target`.

    Terms in `keep` stand for themselves; `fixed[target]` maps source terms to their fixed
    translations, and wins over `keep` for a term in both. Blank terms are left out.
    """
    terms = {term: term for term in keep if term.strip()}
    terms.update({term: out for term, out in fixed.get(target, {}).items() if term.strip()})
    return terms


def mask(text: str, terms: dict[str, str]) -> Masked:
    """`text` with every occurrence of a source term of `terms` replaced by a placeholder."""
    outputs = _by_normal_form(terms)
    pattern = _matcher(outputs)
    if pattern is None:
        return Masked(text, {})
    marker = next(m for m in _markers() if not _placeholders(m).search(text))
    slots: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        placeholder = f"{marker}{len(slots) + 1}{marker[0]}"
        slots[placeholder] = outputs[_normal(match.group())]
        return placeholder

    return Masked(pattern.sub(replace, text), slots, marker)


def unmask(output: str, masked: Masked) -> Unmasked:
    """`output` (a model's translation of `masked.text`) with its placeholders replaced by terms."""
    if not masked.slots:
        return Unmasked(output, [])
    family = _placeholders(masked.marker)
    numbered = ((_number(family.fullmatch(p)), p) for p in masked.slots)
    by_number = {number: p for number, p in numbered if number is not None}
    pieces: list[str] = []
    seen: set[str] = set()
    previous: str | None = None
    end = 0
    for match in family.finditer(output):
        gap = output[end : match.start()]
        placeholder = by_number.get(_number(match))
        if placeholder is None:  # invented by the model: never turned into a term
            pieces.append(gap + match.group())
        elif placeholder != previous or gap.strip():
            pieces.append(gap + masked.slots[placeholder])
            seen.add(placeholder)
        # else: the same placeholder again right after itself, a repetition: dropped
        previous, end = placeholder, match.end()
    pieces.append(output[end:])
    lost = [term for placeholder, term in masked.slots.items() if placeholder not in seen]
    return Unmasked("".join(pieces), list(dict.fromkeys(lost)))


def missing_terms(output: str, terms: dict[str, str], source: str) -> list[str]:
    """Output terms that `output` holds fewer times than their source terms occur in `source`.

    Counts whole-word, case-sensitive, leftmost-longest occurrences on both sides, as `mask`
    does; each missing term is named once, in order of first occurrence in `source`.
    """
    outputs = _by_normal_form(terms)
    source_pattern = _matcher(outputs)
    if source_pattern is None:
        return []
    expected = Counter(outputs[_normal(m.group())] for m in source_pattern.finditer(source))
    output_pattern = _matcher(outputs.values())
    if output_pattern is None:
        return []
    found = Counter(_normal(m.group()) for m in output_pattern.finditer(output))
    return [out for out, n in expected.items() if out.strip() and found[_normal(out)] < n]


def _normal(term: str) -> str:
    """`term` with its whitespace runs collapsed to one space and none at the ends."""
    return " ".join(term.split())


def _by_normal_form(terms: dict[str, str]) -> dict[str, str]:
    """`terms` keyed by the normal form of each non-blank source term."""
    return {_normal(term): out for term, out in terms.items() if term.strip()}


def _matcher(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for whole-word occurrences of the non-blank `terms`, longest first (or None)."""
    unique = sorted({_normal(t) for t in terms if t.strip()}, key=lambda t: (-len(t), t))
    if not unique:
        return None
    alternation = "|".join(r"\s+".join(map(re.escape, term.split())) for term in unique)
    return re.compile(rf"(?<!{_SPACED_WORD})(?:{alternation})(?!{_SPACED_WORD})")


def _markers() -> Iterator[str]:
    """Letter groups for placeholders, the preferred first; endless, so one is always free."""
    yield from _FIRST_MARKERS
    for size in count(3):
        for letters in product("ZQX", repeat=size):
            yield "".join(letters)


def _placeholders(marker: str) -> re.Pattern[str]:
    """Placeholders of `marker` in any case: ZQ1Z, zq1z, ZQ12Z ... (group 1: the number)."""
    return re.compile(rf"{marker}(\d+){marker[0]}", re.IGNORECASE)


def _number(match: re.Match[str] | None) -> int | None:
    """The slot number of a placeholder match; None for none or an implausibly long number."""
    if match is None or len(match.group(1)) > _MAX_DIGITS:
        return None
    return int(match.group(1))
