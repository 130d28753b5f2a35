"""Translation: a text as one unit when it fits the model's window, else sentence by sentence."""

from __future__ import annotations

from typing import Any

from tasks.generate import generate_texts
from tasks.models import LoadedModel
from tasks.text import pack_chunks, split_sentences


def translate_texts(
    loaded: LoadedModel, texts: list[str], settings: dict[str, Any], max_tokens: int
) -> list[str | Exception]:
    """Translate each text (empty stays empty); segments of all texts share batched calls."""
    segments: list[tuple[int, str]] = []
    results: list[str | Exception] = [""] * len(texts)
    lengths = loaded.count_tokens(texts)
    for index, (text, length) in enumerate(zip(texts, lengths, strict=True)):
        if not text.strip():
            continue
        if length <= loaded.max_input_tokens:
            segments.append((index, text))
            continue
        try:
            chunks = pack_chunks(split_sentences(text), loaded.count_tokens,
                                 loaded.max_input_tokens)
        except ValueError as exc:
            results[index] = exc
            continue
        segments.extend((index, chunk) for chunk in chunks)
    outputs = generate_texts(loaded, [segment for _, segment in segments], settings, max_tokens)
    joined: dict[int, list[str]] = {}
    for (index, _), output in zip(segments, outputs, strict=True):
        if isinstance(output, Exception):
            results[index] = output
        elif not isinstance(results[index], Exception):
            joined.setdefault(index, []).append(output)
    for index, parts in joined.items():
        if not isinstance(results[index], Exception):
            results[index] = " ".join(parts)
    return results
