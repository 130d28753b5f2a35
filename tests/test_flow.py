"""End to end: the `briefs` flow and CLI on a real Prefect API, moto S3 over HTTP, tiny models."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from briefs.flows.briefs_flow import briefs
from briefs.tasks.output.storage import S3_MAX_ATTEMPTS
from tests.corpus_sample import article_count, mixed_objects
from tests.helpers import SEEDS, FailingS3, corpus_or_skip, run_cli, run_logs

pytestmark = pytest.mark.usefixtures("prefect_api")
RUN_DATE = "2026-11-27"


def s3_objects(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return {key[len(prefix):]: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            for key in keys}


def check_briefs(briefs: dict[str, dict], languages: list[str]) -> None:
    for name, brief in briefs.items():
        assert name == f"{brief['article_id']}.json"
        for lang in ["en", *languages]:
            assert brief["summaries"][lang].strip(), (name, lang)
            assert brief["title"][lang].strip(), (name, lang)
        assert brief["source_language"] == "en" and brief["truncated"] is False
        assert brief["chunks"] >= 1 and len(brief["config_hash"]) == 16
        assert set(brief["models"]) == {"summarizer", *(f"translator_{x}" for x in languages)}
        assert any(w["code"] == "random_weights" and "random weights" in w["detail"]
                   for w in brief["warnings"])


def test_thirty_corpus_articles_from_s3_to_s3(s3):
    corpus = corpus_or_skip()
    objects = mixed_objects(corpus, {"txt": 8, "json": 7, "jsonl": 8, "html": 7})
    assert article_count(objects) == 30
    for bucket in ("news-in", "news-out"):
        s3.create_bucket(Bucket=bucket)
    for key, data in objects.items():
        s3.put_object(Bucket="news-in", Key=f"{RUN_DATE}/{key}", Body=data)

    code, output = run_cli(f"s3://news-in/{RUN_DATE}/", f"s3://news-out/{RUN_DATE}/",
                           "--languages", "de,fr", "--models", "tiny")

    assert code == 0, output
    written = s3_objects(s3, "news-out", f"{RUN_DATE}/")
    briefs = {k.removeprefix("briefs/"): json.loads(v) for k, v in written.items()
              if k.startswith("briefs/")}
    assert len(briefs) == 30
    check_briefs(briefs, ["de", "fr"])
    assert sorted(k for k in written if k.startswith("digests/")) == [
        f"digests/{lang}.{ext}" for lang in ("de", "en", "fr") for ext in ("html", "md")]
    manifest = json.loads(written["manifest.json"])
    assert manifest["counts"] == {"total": 30, "succeeded": 30, "failed": 0, "skipped": 0}
    assert {a["status"] for a in manifest["articles"]} == {"succeeded"}
    inputs_after = s3_objects(s3, "news-in", f"{RUN_DATE}/")
    assert inputs_after == objects  # inputs are only read


def test_local_folder_every_format_with_failures_recorded(tmp_path):
    corpus = corpus_or_skip()
    source, dest = tmp_path / "in", tmp_path / "out"
    objects = mixed_objects(corpus, {"txt": 1, "md": 1, "json": 1, "jsonl": 2, "html": 1})
    seed = next(SEEDS.glob("*.txt"))
    objects[seed.name] = seed.read_bytes()
    objects["hostile.json"] = json.dumps({
        "title": "<script>alert('x')</script> & friends",
        "body": "<b>Bold</b> claims " + corpus.joinpath("summaries.jsonl").read_text()[:1500],
    }).encode()
    objects["empty.txt"] = b""
    objects["notes.csv"] = b"a,b\n1,2\n"
    for key, data in objects.items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(data)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.rglob("*")
              if p.is_file()}

    code, output = run_cli(str(source), str(dest), "--languages", "de", "--models", "tiny")

    assert code == 2, output  # some failed, the rest written
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["counts"] == {"total": 10, "succeeded": 8, "failed": 1, "skipped": 1}
    by_status = {a["status"]: a for a in manifest["articles"] if a["status"] != "succeeded"}
    assert "empty article" in by_status["failed"]["reason"]
    assert by_status["failed"]["source"].endswith("empty.txt")
    assert "unsupported file type" in by_status["skipped"]["reason"]
    briefs = {p.name: json.loads(p.read_text()) for p in (dest / "briefs").glob("*.json")}
    assert len(briefs) == 8
    check_briefs(briefs, ["de"])
    seed_brief = next(b for b in briefs.values() if b["source"]["key"] == seed.name)
    assert seed_brief["chunks"] > 1 and seed_brief["truncated"] is False
    html_digest = (dest / "digests" / "en.html").read_text()
    assert "<script>" not in html_digest and "<b>" not in html_digest
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; friends" in html_digest
    assert "<script>" not in (dest / "digests" / "en.md").read_text()
    assert not list(dest.rglob(".*"))  # no temporary files left behind
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.rglob("*")
             if p.is_file()}
    assert after == before


def test_s3_faults_beyond_botocore_retries_are_retried_by_the_task(s3):
    corpus = corpus_or_skip()
    s3.create_bucket(Bucket="flaky-in")
    s3.create_bucket(Bucket="flaky-out")
    for key, data in mixed_objects(corpus, {"txt": 2}).items():
        s3.put_object(Bucket="flaky-in", Key=key, Body=data)
    with FailingS3(times=S3_MAX_ATTEMPTS) as fault:  # exhausts botocore's attempts once
        state = briefs("s3://flaky-in/", "s3://flaky-out/", languages=["de"], models="tiny",
                       return_state=True)
    assert fault.failed == S3_MAX_ATTEMPTS
    assert state.is_completed(), state.message
    manifest = json.loads(s3.get_object(Bucket="flaky-out", Key="manifest.json")["Body"].read())
    assert manifest["counts"]["succeeded"] == 2
    logs = run_logs(state.state_details.flow_run_id, task_names=True)
    assert any(line.startswith("read-articles 1/1: ") and "Retry 1/3" in line for line in logs)
    ids = [a["article_id"] for a in manifest["articles"]]
    for task_name in ("read-articles 1/1", "summarize 1/1", "translate 1/1", "write-briefs 1/1"):
        lines = [line for line in logs if line.startswith(f"{task_name}: batch 1/1")]
        assert lines and all(i in lines[0] for i in ids), (task_name, logs)


def test_a_missing_bucket_fails_the_run_with_its_name(s3, tmp_path: Path):
    code, output = run_cli("s3://no-such-news-bucket/x/", str(tmp_path / "out"),
                           "--languages", "de", "--models", "tiny")
    assert code == 1
    assert "NoSuchBucket" in output and "s3://no-such-news-bucket/x/" in output


def test_a_bad_configuration_fails_before_the_run(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("languages: [de]\nmodels: {summarizer: {id: s}, translators: {default: "
                   "{id: t}}}\nbatching: {max_tokenz: 1}\n")
    code, output = run_cli(str(SEEDS), str(tmp_path / "out"), "--config", str(bad))
    assert code == 1 and "batching.max_tokenz" in output


def test_the_progress_artifact_is_found_by_its_night_with_the_estimated_finish(tmp_path):
    """The run's progress artifact is keyed and described by its night (the UI lists it by
    that name, not a UUID), and tells the objects done of the total, the rate and the
    estimated finish."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    from briefs.flows.artifacts import Progress

    night = "2026-12-05"
    source = tmp_path / "in"
    for key, data in mixed_objects(corpus_or_skip(), {"txt": 2, "json": 1}).items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(data)
    state = briefs(str(source), str(tmp_path / "out"), date=night, languages=["de"],
                   models="tiny", return_state=True)
    assert state.is_completed(), state.message

    def by_key(key: str, **filters) -> list:
        with get_client(sync_client=True) as client:
            return client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), **filters))

    [artifact] = by_key("briefs-progress-2026-12-05", flow_run_id=ArtifactFilterFlowRunId(
        any_=[state.state_details.flow_run_id]))
    assert artifact.type == "progress" and artifact.data == 100.0
    title, _, header, _, row = artifact.description.splitlines()
    assert title == f"**Night {night}**: 3 of 3 input objects briefed"
    assert header == "| done | total | rate | estimated finish |"
    done, total, rate, finish = (cell.strip() for cell in row.strip("|").split("|"))
    assert (done, total) == ("3", "3") and rate.endswith(" objects/min") and float(rate[:-12])
    assert finish.startswith("finished " + datetime.now(ZoneInfo("Europe/Berlin")).strftime("%Y"))

    @flow
    def half_way() -> None:
        """One object of three a minute after the start: two more in two minutes."""
        progress = Progress(3, night="2001-02-03", timezone="Europe/Berlin")
        progress.started -= 60
        progress.update(1)

    half_way()
    [halfway] = by_key("briefs-progress-2001-02-03")  # never a run's yesterday
    assert halfway.data == pytest.approx(100 / 3)
    row = halfway.description.splitlines()[-1]
    done, total, rate, finish = (cell.strip() for cell in row.strip("|").split("|"))
    assert (done, total, rate) == ("1", "3", "1.0 objects/min")
    when, _, left = finish.partition(" (")
    assert left == "in about 2 min)"
    expected = datetime.now(UTC) + timedelta(seconds=120)
    shown = datetime.strptime(when.rsplit(" ", 1)[0], "%Y-%m-%d %H:%M").replace(
        tzinfo=ZoneInfo("Europe/Berlin"))
    assert abs(shown - expected) < timedelta(minutes=2)
