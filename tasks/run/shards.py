"""Shards of a night: which input objects each child run briefs, and what it hands back.

A shard run writes its briefs, then its result object last, under
`runs/<run_id>/shards/<shard>-<attempt>.json` (one per attempt: a late write of a dead
attempt cannot replace a live one's); the parent builds the manifest and the digests from
those results alone, never from memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from briefs.tasks.core.records import Failure
from briefs.tasks.output.storage import ObjectInfo

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
    ends_at: datetime | None = Field(None, description="the parent run's time limit (UTC)")
    config_hash: str | None = Field(None, description="the parent's configuration; a worker "
                                    "whose configuration differs refuses the shard")

    @model_validator(mode="after")
    def _a_size_per_key(self) -> ShardSpec:
        if len(self.sizes) != len(self.keys):
            raise ValueError(f"{len(self.keys)} keys but {len(self.sizes)} sizes")
        return self

    @property
    def label(self) -> str:
        return f"shard {self.index + 1}/{self.count}"

    @property
    def idempotency_key(self) -> str:
        """(run, shard, attempt) and the shard's keys: a re-run parent finds this child
        again, unless the shard's objects changed."""
        keys = hashlib.sha256("\n".join(self.keys).encode()).hexdigest()[:16]
        return f"{self.run_id}:{self.index}:{self.attempt}:{keys}"

    def objects(self) -> list[ObjectInfo]:
        return [ObjectInfo(key, size) for key, size in zip(self.keys, self.sizes, strict=True)]


def cut_shards(objects: list[ObjectInfo], per_shard: int, max_bytes: int,
               count: int | None = None) -> list[list[ObjectInfo]]:
    """Deterministic shards: keys sorted, at most `per_shard` objects (or `count` shards whose
    sizes differ by one at most) and at most `max_bytes` stored bytes each; an object larger
    than `max_bytes` is a shard of its own (so the byte cap may add shards to `count`)."""
    ordered = sorted(objects, key=lambda o: o.key)
    if count:  # the first `extra` shards hold one object more
        base, extra = divmod(len(ordered), count)
        limits = [base + 1] * extra + [base] * (count - extra)
    shards: list[list[ObjectInfo]] = []
    current: list[ObjectInfo] = []
    size = 0
    for info in ordered:
        limit = limits[min(len(shards), count - 1)] if count else per_shard
        if current and (len(current) >= limit or size + info.size > max_bytes):
            shards.append(current)
            current, size = [], 0
        current.append(info)
        size += info.size
    if current:
        shards.append(current)
    return shards


def shard_result_key(spec: ShardSpec) -> str:
    """Numbered from 1, as in the shard's label: shard 3, attempt 2 → `00003-2.json`."""
    return f"runs/{spec.run_id}/shards/{spec.index + 1:05d}-{spec.attempt + 1}.json"


def result_problem(result: dict[str, Any] | None, spec: ShardSpec) -> str | None:
    """Why a shard result cannot be taken for this attempt, or None when it can."""
    if result is None:
        return "it completed without writing its shard result"
    expected = {"format": SHARD_RESULT_FORMAT, "run_id": spec.run_id, "shard": spec.index,
                "attempt": spec.attempt, "keys": spec.keys}
    wrong = [name for name, value in expected.items() if result.get(name) != value]
    return f"its shard result does not match the shard ({', '.join(wrong)})" if wrong else None


def shard_result_document(spec: ShardSpec, flow_run_id: str, written: list[dict[str, Any]],
                          reused: list[dict[str, Any]], unbriefed: list[Failure],
                          text_digests: dict[str, str],
                          timings: dict[str, float]) -> dict[str, Any]:
    """What a shard run hands back: its briefs (as written or reused), every article it could
    not brief with the reason, and each briefed article's text digest (for duplicates found
    across shards). One parameter per field of the document: its format, spelled out."""
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
            total[name] = total.get(name, 0) + value
    return {name: round(value, 2) for name, value in total.items()}


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
