"""Session-wide real services: one Prefect API, one moto S3 server on loopback, tiny models."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
CORPUS = Path(os.environ.get("BRIEFS_CORPUS", REPO.parent / "shared" / "corpus"))

# Before Prefect is imported anywhere: a private home, no analytics, a patient startup.
_home = tempfile.mkdtemp(prefix="briefs-prefect-home-")
os.environ.update({
    "PREFECT_HOME": _home,
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "tasks,transformers,botocore",
    "HF_HUB_OFFLINE": "1",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",  # plain-module tests log too
})
os.environ.setdefault("BRIEFS_CACHE_DIR", str(Path(_home) / "models"))
for name in list(os.environ):  # configuration comes from the tests, not the caller's shell
    if name.startswith("BRIEFS_") and name not in ("BRIEFS_CACHE_DIR", "BRIEFS_CORPUS"):
        del os.environ[name]


def corpus_or_skip() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared test corpus is absent (looked in {CORPUS}); set BRIEFS_CORPUS")
    return CORPUS


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect API server for the whole session, on a free loopback port."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server over HTTP on 127.0.0.1 (a free port), reached through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_PROFILE", raising=False)
        yield endpoint
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str):
    """A boto3 S3 client on the moto server."""
    import boto3

    return boto3.client("s3")


@pytest.fixture(scope="session")
def tiny_config():
    from tasks.config import load_config

    return load_config("tiny")


@pytest.fixture(scope="session")
def summarizer(tiny_config):
    from tasks.models import load_model

    return load_model(tiny_config.models.summarizer)


@pytest.fixture(scope="session")
def translator_de(tiny_config):
    from tasks.models import load_model

    return load_model(tiny_config.models.translator("de"))
