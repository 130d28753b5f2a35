"""Batched `generate`: inputs sorted by length, batches filled up to a budget of padded tokens
and of sequences decoded at once, run as many at a time as the engine has workers."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from briefs.tasks.core.config import CallBudget
from briefs.tasks.models.loading import LoadedModel
from briefs.tasks.quality.token_limit import cut_at_limit

log = logging.getLogger(__name__)
WAIT_SECONDS = 0.1  # how often the thread waiting on batches run at once wakes


class InputTooLong(ValueError):
    """An input longer than the model's window: refused, never silently truncated."""


def plan_batches(lengths: list[int], max_tokens: int, max_inputs: int | None = None,
                 workers: int = 1) -> list[list[int]]:
    """Group input indices, longest first, so that each padded batch holds ≤ max_tokens and
    ≤ max_inputs inputs. With several `workers` (batches run at once), the inputs are spread
    evenly over the rounds the batches take, so that no worker idles while one finishes."""
    batches = _fill(lengths, max_tokens, max_inputs)
    if workers > 1 and len(lengths) > 1:
        rounds = math.ceil(len(batches) / workers)
        even = _fill(lengths, max_tokens, math.ceil(len(lengths) / (rounds * workers)))
        if _makespan(even, workers) < _makespan(batches, workers):
            batches = even
    return batches


def _makespan(batches: list[list[int]], workers: int) -> int:
    """Inputs the busiest worker runs when each free worker takes the next batch."""
    loads = [0] * workers
    for batch in batches:
        loads[loads.index(min(loads))] += len(batch)
    return max(loads)


def _fill(lengths: list[int], max_tokens: int, max_inputs: int | None) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    for index in order:
        # Sorted longest first, so the batch's first item sets its padded width.
        if (batches and lengths[batches[-1][0]] * (len(batches[-1]) + 1) <= max_tokens
                and (max_inputs is None or len(batches[-1]) < max_inputs)):
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def generate_texts(
    loaded: LoadedModel, texts: list[str], settings: dict[str, Any], budget: CallBudget
) -> list[str | Exception]:
    """Generate one output per input text, in input order.

    Batches run `engine.parallel_calls` at a time. A batch that fails is retried one text at a
    time, so one bad input fails alone: its slot holds the exception instead of a string.
    """
    lengths = loaded.count_tokens(texts)
    results: list[str | Exception] = [""] * len(texts)
    for index, length in enumerate(lengths):
        if length > loaded.max_input_tokens:
            results[index] = InputTooLong(
                f"{length} tokens exceed the {loaded.max_input_tokens}-token window of "
                f"{loaded.model_id}")
    runnable = [i for i in range(len(texts)) if not isinstance(results[i], Exception)]
    beams = loaded.effective_settings({"num_beams": settings.get("num_beams")})["num_beams"]
    max_inputs = max(1, budget.sequences // (beams or 1)) if budget.sequences else None
    parallel = loaded.engine.parallel_calls
    batches = [[runnable[i] for i in batch] for batch in
               plan_batches([lengths[i] for i in runnable], budget.tokens, max_inputs, parallel)]

    def run(indices: list[int]) -> list[str | Exception]:
        try:
            return list(_generate([texts[i] for i in indices], loaded, settings))
        except Exception as exc:  # isolate the input that broke the batch
            if len(indices) == 1:
                return [exc]
            log.warning("batch of %d failed (%s); retrying one by one", len(indices), exc)
            outputs: list[str | Exception] = []
            for i in indices:
                try:
                    outputs.extend(_generate([texts[i]], loaded, settings))
                except Exception as single:
                    outputs.append(single)
            return outputs

    for indices, outputs in zip(batches, _run_all(run, batches, parallel), strict=True):
        for i, output in zip(indices, outputs, strict=True):
            results[i] = output
    return results


def _run_all(run: Callable[[list[int]], list[str | Exception]], batches: list[list[int]],
             parallel: int) -> list[list[str | Exception]]:
    """`run` over the batches, `parallel` at a time, waited for in short polls so that a task
    timeout can still interrupt the waiting thread; then the batches not started are
    dropped, not run."""
    if parallel <= 1 or len(batches) <= 1:
        return [run(batch) for batch in batches]
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="generate")
    try:
        futures = [pool.submit(run, batch) for batch in batches]
        while wait(futures, timeout=WAIT_SECONDS).not_done:
            pass
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _generate(texts: list[str], loaded: LoadedModel, settings: dict[str, Any]) -> list[str]:
    return loaded.engine.generate(texts, settings)


def cut_outputs(loaded: LoadedModel, outputs: list[str | Exception],
                max_new_tokens: int | None) -> list[bool]:
    """Per output: whether generation stopped at `max_new_tokens` mid-sentence."""
    texts = [o if isinstance(o, str) else "" for o in outputs]
    lengths = loaded.count_output_tokens(texts) if max_new_tokens else [0] * len(texts)
    return [cut_at_limit(text, length, max_new_tokens)
            for text, length in zip(texts, lengths, strict=True)]
