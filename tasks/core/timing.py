"""Sharing a batch's wall time over its articles."""

from __future__ import annotations

import time


def time_shares(started: float, weights: list[int]) -> list[int]:
    """Milliseconds since `started` (a `time.perf_counter()`), split over the articles of a
    batch by input size: batched work is shared."""
    total_ms = (time.perf_counter() - started) * 1000
    weight_sum = sum(weights) or 1
    return [int(total_ms * w / weight_sum) for w in weights]
