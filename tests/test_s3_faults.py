"""S3 faults through a fault-injecting proxy in front of the moto server.

Every fault kind of `tests/fault_proxy.py` at a 10% rate still briefs every article exactly
once; permanent errors fail their article after one GET; transient ones are retried.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

from briefs.flows.briefs_flow import briefs
from briefs.tasks.output.storage import S3_MAX_ATTEMPTS, StorageError, as_storage_error, open_store
from tests.corpus_sample import article_count, mixed_objects
from tests.fault_proxy import FAULT_KINDS, ErrorRule, FaultProxy, FaultRule
from tests.helpers import corpus_or_skip

pytestmark = pytest.mark.usefixtures("prefect_api")
READ_TIMEOUT = 2  # seconds, the client's read timeout in these tests
SLOW = READ_TIMEOUT + 1  # a `slow` answer comes after the client has given up


def upload(s3, bucket: str, objects: dict[str, bytes]) -> None:
    s3.create_bucket(Bucket=bucket)
    for key, data in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)


def read_manifest(endpoint: str, bucket: str) -> dict:
    """The run's manifest, read around the proxy."""
    direct = boto3.client("s3", endpoint_url=endpoint)
    return json.loads(direct.get_object(Bucket=bucket, Key="manifest.json")["Body"].read())


def brief_keys(endpoint: str, bucket: str) -> list[str]:
    direct = boto3.client("s3", endpoint_url=endpoint)
    pages = direct.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="briefs/")
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def entry_of(manifest: dict, source: str) -> dict:
    return next(e for e in manifest["articles"] if e["source"] == source)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_on_a_read_is_retried(s3, s3_endpoint, monkeypatch, kind):
    upload(s3, f"once-{kind.replace('_', '-')}", {"a.txt": b"alpha " * 1000})
    key = f"once-{kind.replace('_', '-')}/a.txt"
    with FaultProxy(s3_endpoint, 0.0, slow_seconds=SLOW,
                    rules=[FaultRule("GET", key, kind, times=1)]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        store = open_store(f"s3://{key.split('/')[0]}/", read_timeout=READ_TIMEOUT)
        assert store.read("a.txt") == b"alpha " * 1000
    reached_store = kind not in ("503", "dropped")
    assert proxy.counts[kind] == 1 and proxy.rule_arrivals == [2]
    assert proxy.stored[("GET", key)] == (2 if reached_store else 1)


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k != "truncated"])
def test_each_fault_kind_on_a_write_is_retried_by_the_same_call(s3, s3_endpoint, monkeypatch,
                                                                kind):
    bucket = f"put-{kind.replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)
    with FaultProxy(s3_endpoint, 0.0, slow_seconds=SLOW,
                    rules=[FaultRule("PUT", f"{bucket}/b.json", kind, times=1)]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        store = open_store(f"s3://{bucket}/", read_timeout=READ_TIMEOUT)
        store.write("b.json", b"{}", "application/json")
    puts = proxy.stored_puts[f"{bucket}/b.json"]
    assert [p.answered for p in puts] == ([True] if kind in ("503", "dropped") else
                                          [False, True])
    assert len({p.call for p in puts}) == 1 and [p.attempt for p in puts][-1] == 2
    assert proxy.written_twice() == {} and proxy.unexplained_retries() == {}


def test_the_proxy_counts_a_second_call_for_a_key_as_a_second_write(s3, s3_endpoint):
    s3.create_bucket(Bucket="twice")
    with FaultProxy(s3_endpoint, 0.0) as proxy:
        client = boto3.client("s3", endpoint_url=proxy.url)
        client.put_object(Bucket="twice", Key="b.json", Body=b"1")
        client.put_object(Bucket="twice", Key="b.json", Body=b"2")
    assert proxy.written_twice() == {"twice/b.json": 1}


def test_a_body_cut_short_on_every_read_is_transient_after_every_attempt(s3, s3_endpoint,
                                                                         monkeypatch):
    upload(s3, "cut-short", {"a.txt": b"alpha " * 1000})
    with FaultProxy(s3_endpoint, 0.0,
                    rules=[FaultRule("GET", "cut-short/a.txt", "truncated")]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        with pytest.raises(StorageError) as caught:
            open_store("s3://cut-short/").read("a.txt")
    assert caught.value.transient
    assert str(caught.value).startswith(
        f"s3://cut-short/a.txt: the body was cut short on each of {S3_MAX_ATTEMPTS} reads: ")
    assert proxy.stored[("GET", "cut-short/a.txt")] == S3_MAX_ATTEMPTS


def test_an_incomplete_body_is_transient():
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError

    for exc in (IncompleteReadError(actual_bytes=10, expected_bytes=20),
                ReadTimeoutError(endpoint_url="http://127.0.0.1:1/b/k")):
        error = as_storage_error(exc, "s3://b/k")
        assert isinstance(error, StorageError) and error.transient, exc
        assert str(error).startswith("s3://b/k: ")


def test_storage_timeouts_come_from_the_configuration(s3, monkeypatch):
    from briefs.tasks.core.config import load_config
    from briefs.tasks.steps import _store

    monkeypatch.setenv("BRIEFS_STORAGE__READ_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("BRIEFS_STORAGE__CONNECT_TIMEOUT_SECONDS", "3")
    config: Config = _store("s3://any-bucket/", load_config("tiny")).client.meta.config
    assert (config.read_timeout, config.connect_timeout) == (2.5, 3)
    assert config.retries["total_max_attempts"] == S3_MAX_ATTEMPTS


def test_every_fault_kind_at_ten_percent_briefs_every_article_once(s3, s3_endpoint,
                                                                   monkeypatch):
    objects = mixed_objects(corpus_or_skip(), {"txt": 12, "json": 8, "jsonl": 6, "html": 4})
    upload(s3, "faulty-in", objects)
    s3.create_bucket(Bucket="faulty-out")
    monkeypatch.setenv("BRIEFS_STORAGE__READ_TIMEOUT_SECONDS", str(READ_TIMEOUT))

    with FaultProxy(s3_endpoint, fault_rate=0.10, slow_seconds=SLOW) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        briefs("s3://faulty-in/", "s3://faulty-out/", languages=["de", "fr"], models="tiny",
               return_state=True)

    print("proxy counts:", dict(proxy.counts))
    assert all(proxy.counts[kind] > 0 for kind in FAULT_KINDS), proxy.counts
    expected = article_count(objects)
    manifest = read_manifest(s3_endpoint, "faulty-out")
    assert manifest["counts"] == {"total": expected, "succeeded": expected, "failed": 0,
                                  "skipped": 0}, manifest["articles"]
    ids = [entry["article_id"] for entry in manifest["articles"]]
    listed = brief_keys(s3_endpoint, "faulty-out")
    assert sorted(f"briefs/{i}.json" for i in ids) == sorted(listed)
    assert len(set(ids)) == len(ids) == expected
    stored = {key: puts for key, puts in proxy.stored_puts.items()
              if key.startswith("faulty-out/briefs/")}
    assert sorted(stored) == sorted(f"faulty-out/{key}" for key in listed)
    assert proxy.written_twice("faulty-out/briefs/") == {}
    assert proxy.unexplained_retries("faulty-out/briefs/") == {}
    assert any(len(puts) > 1 for puts in stored.values()), "no brief PUT was retried"


@pytest.mark.parametrize(("status", "code"), [(403, "AccessDenied"), (404, "NoSuchKey")])
def test_a_permanent_read_error_fails_its_article_after_one_get(s3, s3_endpoint, monkeypatch,
                                                                 status, code):
    objects = mixed_objects(corpus_or_skip(), {"txt": 3})
    bucket = f"denied-{status}"
    upload(s3, bucket, objects)
    s3.create_bucket(Bucket=f"{bucket}-out")
    victim = sorted(objects)[0]

    with FaultProxy(s3_endpoint, 0.0,
                    rules=[ErrorRule("GET", f"{bucket}/{victim}", status, code)]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        briefs(f"s3://{bucket}/", f"s3://{bucket}-out/", languages=["de"], models="tiny",
               return_state=True)

    assert proxy.rule_arrivals == [1]  # neither botocore nor the task retried it
    manifest = read_manifest(s3_endpoint, f"{bucket}-out")
    failed = entry_of(manifest, f"s3://{bucket}/{victim}")
    assert failed["status"] == "failed"
    assert failed["reason"].startswith(f"s3://{bucket}/{victim}: {code}: "), failed
    assert manifest["counts"]["succeeded"] == len(objects) - 1


def test_a_transient_read_fault_beyond_botocore_retries_is_retried_by_the_task(
        s3, s3_endpoint, monkeypatch):
    objects = mixed_objects(corpus_or_skip(), {"txt": 3})
    upload(s3, "throttled", objects)
    s3.create_bucket(Bucket="throttled-out")
    victim = sorted(objects)[0]
    refused = S3_MAX_ATTEMPTS + 1  # more than one botocore call can take

    with FaultProxy(s3_endpoint, 0.0, rules=[ErrorRule(
            "GET", f"throttled/{victim}", 503, "SlowDown", times=refused)]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        briefs("s3://throttled/", "s3://throttled-out/", languages=["de"], models="tiny",
               return_state=True)

    assert proxy.rule_arrivals == [refused + 1]  # the task's retry called again
    manifest = read_manifest(s3_endpoint, "throttled-out")
    assert entry_of(manifest, f"s3://throttled/{victim}")["status"] == "succeeded"
    assert manifest["counts"]["succeeded"] == len(objects)


def test_credentials_and_endpoint_from_an_aws_credentials_block(s3, s3_endpoint, tmp_path,
                                                                monkeypatch):
    from prefect_aws import AwsClientParameters, AwsCredentials

    from briefs.tasks.core.config import CONFIGS_DIR

    s3.create_bucket(Bucket="block-in")
    s3.create_bucket(Bucket="block-out")
    for key, data in mixed_objects(corpus_or_skip(), {"txt": 2}).items():
        s3.put_object(Bucket="block-in", Key=key, Body=data)
    AwsCredentials(aws_access_key_id="block-key", aws_secret_access_key="block-secret",
                   region_name="us-east-1",
                   aws_client_parameters=AwsClientParameters(endpoint_url=s3_endpoint),
                   ).save("moto-s3", overwrite=True)
    config = tmp_path / "tiny-with-block.yaml"
    config.write_text((CONFIGS_DIR / "tiny.yaml").read_text()
                      + "storage: {aws_credentials_block: moto-s3}\n")
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)  # without the block, boto3 would find no endpoint or keys

    state = briefs("s3://block-in/", "s3://block-out/", languages=["de"], config=str(config),
                   return_state=True)

    assert state.is_completed(), state.message
    direct = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="x",
                          aws_secret_access_key="x", region_name="us-east-1")
    assert len(direct.list_objects_v2(Bucket="block-out", Prefix="briefs/")["Contents"]) == 2
