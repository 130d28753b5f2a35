"""Storage over a real S3 endpoint (moto's server over HTTP) and a local folder."""

from __future__ import annotations

import pytest

from briefs.tasks.output.storage import S3_MAX_ATTEMPTS, LocalStore, StorageError, open_store
from tests.helpers import FailingS3


@pytest.fixture
def bucket(s3, request) -> str:
    name = request.node.name.lower().replace("_", "-")[:50]
    s3.create_bucket(Bucket=name)
    return name


def test_s3_list_read_write(s3, bucket):
    s3.put_object(Bucket=bucket, Key="in/a.txt", Body=b"alpha")
    s3.put_object(Bucket=bucket, Key="in/sub/b.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="other/c.txt", Body=b"not mine")
    store = open_store(f"s3://{bucket}/in/")
    listed = store.list()
    assert [(o.key, o.size) for o in listed] == [("a.txt", 5), ("sub/b.json", 2)]
    assert all(o.etag for o in listed)
    assert store.read("a.txt") == b"alpha"
    store.write("briefs/x.json", b'{"ok": true}', "application/json")
    written = s3.get_object(Bucket=bucket, Key="in/briefs/x.json")
    assert written["Body"].read() == b'{"ok": true}'
    assert written["ContentType"] == "application/json"


def test_a_transient_503_is_retried_by_botocore(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"alpha")
    with FailingS3(times=1) as fault:
        store = open_store(f"s3://{bucket}/")
        assert store.read("a.txt") == b"alpha"
    assert fault.failed == 1


def test_503s_beyond_botocore_retries_surface_as_transient(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"alpha")
    with FailingS3(times=S3_MAX_ATTEMPTS):
        store = open_store(f"s3://{bucket}/")
        with pytest.raises(StorageError) as caught:
            store.read("a.txt")
    assert caught.value.transient and "SlowDown" in str(caught.value)
    assert f"s3://{bucket}/a.txt" in str(caught.value)


@pytest.mark.parametrize(("uri", "key", "code"), [
    ("s3://no-such-bucket-here/in/", "a.txt", "NoSuchBucket"),
    (None, "missing.txt", "NoSuchKey"),
])
def test_permanent_errors_fail_fast_naming_bucket_and_key(s3, bucket, uri, key, code):
    store = open_store(uri or f"s3://{bucket}/in/")
    with pytest.raises(StorageError) as caught:
        store.read(key)
    assert not caught.value.transient
    assert code in str(caught.value) and store.uri_of(key) in str(caught.value)


def test_local_writes_are_whole_and_leave_no_temporary_files(tmp_path):
    store = LocalStore(tmp_path / "out")
    store.write("briefs/a.json", b"1" * 10_000, "application/json")
    store.write("briefs/a.json", b"2", "application/json")
    assert (tmp_path / "out/briefs/a.json").read_bytes() == b"2"
    assert [p.name for p in (tmp_path / "out/briefs").iterdir()] == ["a.json"]


@pytest.mark.parametrize("key", ["../escape.json", "/abs.json", "a/../../b.json", ""])
def test_keys_cannot_escape_the_destination(tmp_path, key):
    with pytest.raises(StorageError, match="unsafe object key"):
        LocalStore(tmp_path).write(key, b"x", "text/plain")


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(StorageError, match="unsupported scheme 'gs'"):
        open_store("gs://bucket/x/")


def _client_error(code: str, status: int):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(("error", "transient"), [
    (_client_error("SlowDown", 503), True),
    (_client_error("InternalError", 500), True),
    (_client_error("AccessDenied", 403), False),
    (_client_error("NoSuchKey", 404), False),
])
def test_client_errors_are_told_transient_or_permanent(error, transient):
    from briefs.tasks.output.storage import as_storage_error

    converted = as_storage_error(error, "s3://b/k")
    assert converted.transient is transient and str(converted).startswith("s3://b/k: ")


def test_network_errors_are_transient():
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    from briefs.tasks.output.storage import as_storage_error

    for error in (ReadTimeoutError(endpoint_url="http://x"),
                  ConnectionClosedError(endpoint_url="http://x"),
                  EndpointConnectionError(endpoint_url="http://x")):
        assert as_storage_error(error, "s3://b/k").transient


def test_listing_under_a_sub_folder(s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="out/briefs/a.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="out/manifest.json", Body=b"{}")
    assert [o.key for o in open_store(f"s3://{bucket}/out/").list(under="briefs/")] == [
        "briefs/a.json"]
    missing = LocalStore(tmp_path / "not-yet")
    assert missing.list(under="briefs/") == []  # a destination not written yet
    with pytest.raises(StorageError, match="no such folder"):
        missing.list()  # a source that does not exist is an error
