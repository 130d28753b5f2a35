"""Token-level scores of extracted main text against an expected text (bag of words)."""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

# Scripts written without spaces between words: every character is a token of its own.
_UNSPACED = (
    "\u0e00-\u0e7f"  # Thai
    "\u3005\u3007"  # 々 〇
    "\u3040-\u309f"  # hiragana
    "\u30a0-\u30ff"  # katakana (with ー)
    "\u31f0-\u31ff"  # katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width katakana
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
TOKEN = re.compile(rf"[{_UNSPACED}]|(?:(?![{_UNSPACED}])\w)+")


class Score(NamedTuple):
    precision: float
    recall: float
    f1: float


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (`\\w+` runs); each CJK ideograph, kana or Thai character is a
    token of its own, since those scripts put no spaces between words."""
    return TOKEN.findall(text.lower())


def score(extracted: str, expected: str) -> Score:
    """Bag-of-words precision, recall and F1 of `extracted` against `expected`.

    Tokens are counted as multisets: a word found twice where the reference has it once counts
    once. Both texts without tokens score 1.0 (nothing to find, nothing wrong); one of them
    without tokens scores 0.
    """
    got, want = Counter(tokens(extracted)), Counter(tokens(expected))
    if not got and not want:
        return Score(1.0, 1.0, 1.0)
    if not got or not want:
        return Score(0.0, 0.0, 0.0)
    overlap = sum((got & want).values())
    precision = overlap / sum(got.values())
    recall = overlap / sum(want.values())
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return Score(precision, recall, f1)
