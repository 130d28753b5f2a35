"""Whether generation stopped at `max_new_tokens` mid-sentence: the `max_new_tokens` guard's
test, kept apart from the other guards so that batching (tasks/generation/batching.py) can use
it without importing the guards and the language detector they pull in. Only `regex`."""

from __future__ import annotations

import regex

# Tokens within this many of the limit count as stopped by it (engines count the
# end-of-sequence token differently).
LIMIT_SLACK = 1
SENTENCE_END = regex.compile(
    r"[.!?\u2026\u203c\u2047-\u2049\u037e\u0589\u061f\u06d4\u0964\u0965\u104a\u104b\u1362"
    r"\u17d4\u3002\uff01\uff0e\uff1f\uff61]"
    r"[\"'\u00bb\u2019\u201d\u203a\u300d\u300f\u3011\uff09\uff3d)\]}]*$"
)


def cut_at_limit(text: str, tokens: int | None, max_new_tokens: int | None) -> bool:
    """Whether generation stopped at `max_new_tokens` (within one token) mid-sentence: the
    text does not end with a sentence-final mark (. ! ? … 。 ！ ？ and others), optionally
    followed by closing quotes or brackets. Thai puts no mark at a sentence's end, so a Thai
    output at the limit is always reported."""
    if tokens is None or max_new_tokens is None or tokens < max_new_tokens - LIMIT_SLACK:
        return False
    return not SENTENCE_END.search(text.rstrip())
