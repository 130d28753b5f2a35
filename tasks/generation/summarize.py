"""Summaries that never silently truncate: chunk, summarize, and summarize the summaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from briefs.tasks.core.config import CallBudget
from briefs.tasks.generation.batching import cut_outputs, generate_texts
from briefs.tasks.ingest.text import join_sentences, pack_chunks, split_sentences
from briefs.tasks.models.loading import LoadedModel

MAX_ROUNDS = 6


@dataclass(frozen=True)
class Summary:
    text: str
    chunks: int  # chunks the article was split into (1 when it fit the window)
    rounds: int  # generate rounds: 1, or more when chunk summaries were summarized again
    cut: bool = False  # the summary stopped at max_new_tokens mid-sentence


def chunk_text(loaded: LoadedModel, text: str, language: str = "en") -> list[str]:
    """Sentence-aligned chunks of `text`, each fitting the model's input window."""
    return pack_chunks(split_sentences(text, language), loaded.count_tokens,
                       loaded.max_input_tokens, language)


def summarize_texts(
    loaded: LoadedModel, texts: list[str], settings: dict[str, Any], budget: CallBudget,
    language: str = "en",
) -> list[Summary | Exception]:
    """Summarize each text (in `language`); all pending chunks of all texts share batched
    `generate` calls."""
    results: list[Summary | Exception | None] = [None] * len(texts)
    pending: dict[int, list[str]] = {}
    first_chunks: dict[int, int] = {}
    for index, text in enumerate(texts):
        try:
            pending[index] = chunk_text(loaded, text, language)
            first_chunks[index] = len(pending[index])
        except ValueError as exc:
            results[index] = exc
    for round_number in range(1, MAX_ROUNDS + 1):
        if not pending:
            break
        flat = [(index, chunk) for index, chunks in pending.items() for chunk in chunks]
        outputs = generate_texts(loaded, [chunk for _, chunk in flat], settings, budget)
        grouped: dict[int, list[str | Exception]] = {}
        for (index, _), output in zip(flat, outputs, strict=True):
            grouped.setdefault(index, []).append(output)
        pending = {}
        for index, parts in grouped.items():
            error = next((part for part in parts if isinstance(part, Exception)), None)
            if error is not None:
                results[index] = error
            elif len(parts) == 1:
                [cut] = cut_outputs(loaded, parts, settings.get("max_new_tokens"))
                results[index] = Summary(str(parts[0]), first_chunks[index], round_number, cut)
            else:  # summarize the joined chunk summaries in the next round
                joined = join_sentences([str(part) for part in parts], language)
                try:
                    pending[index] = chunk_text(loaded, joined, language)
                except ValueError as exc:  # this article fails alone, with the reason
                    results[index] = exc
    for index in pending:
        results[index] = RuntimeError(did_not_fit(loaded.max_input_tokens, settings))
    return [r if r is not None else RuntimeError("no summary produced") for r in results]


def did_not_fit(window: int, settings: dict[str, Any]) -> str:
    """Why an article's chunk summaries never came down to one window, naming the setting:
    summaries at least `min_new_tokens` long fill a window two at most once that is over
    half of it, so each round leaves as many chunks as it began with."""
    least = settings.get("min_new_tokens")
    way_out = (f"each chunk's summary is at least generation.summary.min_new_tokens ({least}) "
               f"tokens long; set it below {window // 2} (half the window) so that the "
               "summaries of several chunks fit one" if least else
               "lower generation.summary.max_new_tokens so that the summaries of several "
               "chunks fit one")
    return (f"chunk summaries still did not fit one window ({window} tokens) after "
            f"{MAX_ROUNDS} rounds: {way_out}")
