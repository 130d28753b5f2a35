"""Shards as plain logic: how a night is cut, and how the parent merges what shards hand back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.config import ConfigError, load_config
from tasks.records import Failure
from tasks.shards import ShardSpec, cut_shards, merge_shard_results, shard_result_document
from tasks.storage import ObjectInfo


def objects(*sizes: int) -> list[ObjectInfo]:
    return [ObjectInfo(f"k{i:03d}.txt", size) for i, size in enumerate(sizes)]


def test_shards_are_cut_by_count_from_sorted_keys():
    shuffled = list(reversed(objects(*[10] * 7)))
    shards = cut_shards(shuffled, per_shard=3, max_bytes=10**9)
    assert [[o.key for o in s] for s in shards] == [
        ["k000.txt", "k001.txt", "k002.txt"], ["k003.txt", "k004.txt", "k005.txt"],
        ["k006.txt"]]
    assert cut_shards(shuffled, 3, 10**9) == cut_shards(list(reversed(shuffled)), 3, 10**9)


def test_a_byte_cap_starts_a_new_shard_and_a_big_object_stands_alone():
    shards = cut_shards(objects(40, 40, 500, 10, 10), per_shard=10, max_bytes=100)
    assert [[o.size for o in s] for s in shards] == [[40, 40], [500], [10, 10]]


def test_a_shard_count_splits_evenly():
    assert [len(s) for s in cut_shards(objects(*[1] * 10), 200, 10**9, count=4)] == [3, 3, 3, 1]
    assert [len(s) for s in cut_shards(objects(1, 1), 200, 10**9, count=8)] == [1, 1]


def brief(article_id: str, uri: str) -> dict:
    return {"article_id": article_id, "source": {"uri": uri}, "summaries": {"en": "x"}}


def result(index: int, written: list[dict], digests: dict[str, str],
           unbriefed: list[Failure] = (), reused: list[dict] = ()) -> dict:
    spec = ShardSpec(run_id="r", index=index, count=3, keys=["k"], sizes=[1])
    return shard_result_document(spec, "flow-run", written, list(reused), list(unbriefed),
                                 digests, {"brief_seconds": 1.0})


def test_a_story_in_two_shards_appears_once_and_the_copy_names_the_first():
    first = result(0, [brief("a", "s3://in/a.txt"), brief("b", "s3://in/b.txt")],
                   {"a": "same", "b": "other"})
    later = result(2, [brief("c", "s3://in/c.txt")], {"c": "same"},
                   unbriefed=[Failure("d", "s3://in/d.txt", "too short")])
    merged = merge_shard_results([later, first])  # in any order: shard order decides
    assert [b["article_id"] for b in merged.written] == ["a", "b"]
    [copy, short] = merged.unbriefed
    assert copy.article_id == "c" and copy.status == "skipped"
    assert "duplicate of a (s3://in/a.txt, shard 1)" in copy.reason
    assert (short.article_id, short.reason) == ("d", "too short")


def test_a_reused_copy_is_recorded_once_as_the_duplicate():
    first = result(0, [brief("a", "s3://in/a.txt")], {"a": "same"})
    later = result(1, [], {"c": "same"}, reused=[brief("c", "s3://in/c.txt")],
                   unbriefed=[Failure("c", "s3://in/c.txt", "already briefed", "skipped")])
    merged = merge_shard_results([first, later])
    assert merged.reused == []
    [copy] = merged.unbriefed
    assert copy.article_id == "c" and copy.reason.startswith(
        "duplicate of a (s3://in/a.txt, shard 1)")


def test_scale_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BRIEFS_SCALE__MAX_IN_FLIGHT", "8")
    monkeypatch.setenv("BRIEFS_SCALE__SHARD_DEPLOYMENT", "briefs/gpu-shard")
    scale = load_config("tiny").scale
    assert (scale.max_in_flight, scale.shard_deployment, scale.shard_articles) == (
        8, "briefs/gpu-shard", 200)
    monkeypatch.setenv("BRIEFS_SCALE__SHARDS", "0")
    with pytest.raises(ConfigError, match="shards"):
        load_config("tiny")


@pytest.mark.usefixtures("prefect_api")
def test_shards_without_the_shard_deployment_fail_the_run_saying_what_to_do(
        tmp_path: Path, monkeypatch):
    from flows.briefs_flow import briefs

    source = tmp_path / "in"
    source.mkdir()
    for name in ("a", "b"):
        (source / f"{name}.txt").write_text("A story of twelve words that is long enough "
                                            f"to be summarised, {name}.")
    monkeypatch.setenv("BRIEFS_SCALE__SHARDS", "2")
    state = briefs(source=str(source), dest=str(tmp_path / "out"), models="tiny",
                   return_state=True)
    assert state.is_failed()
    assert "'briefs/shard' (scale.shard_deployment) does not exist" in state.message
    assert "make deploy" in state.message
