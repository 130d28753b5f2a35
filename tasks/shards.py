"""Shards of a night: which input objects each child run briefs, and what it hands back.

A shard run writes its briefs, then its result object last, under
`runs/<run_id>/shards/<index>.json`; the parent builds the manifest and the digests from
those results alone, so a parent that restarts loses nothing a shard finished.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tasks.records import Failure
from tasks.storage import ObjectInfo

SHARD_RESULT_FORMAT = 1


class ShardSpec(BaseModel):
    """One shard of a parent run, as the parent hands it to a child run of the shard
    deployment. Set by the parent run; leave empty when starting a run by hand."""

    model_config = ConfigDict(frozen=True)

    run_id: str = Field(description="the parent run: briefs and results are recorded under it")
    index: int = Field(ge=0, description="0-based position of this shard")
    count: int = Field(ge=1, description="shards of the parent run")
    attempt: int = Field(0, ge=0, description="0 first, then one more per resubmission")
    keys: list[str] = Field(min_length=1, description="input object keys, under the source")
    sizes: list[int] = Field(description="stored size of each key, in bytes")
    seconds_left: float | None = Field(None, description="the parent run's time left")

    @property
    def label(self) -> str:
        return f"shard {self.index + 1}/{self.count}"

    def objects(self) -> list[ObjectInfo]:
        return [ObjectInfo(key, size) for key, size in zip(self.keys, self.sizes, strict=True)]


def cut_shards(objects: list[ObjectInfo], per_shard: int, max_bytes: int,
               count: int | None = None) -> list[list[ObjectInfo]]:
    """Deterministic shards: keys sorted, at most `per_shard` objects (or an even split into
    `count` shards) and at most `max_bytes` stored bytes each; an object larger than
    `max_bytes` is a shard of its own."""
    if count:
        per_shard = max(math.ceil(len(objects) / count), 1)
    shards: list[list[ObjectInfo]] = []
    current: list[ObjectInfo] = []
    size = 0
    for info in sorted(objects, key=lambda o: o.key):
        if current and (len(current) >= per_shard or size + info.size > max_bytes):
            shards.append(current)
            current, size = [], 0
        current.append(info)
        size += info.size
    if current:
        shards.append(current)
    return shards


def shard_result_key(run_id: str, index: int) -> str:
    return f"runs/{run_id}/shards/{index:05d}.json"


def shard_result_document(spec: ShardSpec, flow_run_id: str, written: list[dict[str, Any]],
                          reused: list[dict[str, Any]], unbriefed: list[Failure],
                          text_digests: dict[str, str],
                          timings: dict[str, float]) -> dict[str, Any]:
    """What a shard run hands back: its briefs (as written or reused), every article it could
    not brief with the reason, and each briefed article's text digest (for duplicates found
    across shards)."""
    return {
        "format": SHARD_RESULT_FORMAT,
        "run_id": spec.run_id,
        "shard": spec.index,
        "attempt": spec.attempt,
        "flow_run_id": flow_run_id,
        "keys": spec.keys,
        "written": written,
        "reused": reused,
        "unbriefed": [f.manifest_entry() for f in unbriefed],
        "text_sha256": text_digests,
        "timings": timings,
    }


def sum_timings(timings: Iterable[dict[str, float]]) -> dict[str, float]:
    """The shards' timings added up (seconds of work, not wall time)."""
    total: dict[str, float] = {}
    for one in timings:
        for name, value in one.items():
            total[name] = round(total.get(name, 0) + value, 2)
    return total


@dataclass
class MergedShards:
    """Every article of the night, gathered from the shard results."""

    written: list[dict[str, Any]] = field(default_factory=list)
    reused: list[dict[str, Any]] = field(default_factory=list)
    unbriefed: list[Failure] = field(default_factory=list)


def merge_shard_results(results: list[dict[str, Any]]) -> MergedShards:
    """Gather shard results in shard order. A story whose text another shard briefed first is
    kept out of the digests and recorded as a skipped duplicate naming the first copy."""
    merged = MergedShards()
    first_by_text: dict[str, tuple[str, str, int]] = {}
    for result in sorted(results, key=lambda r: r["shard"]):
        digests, shard = result["text_sha256"], result["shard"]
        duplicates: set[str] = set()
        for kind in ("written", "reused"):
            for brief in result[kind]:
                article_id, uri = brief["article_id"], brief["source"]["uri"]
                first = first_by_text.setdefault(digests.get(article_id, article_id),
                                                 (article_id, uri, shard))
                if first[0] == article_id:
                    getattr(merged, kind).append(brief)
                    continue
                duplicates.add(article_id)
                merged.unbriefed.append(Failure(
                    article_id, uri, f"duplicate of {first[0]} ({first[1]}, shard "
                    f"{first[2] + 1}): same text; this copy's brief (shard {shard + 1}) is "
                    "left out of the digests", status="skipped"))
        merged.unbriefed += [Failure(e["article_id"], e["source"], e["reason"], e["status"])
                             for e in result["unbriefed"] if e["article_id"] not in duplicates]
    return merged
