"""A night for the fanned-out tests: corpus articles in a moto bucket, the nightly deployment
started on them, and what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

from tests.corpus_sample import summaries
from tests.helpers import corpus_or_skip

NIGHT = "2026-11-27"


def put_night(s3, bucket: str, articles: int, copy_of_first: bool = False) -> list[str]:
    """`articles` short articles from the corpus (the first 80 words of each) under
    `<bucket>-in/NIGHT/`; with `copy_of_first`, the last one is the first one's text again,
    under a key that sorts last (so it lands in another shard). Returns the keys."""
    s3.create_bucket(Bucket=f"{bucket}-in")
    s3.create_bucket(Bucket=f"{bucket}-out")
    rows = summaries(corpus_or_skip(), articles)
    texts = {f"{NIGHT}/{row['id']}.txt": " ".join(row["article"].split()[:80]) for row in rows}
    if copy_of_first:
        first = sorted(texts)[0]
        texts.pop(sorted(texts)[-1])
        texts[f"{NIGHT}/zz-copy.txt"] = texts[first]
    for key, text in texts.items():
        s3.put_object(Bucket=f"{bucket}-in", Key=key, Body=text.encode())
    return sorted(texts)


def start_nightly(client, bucket: str):
    """A run of the nightly deployment on the bucket's night, German, tiny models."""
    deployment = client.read_deployment_by_name("briefs/nightly")
    return client.create_flow_run_from_deployment(deployment.id, parameters={
        "source": f"s3://{bucket}-in/{{date}}/", "dest": f"s3://{bucket}-out/{{date}}/",
        "date": NIGHT, "languages": ["de"], "models": "tiny"})


def read_json(s3, bucket: str, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def brief_keys(s3, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{NIGHT}/briefs/")
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def child_runs(client, parent_id) -> list:
    """The flow runs the parent run started (its shard runs)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    return client.read_flow_runs(flow_run_filter=FlowRunFilter(
        parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])))


def pid_of(flow_run) -> int:
    """The process a flow run ran in (its infrastructure_pid: `pid` or `host:pid`)."""
    return int((flow_run.infrastructure_pid or "0:0").rsplit(":", 1)[-1])


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether process `pid` is `ancestor` or one of its descendants."""
    while pid > 1 and pid != ancestor:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return pid == ancestor


def assert_the_killed_shard_ran_again(manifest: dict, shard_run_id) -> None:
    """The killed attempt crashed (its heartbeats stopped: the zombie automation) and the
    shard's last attempt completed."""
    killed = next(s for s in manifest["shards"]
                  if str(shard_run_id) in [a["flow_run_id"] for a in s["attempts"]])
    states = {a["flow_run_id"]: a["state"] for a in killed["attempts"]}
    assert states[str(shard_run_id)] == "Crashed", killed
    assert killed["attempts"][-1]["state"] == "Completed", killed


def assert_each_brief_written_once_and_whole(s3, proxy, bucket: str, count: int) -> None:
    """`count` briefs under the bucket's night, each PUT by one call (a retry took over the
    briefs a dead attempt had written) and each whole (English and German)."""
    briefs = brief_keys(s3, bucket)
    assert len(briefs) == count
    assert proxy.written_twice(f"{bucket}/{NIGHT}/briefs/") == {}
    for key in briefs:
        assert set(read_json(s3, bucket, key)["summaries"]) == {"en", "de"}, key
