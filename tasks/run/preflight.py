"""Pre-flight: the mistakes a run would meet late, found before any server starts or model loads.

`preflight()` returns one line per problem, each naming what is wrong, where the value came
from (the config file and key, the environment variable, the flag) and the way out: a config
that does not validate, a target language nobody translates into, a source that cannot be
read or holds fewer than `alerts.min_objects` objects, a destination that cannot be reached,
credentials that S3 refuses, a model that is neither here nor downloadable. `briefs run` and
`briefs check` print the lines and exit 1; the `briefs` flow ends Failed with them.

S3 is probed with short timeouts and few attempts (`PROBE_*`), so an unreachable endpoint is
told in seconds, not after botocore's full retries; the destination is listed, not written.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from briefs.tasks.core.config import (
    BriefsConfig,
    ConfigError,
    ModelRef,
    config_path,
    load_config,
    value_origin,
)
from briefs.tasks.generation.targets import ENGLISH, TARGETS
from briefs.tasks.models.loading import model_presence
from briefs.tasks.output.storage import TRANSIENT_S3_CODES, s3_client_config, uri_problem
from briefs.tasks.run.locations import Allowed
from briefs.tasks.run.nights import fill_date, run_date

PROBE_CONNECT_TIMEOUT = 2.0  # seconds, at most (the configuration's, when shorter)
PROBE_READ_TIMEOUT = 2.5
PROBE_ATTEMPTS = 2  # the first included: a silent endpoint is told within ~6 s
HUB_TIMEOUT = 5.0
NEAREST = 3  # prefixes or folders named when a source is empty
CHECKS = frozenset({"source", "dest", "models"})
EMPTY_WAY_OUT = ("check the source's prefix or date, or set alerts.min_objects to 0 to let "
                 "an empty night complete")
# (block name, botocore Config) → an S3 client: the Prefect layer loads AwsCredentials blocks.
BlockClient = Callable[[str, Any], Any]


@dataclass
class Report:
    """The pre-flight's findings: the settings (None when the config is unusable), the
    source and destination with the run's date filled in, and the problems, one line each."""

    settings: BriefsConfig | None
    source: str
    dest: str
    problems: list[str] = field(default_factory=list)


def preflight(source: str, dest: str, *, models: str = "default",
              config_file: str | None = None, languages: list[str] | None = None,
              date: str | None = None, now: datetime | None = None,
              checks: Collection[str] = CHECKS,
              block_client: BlockClient | None = None,
              allowed: Allowed | None = None) -> Report:
    """Check a run before it starts: where it may read and write, the config, then those
    of `checks` (`source`, `dest`, `models`) that apply. `date` and `now` fill `{date}` as
    the run would. A run from a deployment passes what its deployment `allowed`: checked
    first, before the config the run names is read; other runs are held to their own
    config's `storage.allowed_*`."""
    if allowed is not None:
        night = date or (now or datetime.now(UTC)).date().isoformat()  # any night matches
        if outside := allowed.problems(fill_date(source, night), fill_date(dest, night)):
            return Report(None, source, dest, outside)
    try:
        settings = load_config(models, config_file, languages)
        path = config_path(models, config_file)
    except ConfigError as exc:
        return Report(None, source, dest, exc.problems)
    problems = language_problems(settings, path, languages)
    try:
        day = run_date(date, settings.schedule.timezone, now)
    except ValueError as exc:
        return Report(settings, source, dest, [*problems, f"{exc}: give the night to brief, "
                                                           "e.g. 2026-11-27, or leave it empty"])
    report = Report(settings, fill_date(source, day), fill_date(dest, day), problems)
    if allowed is None and (outside := Allowed.of(settings.storage, None).problems(
            report.source, report.dest)):
        report.problems += outside  # and no probe of a place the run may not touch
        return report
    s3 = S3Probe(settings, block_client)
    if "source" in checks:
        report.problems += source_problems(report.source, settings, s3)
    if "dest" in checks:
        report.problems += dest_problems(report.dest, s3)
    if "models" in checks:
        report.problems += model_problems(settings, path, models)
    report.problems = list(dict.fromkeys(report.problems))  # one line for a shared cause
    return report


def language_problems(settings: BriefsConfig, path: Path,
                      flags: list[str] | None) -> list[str]:
    """Target languages no translator is known for: not one briefs offers, and without a
    `models.translators.<lang>` entry of their own (a misspelt `fe` for `fr`)."""
    origin = "--languages" if flags else value_origin(("languages",), path)
    problems = []
    for lang in settings.languages:
        if lang in TARGETS or lang == ENGLISH or lang in settings.models.translators:
            continue
        close = [c for c in TARGETS if c[0] == lang[0]] or difflib.get_close_matches(
            lang, list(TARGETS), n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        problems.append(
            f"languages ({origin}): {lang!r} is not a language briefs translates into "
            f"({', '.join(TARGETS)}); {hint}Another language needs its own "
            f"models.translators.{lang} entry in the config file")
    return problems


def source_problems(uri: str, settings: BriefsConfig, s3: S3Probe) -> list[str]:
    """Whether the source can be read and holds at least `alerts.min_objects` objects."""
    if problem := uri_problem(uri):
        return [f"source {problem}"]
    least = settings.alerts.min_objects
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return s3.source(uri, parsed.netloc, _prefix(parsed.path), least)
    return _local_source(Path(parsed.path if parsed.scheme == "file" else uri), least)


def dest_problems(uri: str, s3: S3Probe) -> list[str]:
    """Whether the destination can be reached: its bucket listed, or its folder writable."""
    if problem := uri_problem(uri):
        return [f"dest {problem}"]
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return s3.dest(uri, parsed.netloc, _prefix(parsed.path))
    folder = Path(parsed.path if parsed.scheme == "file" else uri).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        return [f"dest {folder} is a file, not a folder: give a folder for the briefs"]
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return [f"dest {folder}: {existing} cannot be written to: give a folder you can "
                "write to"]
    return []


def _prefix(path: str) -> str:
    """An S3 prefix as the store uses it: no leading slash, a trailing one (or empty)."""
    prefix = path.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _local_source(folder: Path, least: int) -> list[str]:
    """A source folder: there, a folder, holding at least `least` visible files."""
    folder = folder.expanduser().resolve()
    if folder.is_file():
        return [f"source {folder} is a file, not a folder: give the folder that holds it "
                f"({folder.parent})"]
    if not folder.is_dir():
        return [f"source {folder}: no such folder{_nearest_folders(folder)}"]
    found = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            found += 1
            if found >= least:
                return []
    if found >= least:
        return []
    return [f"source {folder}: {found} objects there, fewer than alerts.min_objects "
            f"({least}){_nearest_folders(folder)}: {EMPTY_WAY_OUT}"]


def _nearest_folders(folder: Path) -> str:
    """The sibling folders nearest in name to `folder`, as a clause (or nothing)."""
    parent = next((p for p in folder.parents if p.is_dir()), None)
    if parent is None:
        return ""
    names = [p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")
             and p != folder]
    close = difflib.get_close_matches(folder.name, names, n=NEAREST, cutoff=0.6)
    return f"; nearest folders in {parent}: {', '.join(close)}" if close else ""


def model_problems(settings: BriefsConfig, path: Path, models: str) -> list[str]:
    """Every model the run loads up front (the summarizer, a translator per target language)
    there: a tiny one, a folder with a config, a hub id cached or on a reachable Hub."""
    refs = [(("models", "summarizer"), settings.models.summarizer)]
    for lang in settings.languages:
        if lang != ENGLISH:
            entry = lang if lang in settings.models.translators else "default"
            refs.append((("models", "translators", entry), settings.models.translator(lang)))
    hub, problems, seen = HubProbe(), [], set()
    for loc, ref in refs:
        if (ref.id, ref.revision) in seen:
            continue
        seen.add((ref.id, ref.revision))
        where, why = model_presence(ref)
        if where == "hub":
            why = hub.missing(ref)
        if why:
            origin = ("--models" if loc == ("models", "summarizer") and Path(models).is_dir()
                      else value_origin(loc, path))
            problems.append(f"{'.'.join(loc)} ({origin}): {why}")
    return problems


class HubProbe:
    """Asks the Hugging Face Hub about models not in the local cache; after one sign that the
    Hub cannot be reached (or HF_HUB_OFFLINE), it asks no more."""

    def __init__(self) -> None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
        self.unreachable: str | None = "HF_HUB_OFFLINE is set" if offline else None

    def missing(self, ref: ModelRef) -> str | None:
        """Why the model cannot be downloaded; None when the Hub has it."""
        if self.unreachable is None:
            from huggingface_hub import HfApi
            from huggingface_hub.errors import (
                GatedRepoError,
                RepositoryNotFoundError,
                RevisionNotFoundError,
            )

            try:
                HfApi().model_info(ref.id, revision=ref.revision, timeout=HUB_TIMEOUT)
                return None
            except GatedRepoError:
                return (f"model {ref.id!r} is gated on the Hugging Face Hub: accept its terms "
                        "there and set HF_TOKEN")
            except RevisionNotFoundError:
                return f"model {ref.id!r} has no revision {ref.revision!r} on the Hub"
            except RepositoryNotFoundError:
                return (f"no model {ref.id!r} on the Hugging Face Hub, nor a folder by that "
                        "name here: check the id")
            except Exception as exc:  # DNS, refused, timed out, proxy: the Hub is out of reach
                self.unreachable = f"the Hub cannot be reached ({type(exc).__name__})"
        return _not_cached(ref, self.unreachable)


def _not_cached(ref: ModelRef, reason: str) -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    return (f"model {ref.id!r} (revision {ref.revision or 'main'}) is not in the Hugging Face "
            f"cache ({HF_HUB_CACHE}) and {reason}: run 'hf download {ref.id}' where the Hub "
            "is reachable (HF_HOME names the cache), name a local folder as its id, or run "
            "'--models tiny' offline")


class S3Probe:
    """Lists the source and destination buckets with a short-fused client; a fault of the
    endpoint or the credentials is told once, and ends the probing."""

    def __init__(self, settings: BriefsConfig, block_client: BlockClient | None) -> None:
        self.storage, self.block_client = settings.storage, block_client
        self.client: Any = None
        self.broken: str | None = None

    def source(self, uri: str, bucket: str, prefix: str, least: int) -> list[str]:
        """The source prefix holds at least `least` objects; else how many, and where the
        bucket has some."""
        try:
            found = self._count(bucket, prefix, least)
            if found >= least:
                return []
            return [f"source {uri}: {found} objects there, fewer than alerts.min_objects "
                    f"({least}); {self._nearest(bucket, prefix)}: {EMPTY_WAY_OUT}"]
        except Exception as exc:
            return self._trouble(exc, "source", uri, bucket)

    def dest(self, uri: str, bucket: str, prefix: str) -> list[str]:
        """The destination bucket exists and these credentials may list it."""
        try:
            self._connect().list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
            return []
        except Exception as exc:
            return self._trouble(exc, "dest", uri, bucket)

    def _connect(self) -> Any:
        """The probe's client: boto3's chain, or the configured AwsCredentials block's."""
        if self.broken:
            raise _Broken(self.broken)
        if self.client is None:
            config = s3_client_config(min(self.storage.read_timeout_seconds, PROBE_READ_TIMEOUT),
                                      min(self.storage.connect_timeout_seconds,
                                          PROBE_CONNECT_TIMEOUT), PROBE_ATTEMPTS)
            block = self.storage.aws_credentials_block
            if block:
                self.client = self._block_client(block, config)
            else:
                import boto3

                try:
                    self.client = boto3.client("s3", config=config)
                except Exception as exc:  # an AWS_PROFILE that names no profile, say
                    raise _Broken(f"S3: the client cannot be made ({type(exc).__name__}: "
                                  f"{exc}): check AWS_PROFILE and ~/.aws/config") from exc
        return self.client

    def _block_client(self, block: str, config: Any) -> Any:
        if self.block_client is None:
            raise _Broken(f"storage.aws_credentials_block ({block}) needs the Prefect API to "
                          "load the block; run through `briefs run` or a deployment")
        try:
            return self.block_client(block, config)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _Broken(f"storage.aws_credentials_block: the AwsCredentials block {block!r} "
                          f"cannot be loaded ({first}): create it, or name another") from exc

    def _count(self, bucket: str, prefix: str, least: int) -> int:
        """Objects under the prefix, counted up to `least` (folder markers left out)."""
        pages = self._connect().get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix)
        found = 0
        for page in pages:
            found += sum(not item["Key"].endswith("/") for item in page.get("Contents", []))
            if found >= least:
                break
        return found

    def _nearest(self, bucket: str, prefix: str) -> str:
        """The prefixes nearest to `prefix` in the bucket, at its level or the nearest above
        that has any, as a clause."""
        if not prefix:
            return f"the bucket {bucket} exists and is empty"
        parts = prefix.rstrip("/").split("/")
        for depth in range(len(parts) - 1, -1, -1):
            parent = "".join(f"{part}/" for part in parts[:depth])
            listed = self._connect().list_objects_v2(Bucket=bucket, Prefix=parent,
                                                     Delimiter="/", MaxKeys=1000)
            names = [p["Prefix"] for p in listed.get("CommonPrefixes", []) if p["Prefix"]
                     != prefix]
            if names:
                close = difflib.get_close_matches(prefix, names, n=NEAREST, cutoff=0)
                return (f"the bucket {bucket} exists, and the nearest prefixes there are "
                        + ", ".join(f"s3://{bucket}/{name}" for name in close))
        return f"the bucket {bucket} exists but holds no other prefix"

    def _trouble(self, exc: Exception, role: str, uri: str, bucket: str) -> list[str]:
        """The line for a failed probe (none for throttling or a 5xx: the run retries
        those); a fault of the endpoint or the credentials (the same for every bucket) is
        remembered, so it is told once."""
        if isinstance(exc, _Broken):
            self.broken = str(exc)
            return [self.broken]
        line, shared = s3_trouble(exc, role, uri, bucket, self._endpoint(),
                                  _credentials_origin(self.client))
        if line is None:
            return []
        if shared:
            self.broken = line
        elif "(NoSuchBucket)" in line:
            line += self._nearest_buckets(bucket)
        return [line]

    def _nearest_buckets(self, bucket: str) -> str:
        """The buckets named most like `bucket`, as a clause (nothing when none may be listed)."""
        try:
            names = [b["Name"] for b in self._connect().list_buckets().get("Buckets", [])]
        except Exception:  # listing buckets is a permission of its own
            return ""
        close = difflib.get_close_matches(bucket, names, n=NEAREST, cutoff=0.5)
        return f"; buckets with similar names: {', '.join(close)}" if close else ""

    def _endpoint(self) -> str:
        url = getattr(getattr(self.client, "meta", None), "endpoint_url", None) or "S3"
        variable = "AWS_ENDPOINT_URL" if os.environ.get("AWS_ENDPOINT_URL") else None
        return f"{url} ({variable})" if variable else url


def _credentials_origin(client: Any) -> str:
    """Where the client's credentials came from, as the way to fix them."""
    signer = getattr(client, "_request_signer", None)
    method = getattr(getattr(signer, "_credentials", None), "method", None)
    if method == "env":
        return "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the environment)"
    if method in ("shared-credentials-file", "config-file"):
        return f"the profile {os.environ.get('AWS_PROFILE', 'default')} (~/.aws/)"
    if method == "explicit":
        return "the credentials block (storage.aws_credentials_block)"
    return CREDENTIALS


class _Broken(Exception):
    """The probe's client cannot be had, or its endpoint or credentials failed already."""


CREDENTIALS = ("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or "
               "storage.aws_credentials_block")
CREDENTIAL_CODES = {
    "InvalidAccessKeyId": "the access key id is not known there",
    "SignatureDoesNotMatch": "the secret access key does not match the key id",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is not valid",
}


def s3_trouble(exc: Exception, role: str, uri: str, bucket: str, endpoint: str,
               credentials: str = CREDENTIALS) -> tuple[str | None, bool]:
    """A failed S3 probe as one line with the way out (`credentials`: where the keys in use
    came from; None for a fault that may pass), and whether its cause is shared by every
    bucket (the endpoint, the credentials) rather than this one's."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"S3 at {endpoint}: no usable AWS credentials ({exc}): set {CREDENTIALS}", True
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return (f"S3 at {endpoint} cannot be reached ({type(exc).__name__}): check the "
                "endpoint URL (AWS_ENDPOINT_URL, the profile's endpoint_url, or the "
                "credentials block's) and that the server is running"), True
    if not isinstance(exc, ClientError):
        return f"{role} {uri}: {type(exc).__name__}: {exc}", False
    code = str(exc.response.get("Error", {}).get("Code", "?"))
    if code in TRANSIENT_S3_CODES or exc.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", 0) >= 500:
        return None, False
    if code in CREDENTIAL_CODES:
        return (f"S3 at {endpoint} refuses the credentials: {CREDENTIAL_CODES[code]} ({code}): "
                f"check {credentials}"), True
    if code in ("NoSuchBucket", "404"):
        return (f"{role} {uri}: the bucket {bucket} does not exist at {endpoint} "
                f"(NoSuchBucket): check its name, or create it"), False
    if code in ("AccessDenied", "403"):
        need = "s3:ListBucket" + (" and s3:PutObject" if role == "dest" else "")
        return (f"{role} {uri}: access denied to the bucket {bucket} (AccessDenied): the "
                f"credentials need {need} on it"), False
    message = exc.response.get("Error", {}).get("Message", "")
    return f"{role} {uri}: {code}: {message}", False

