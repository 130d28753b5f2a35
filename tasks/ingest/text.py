"""Sentence splitting and packing sentences into chunks that fit a model's input window."""

from __future__ import annotations

import re
from collections.abc import Callable

import regex

PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\n")
# Scripts written without spaces between words: every character counts as a word of its own
# (a character class body, for regular expressions).
UNSPACED_SCRIPTS = (
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
GRAPHEME = regex.compile(r"\X")  # a user-perceived character: Thai vowel and tone marks stay
WORD = re.compile(rf"[{UNSPACED_SCRIPTS}]|(?:(?![{UNSPACED_SCRIPTS}])\w)+")


def words(text: str) -> list[str]:
    """Word tokens (`\\w+` runs); each CJK ideograph, kana or Thai character is a word of its
    own, since those scripts put no spaces between words."""
    return WORD.findall(text)


# Languages written without spaces between sentences: their chunks join with no space.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "yue", "wuu"})
# Languages without spaces between words (Thai, Lao, Khmer, Burmese put spaces only between
# phrases): a sentence too long for a window is cut between characters.
CHARACTER_CUT_LANGUAGES = UNSPACED_LANGUAGES | {"th", "lo", "km", "my"}


def split_sentences(text: str, language: str = "en") -> list[str]:
    """Sentences of `text`, paragraph by paragraph, stripped of surrounding space.

    sentencex knows the sentence ends and abbreviations of about 300 languages (Chinese and
    Japanese full stops included) and falls back through related languages for the rest.
    """
    import sentencex

    sentences = []
    for paragraph in PARAGRAPH_BREAK.split(text):
        if paragraph.strip():
            sentences.extend(s.strip() for s in sentencex.segment(language or "en", paragraph))
    return [s for s in sentences if s]


def sentence_joiner(language: str) -> str:
    """What goes between two sentences in `language`: a space, or nothing."""
    return "" if language in UNSPACED_LANGUAGES else " "


def join_sentences(parts: list[str], language: str = "en") -> str:
    """Sentences or chunks joined back into one text, as the language writes them."""
    return sentence_joiner(language).join(parts)


def pack_chunks(
    sentences: list[str], count_tokens: Callable[[list[str]], list[int]], budget: int,
    language: str = "en",
) -> list[str]:
    """Join consecutive sentences into chunks of at most `budget` tokens each.

    A sentence longer than the budget on its own is cut at word boundaries (between characters
    in a language written without spaces) into pieces that fit, so nothing is ever dropped.
    """
    joiner = sentence_joiner(language)
    cut_at = "" if language in CHARACTER_CUT_LANGUAGES else " "
    pieces: list[str] = []
    for sentence, size in zip(sentences, count_tokens(sentences), strict=True):
        fits = size <= budget
        pieces.extend([sentence] if fits else _split_words(sentence, count_tokens, budget,
                                                           cut_at))
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece, size in zip(pieces, count_tokens(pieces), strict=True):
        if current and used + size > budget:
            chunks.append(joiner.join(current))
            current, used = [], 0
        current.append(piece)
        used += size
    if current:
        chunks.append(joiner.join(current))
    # Token counts of joined text can differ slightly from the sum of the parts: re-check.
    return [c for chunk in chunks for c in _fit(chunk, count_tokens, budget, cut_at)]


def _fit(chunk: str, count_tokens: Callable[[list[str]], list[int]], budget: int,
         joiner: str) -> list[str]:
    if count_tokens([chunk])[0] <= budget:
        return [chunk]
    return _split_words(chunk, count_tokens, budget, joiner)


def _split_words(
    text: str, count_tokens: Callable[[list[str]], list[int]], budget: int, joiner: str = " "
) -> list[str]:
    """Cut text at word boundaries (by bisection on the word count) into pieces that fit;
    with no joiner (a language written without spaces), between characters (graphemes)."""
    words = text.split() if joiner else GRAPHEME.findall(text)  # a letter with its marks
    if len(words) <= 1:
        raise ValueError(f"a single word of {count_tokens([text])[0]} tokens exceeds {budget}")
    pieces = []
    while words:
        low, high = 1, len(words)
        while low < high:  # the largest prefix that fits
            middle = (low + high + 1) // 2
            if count_tokens([joiner.join(words[:middle])])[0] <= budget:
                low = middle
            else:
                high = middle - 1
        if count_tokens([joiner.join(words[:low])])[0] > budget:
            raise ValueError(f"the word {words[0][:40]!r} alone exceeds {budget} tokens")
        pieces.append(joiner.join(words[:low]))
        words = words[low:]
    return pieces
