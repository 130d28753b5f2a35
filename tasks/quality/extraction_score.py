"""Token-level scores of extracted main text against an expected text (bag of words)."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from briefs.tasks.ingest.text import words


class Score(NamedTuple):
    precision: float
    recall: float
    f1: float


def tokens(text: str) -> list[str]:
    """Lower-cased words (see `ingest.text.words`: CJK and Thai characters one by one)."""
    return words(text.lower())


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
