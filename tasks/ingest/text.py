"""Sentence splitting and packing sentences into chunks that fit a model's input window."""

from __future__ import annotations

import re
from collections.abc import Callable

import regex

PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")  # a blank line (spaces on it or not)
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
    """Sentences of `text`, paragraph by paragraph (`paragraphs`: hard-wrapped lines joined
    again), stripped of surrounding space.

    sentencex knows the sentence ends and abbreviations of about 300 languages (Chinese and
    Japanese full stops included) and falls back through related languages for the rest.
    """
    import sentencex

    sentences = []
    for paragraph in paragraphs(text, language):
        sentences.extend(s.strip() for s in sentencex.segment(language or "en", paragraph))
    return [s for s in sentences if s]


# Reflowing hard-wrapped text: a line that ends a sentence, or runs on into the next line,
# is joined to it; a line that stands alone (a dateline, a caption, a heading) is not.
SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f\uff0e\u0964][\"'\u201d\u2019\u00bb)\uff09"
                          r"\u300d\u300f]*$")
RUN_ON_ENDS = (",", ";", ":", "-", "\u2013", "\u2014", "(", "/", "&", "\u3001", "\uff0c")
JOINING_WORDS = frozenset(("a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into",
                          "nor", "of", "on", "or", "than", "that", "the", "to", "with"))
WRAP_RATIO = 0.7  # a line at least this long next to the lines after it is wrapped text
WRAP_LOOKAHEAD_LINES = 3
MARKDOWN_HEADING = re.compile(r"#{1,6}\s")


def paragraphs(text: str, language: str = "en") -> list[str]:
    """The paragraphs of `text` with hard-wrapped lines joined again: a blank line ends a
    paragraph; inside one, a line break is a space (nothing between two characters of
    Chinese, Japanese or Thai, which put no spaces between words), except after a line that
    stands alone (`stands_alone`), which is a paragraph of its own."""
    found = []
    for block in PARAGRAPH_BREAK.split(text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        current = ""
        for position, line in enumerate(lines):
            current = _joined(current, line, language) if current else line
            following = lines[position + 1:position + 1 + WRAP_LOOKAHEAD_LINES]
            if not following or stands_alone(line, following):
                found.append(current)
                current = ""
    return found


def _joined(before: str, line: str, language: str) -> str:
    """Two lines of one paragraph as one: with a space, or none where the language writes
    none and the break is not between two words of Latin letters or digits."""
    unspaced = language in CHARACTER_CUT_LANGUAGES and not (
        before[-1].isascii() and before[-1].isalnum() and line[0].isascii() and line[0].isalnum())
    return before + ("" if unspaced else " ") + line


def stands_alone(line: str, following: list[str]) -> bool:
    """Whether a line is a paragraph of its own though no blank line follows it: a Markdown
    heading, a line before one, or a line without a sentence end that does not run on into
    the lines after it (`runs_on`)."""
    if MARKDOWN_HEADING.match(line) or MARKDOWN_HEADING.match(following[0]):
        return True
    return not SENTENCE_END.search(line) and not runs_on(line, following)


def runs_on(first: str, following: list[str]) -> bool:
    """Whether `first` continues into the lines after it (a hard-wrapped sentence): the next
    line starts in lower case, `first` ends with a joining mark or word, or `first` is about as
    long as the lines after it."""
    last_word = first.rsplit(maxsplit=1)[-1].lower()
    return (following[0][:1].islower() or first.endswith(RUN_ON_ENDS)
            or last_word in JOINING_WORDS
            or len(first) >= WRAP_RATIO * max(len(line) for line in following))


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
