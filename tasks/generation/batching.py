"""Batched `generate`: inputs sorted by length, batches filled up to a token budget."""

from __future__ import annotations

import logging
from typing import Any

from briefs.tasks.models.loading import LoadedModel
from briefs.tasks.quality.token_limit import cut_at_limit

log = logging.getLogger(__name__)


class InputTooLong(ValueError):
    """An input longer than the model's window: refused, never silently truncated."""


def plan_batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Group input indices, longest first, so that each padded batch holds ≤ max_tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    for index in order:
        # Sorted longest first, so the batch's first item sets its padded width.
        if batches and lengths[batches[-1][0]] * (len(batches[-1]) + 1) <= max_tokens:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def generate_texts(
    loaded: LoadedModel, texts: list[str], settings: dict[str, Any], max_tokens: int
) -> list[str | Exception]:
    """Generate one output per input text, in input order.

    A batch that fails is retried one text at a time, so one bad input fails alone: its
    slot holds the exception instead of a string.
    """
    lengths = loaded.count_tokens(texts)
    results: list[str | Exception] = [""] * len(texts)
    for index, length in enumerate(lengths):
        if length > loaded.max_input_tokens:
            results[index] = InputTooLong(
                f"{length} tokens exceed the {loaded.max_input_tokens}-token window of "
                f"{loaded.model_id}")
    runnable = [i for i in range(len(texts)) if not isinstance(results[i], Exception)]
    for batch in plan_batches([lengths[i] for i in runnable], max_tokens):
        indices = [runnable[i] for i in batch]
        try:
            outputs = _generate([texts[i] for i in indices], loaded, settings)
        except Exception as exc:  # isolate the input that broke the batch
            if len(indices) == 1:
                results[indices[0]] = exc
                continue
            log.warning("batch of %d failed (%s); retrying one by one", len(indices), exc)
            outputs = []
            for i in indices:
                try:
                    outputs.extend(_generate([texts[i]], loaded, settings))
                except Exception as single:
                    outputs.append(single)
        for i, output in zip(indices, outputs, strict=True):
            results[i] = output
    return results


def _generate(texts: list[str], loaded: LoadedModel, settings: dict[str, Any]) -> list[str]:
    return loaded.engine.generate(texts, settings)


def cut_outputs(loaded: LoadedModel, outputs: list[str | Exception],
                max_new_tokens: int | None) -> list[bool]:
    """Per output: whether generation stopped at `max_new_tokens` mid-sentence."""
    texts = [o if isinstance(o, str) else "" for o in outputs]
    lengths = loaded.count_output_tokens(texts) if max_new_tokens else [0] * len(texts)
    return [cut_at_limit(text, length, max_new_tokens)
            for text, length in zip(texts, lengths, strict=True)]
