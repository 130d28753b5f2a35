"""Sentence splitting and packing sentences into chunks that fit a model's input window."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\n")


_per_thread = threading.local()


def _segmenter(language: str):
    """This thread's pysbd segmenter for `language`: a Segmenter keeps the text it works on
    in itself, so one shared by the read-ahead and the generating thread loses sentences."""
    import pysbd

    segmenters = _per_thread.__dict__.setdefault("segmenters", {})
    if language not in segmenters:
        try:
            segmenters[language] = pysbd.Segmenter(language=language, clean=False)
        except ValueError:  # a language pysbd has no rules for: English rules split on '.!?'
            segmenters[language] = pysbd.Segmenter(language="en", clean=False)
    return segmenters[language]


def split_sentences(text: str, language: str = "en") -> list[str]:
    """Sentences of `text`, paragraph by paragraph, stripped of surrounding space."""
    sentences = []
    for paragraph in PARAGRAPH_BREAK.split(text):
        if paragraph.strip():
            sentences.extend(s.strip() for s in _segmenter(language).segment(paragraph))
    return [s for s in sentences if s]


def pack_chunks(
    sentences: list[str], count_tokens: Callable[[list[str]], list[int]], budget: int
) -> list[str]:
    """Join consecutive sentences into chunks of at most `budget` tokens each.

    A sentence longer than the budget on its own is cut at word boundaries into pieces that
    fit, so nothing is ever dropped.
    """
    pieces: list[str] = []
    for sentence, size in zip(sentences, count_tokens(sentences), strict=True):
        fits = size <= budget
        pieces.extend([sentence] if fits else _split_words(sentence, count_tokens, budget))
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece, size in zip(pieces, count_tokens(pieces), strict=True):
        if current and used + size > budget:
            chunks.append(" ".join(current))
            current, used = [], 0
        current.append(piece)
        used += size
    if current:
        chunks.append(" ".join(current))
    # Token counts of joined text can differ slightly from the sum of the parts: re-check.
    return [c for chunk in chunks for c in _fit(chunk, count_tokens, budget)]


def _fit(chunk: str, count_tokens: Callable[[list[str]], list[int]], budget: int) -> list[str]:
    if count_tokens([chunk])[0] <= budget:
        return [chunk]
    return _split_words(chunk, count_tokens, budget)


def _split_words(
    text: str, count_tokens: Callable[[list[str]], list[int]], budget: int
) -> list[str]:
    """Cut text at word boundaries (by bisection on the word count) into pieces that fit."""
    words = text.split()
    if len(words) <= 1:
        raise ValueError(f"a single word of {count_tokens([text])[0]} tokens exceeds {budget}")
    pieces = []
    while words:
        low, high = 1, len(words)
        while low < high:  # the largest prefix that fits
            middle = (low + high + 1) // 2
            if count_tokens([" ".join(words[:middle])])[0] <= budget:
                low = middle
            else:
                high = middle - 1
        if count_tokens([" ".join(words[:low])])[0] > budget:
            raise ValueError(f"the word {words[0][:40]!r} alone exceeds {budget} tokens")
        pieces.append(" ".join(words[:low]))
        words = words[low:]
    return pieces
