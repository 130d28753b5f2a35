"""Where articles come from and briefs go: a local folder or an S3 prefix, one small interface.

S3 endpoint, region and credentials come from boto3's own chain (`AWS_ENDPOINT_URL`,
`AWS_PROFILE`, environment keys, instance roles), so the same code talks to AWS, MinIO or
any S3-compatible store. Objects are always written whole.

Retries: every S3 call goes through botocore's standard retry mode, `S3_MAX_ATTEMPTS`
attempts with jittered exponential backoff, for throttling, 5xx, dropped connections and
timeouts. Writes get no other retry (a task retry would write a whole batch again), so the
attempts are sized for them: at a 10% fault rate one PUT fails all 6 attempts with p = 1e-6
(4 attempts gave 1e-4, about one failed brief in a 2,000-article soak). A GetObject body cut
short surfaces outside botocore's loop, when the body is read: `S3Store.read` sends the GET
again, up to `S3_MAX_ATTEMPTS` times, then raises a transient `StorageError` for the read
task's retries. Timeouts come from `storage.read_timeout_seconds` and
`storage.connect_timeout_seconds` in the configuration.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlparse

import tenacity

log = logging.getLogger(__name__)
_CLIENT_LOCK = threading.Lock()

TRANSIENT_S3_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "503", "500", "502", "504",
}
S3_MAX_ATTEMPTS = 6  # attempts per call, first one included (botocore standard mode)
READ_TIMEOUT_SECONDS = 60.0  # defaults; the configuration's storage section sets them
CONNECT_TIMEOUT_SECONDS = 10.0
MAX_LINK_SECONDS = 7 * 24 * 3600  # a SigV4 presigned URL lives at most a week
BUCKET_NAME = re.compile(r"^[A-Za-z0-9._-]{3,63}$")  # (lowercase since 2018; older ones may not be)


class StorageError(RuntimeError):
    """A storage operation that failed; the message names the bucket or folder and the key."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the store's root, '/'-separated
    size: int
    etag: str | None = None


class Store(Protocol):
    uri: str

    def list(self, under: str = "") -> list[ObjectInfo]: ...
    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes, content_type: str) -> None: ...
    def uri_of(self, key: str) -> str: ...
    def share_link(self, key: str, expires_seconds: int) -> str: ...


def s3_client_config(read_timeout: float = READ_TIMEOUT_SECONDS,
                     connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                     attempts: int = S3_MAX_ATTEMPTS):
    """botocore settings for every S3 client: standard retries with jitter, timeouts, and
    SigV4 (botocore would presign with SigV2 in the older regions; newer buckets refuse it).
    `attempts` counts the first one; the pre-flight probe takes fewer, and shorter timeouts."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "total_max_attempts": attempts},
                  connect_timeout=connect_timeout, read_timeout=read_timeout,
                  signature_version="s3v4")


def open_store(uri: str, s3_client: Any = None, *, read_timeout: float = READ_TIMEOUT_SECONDS,
               connect_timeout: float = CONNECT_TIMEOUT_SECONDS) -> Store:
    """A store for `s3://bucket/prefix/` or a local folder path (or `file://` URI).

    `s3_client` replaces the client from boto3's default chain (e.g. one built from a
    Prefect AwsCredentials block); the timeouts (seconds) are for the default client.
    """
    if problem := uri_problem(uri):
        raise StorageError(problem)
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        client = s3_client or _s3_client(s3_client_config(read_timeout, connect_timeout))
        return S3Store(parsed.netloc, parsed.path.lstrip("/"), client)
    return LocalStore(Path(parsed.path if parsed.scheme == "file" else uri))


def uri_problem(uri: str) -> str | None:
    """What is wrong with a source or destination URI, in one line with the way out; None
    when it names a folder, a `file://` path or an S3 bucket (and prefix)."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if uri[:5].lower() != "s3://" or not parsed.netloc:
            rest = uri.split(":", 1)[1].lstrip("/") or "bucket/prefix/"
            return (f"{uri!r} is not an S3 URI: write s3://{rest} (s3:// and the bucket, e.g. "
                    "s3://news-in/2026-11-27/)")
        if not BUCKET_NAME.match(parsed.netloc):
            return (f"{uri}: {parsed.netloc!r} is not an S3 bucket name (3 to 63 letters, "
                    "digits, dots and hyphens)")
        return None
    if parsed.scheme in ("", "file"):
        return None
    return (f"{uri}: unsupported scheme {parsed.scheme!r}; use a folder or "
            "s3://bucket/prefix/")


def object_uri(root: str, key: str) -> str:
    """The URI of `key` under a source or destination, as its store names it (an absolute
    path for a local folder), so manifests use one form whatever the user typed."""
    parsed = urlparse(root)
    if parsed.scheme == "s3":
        return f"{root.rstrip('/')}/{key}"
    folder = Path(parsed.path if parsed.scheme == "file" else root)
    return str(folder.expanduser().resolve() / key)


def _s3_client(config: Any) -> Any:
    """An S3 client from boto3's default chain. Reads and writes run in the task runner's
    threads: clients are thread-safe, making them from one session is not, hence the lock."""
    import boto3

    with _CLIENT_LOCK:
        return boto3.client("s3", config=config)


def safe_relative_key(key: str) -> str:
    """Refuse keys that would escape the store's root (absolute, `..`, empty parts) or that
    no file can be named (a NUL byte)."""
    parts = PurePosixPath(key).parts
    if (not parts or key.startswith("/") or "\x00" in key
            or any(p in ("..", ".", "") for p in parts)):
        raise StorageError(f"unsafe object key {key!r}")
    return key


class LocalStore:
    """A local folder; writes go through a temporary file and an atomic rename. A key is
    read or written only where it lies inside the folder once symbolic links are followed:
    a link in it to a file or folder elsewhere is refused, with the reason."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()
        self.uri = str(self.root)

    def uri_of(self, key: str) -> str:
        return str(self.root / key)

    def _path(self, key: str) -> Path:
        """The file of `key`, refused unless it is under the root, links followed."""
        path = self.root / safe_relative_key(key)
        try:
            inside = path.resolve().is_relative_to(self.root)
        except (OSError, RuntimeError) as exc:  # a loop of links
            raise StorageError(f"{path}: {exc}") from exc
        if not inside:
            raise StorageError(f"{path}: a symbolic link leads outside {self.root}; "
                               "not read or written")
        return path

    def share_link(self, key: str, expires_seconds: int) -> str:
        """A link to `key` for people on this machine or share: its file:// URI (the
        lifetime does not apply)."""
        return self._path(key).as_uri()

    def list(self, under: str = "") -> list[ObjectInfo]:
        """Every visible file, or those under a sub-folder (empty when it does not exist)."""
        if not self.root.exists():
            if under:
                return []
            raise StorageError(f"{self.root}: no such folder")
        found = []
        for path in sorted((self.root / under).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                found.append(ObjectInfo(key, path.stat().st_size))
        return found

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise StorageError(f"{self.uri_of(key)}: {exc.strerror or exc}") from exc

    def write(self, key: str, data: bytes, content_type: str) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{target.name[:50]}.",
                                                 dir=target.parent)
        except OSError as exc:
            raise StorageError(f"{target}: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException as exc:
            Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise StorageError(f"{target}: {exc.strerror or exc}") from exc
            raise


def is_cut_short(exc: Exception) -> bool:
    """Whether reading a response body failed part-way (cut short, reset, timed out)."""
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

    return isinstance(exc, IncompleteReadError | ResponseStreamingError | ReadTimeoutError)


class _BodyCutShort(Exception):
    """The body of a GetObject answer ended early (its cause says how)."""


class S3Store:
    """An S3 prefix through boto3, with botocore's standard retry mode for transient errors."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.uri = f"s3://{bucket}/{self.prefix}"
        self.client = client or _s3_client(s3_client_config())

    def uri_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def share_link(self, key: str, expires_seconds: int) -> str:
        """A presigned GET URL of `key`, valid `expires_seconds` (at most a week, SigV4's
        limit; signed with temporary credentials it ends when they do)."""
        try:
            return self.client.generate_presigned_url(
                "get_object", ExpiresIn=min(expires_seconds, MAX_LINK_SECONDS),
                Params={"Bucket": self.bucket, "Key": self.prefix + safe_relative_key(key)})
        except Exception as exc:
            raise as_storage_error(exc, self.uri_of(key)) from exc

    def list(self, under: str = "") -> list[ObjectInfo]:
        """Every object under the prefix, or under `under` inside it."""
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + under)
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix):]
                    if key and not key.endswith("/"):
                        found.append(ObjectInfo(key, item["Size"], item.get("ETag", "").strip('"')))
        except Exception as exc:
            raise as_storage_error(exc, self.uri) from exc
        return found

    def read(self, key: str) -> bytes:
        """The object's bytes; a body cut short is fetched again (see the module docstring)."""
        try:
            return self._get_whole_body(key)
        except _BodyCutShort as cut:
            raise StorageError(f"{self.uri_of(key)}: the body was cut short on each of "
                               f"{S3_MAX_ATTEMPTS} reads: {cut.__cause__}",
                               transient=True) from cut.__cause__
        except Exception as exc:
            raise as_storage_error(exc, self.uri_of(key)) from exc

    @tenacity.retry(retry=tenacity.retry_if_exception_type(_BodyCutShort),
                     stop=tenacity.stop_after_attempt(S3_MAX_ATTEMPTS),
                     wait=tenacity.wait_random_exponential(multiplier=0.2, max=5),
                     before_sleep=tenacity.before_sleep_log(log, logging.WARNING), reraise=True)
    def _get_whole_body(self, key: str) -> bytes:
        # Errors of the GET itself were retried by botocore already: only the body's are here.
        body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        try:
            return body.read()
        except Exception as exc:
            if is_cut_short(exc):
                raise _BodyCutShort() from exc
            raise

    def write(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + safe_relative_key(key),
                                   Body=data, ContentType=content_type)
        except Exception as exc:
            raise as_storage_error(exc, self.uri_of(key)) from exc


def as_storage_error(exc: Exception, where: str) -> Exception:
    """Name the object in a botocore error and tell transient faults from permanent ones."""
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "?"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        transient = code in TRANSIENT_S3_CODES or status >= 500
        return StorageError(f"{where}: {code}: {error.get('Message', exc)}", transient=transient)
    if isinstance(exc, NoCredentialsError):
        return StorageError(f"{where}: no AWS credentials found (set AWS_PROFILE or keys)")
    if isinstance(exc, BotoConnectionError | HTTPClientError) or is_cut_short(exc):
        return StorageError(f"{where}: {exc}", transient=True)
    if isinstance(exc, BotoCoreError):
        return StorageError(f"{where}: {exc}")
    return exc


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same storage call may succeed (throttling, 5xx, network)."""
    return isinstance(exc, StorageError) and exc.transient
