"""S3 faults: at 10% injected 503s and dropped connections, every article is briefed once."""

from __future__ import annotations

import json

import boto3
import pytest

from flows.briefs_flow import briefs
from tests.conftest import corpus_or_skip
from tests.corpus_sample import article_count, mixed_objects
from tests.fault_proxy import FaultProxy

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_ten_percent_faults_lose_and_repeat_nothing(s3, s3_endpoint, monkeypatch):
    objects = mixed_objects(corpus_or_skip(), {"txt": 12, "json": 8, "jsonl": 6, "html": 4})
    for bucket in ("faulty-in", "faulty-out"):
        s3.create_bucket(Bucket=bucket)
    for key, data in objects.items():
        s3.put_object(Bucket="faulty-in", Key=key, Body=data)

    with FaultProxy(s3_endpoint, fault_rate=0.10) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        state = briefs("s3://faulty-in/", "s3://faulty-out/", languages=["de", "fr"],
                       models="tiny", return_state=True)

    assert proxy.counts["503"] > 0 and proxy.counts["dropped"] > 0, proxy.counts
    assert state.is_completed(), state.message
    direct = boto3.client("s3", endpoint_url=s3_endpoint)
    listed = direct.list_objects_v2(Bucket="faulty-out", Prefix="briefs/")["Contents"]
    manifest = json.loads(direct.get_object(Bucket="faulty-out", Key="manifest.json")["Body"]
                          .read())
    expected = article_count(objects)
    assert len(listed) == expected
    assert manifest["counts"] == {"total": expected, "succeeded": expected, "failed": 0,
                                  "skipped": 0}
    ids = [entry["article_id"] for entry in manifest["articles"]]
    assert len(set(ids)) == len(ids) == expected
    assert sorted(f"briefs/{i}.json" for i in ids) == sorted(o["Key"] for o in listed)


def test_credentials_and_endpoint_from_an_aws_credentials_block(s3, s3_endpoint, tmp_path,
                                                                monkeypatch):
    from prefect_aws import AwsClientParameters, AwsCredentials

    from tasks.config import CONFIGS_DIR

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
