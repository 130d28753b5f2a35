"""Session-wide real services: one Prefect API, one moto S3 server on loopback, tiny models."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.fanned_night")  # its shared assertions say what differs

from briefs.flows import RUN_LOGGERS  # noqa: E402
from tests.fault_proxy import FaultProxy  # noqa: E402
from tests.helpers import TRANSFORMERS, Webhook, tiny_model  # noqa: E402

# Before Prefect is imported anywhere: a private home, no analytics, a patient startup.
# Removed when the process exits: atexit runs it after Prefect's own exit handlers (registered
# later), and it also covers a process that imports this module without running a session.
# pytest-xdist's workers inherit the main process's TMPDIR (set below): each makes its home
# beside the main one's, not inside it (a nested path is too long for Chromium's socket).
_tmp = os.environ.setdefault("_BRIEFS_TESTS_TMPDIR", tempfile.gettempdir())
_home = tempfile.mkdtemp(prefix="briefs-prefect-home-", dir=_tmp)
atexit.register(shutil.rmtree, _home, ignore_errors=True)
(Path(_home) / "tmp").mkdir()
os.environ.update({
    "PREFECT_HOME": _home,
    # Temporary files of the processes the tests start (a killed run cannot remove its own,
    # Prefect's runner leaves runner_storage/) and torch's inductor cache go with the home.
    # This process keeps its temporary folder (tempfile cached it in mkdtemp above).
    "TMPDIR": str(Path(_home) / "tmp"),
    "TORCHINDUCTOR_CACHE_DIR": str(Path(_home) / "torchinductor"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_EXTRA_LOGGERS": RUN_LOGGERS,
    "HF_HUB_OFFLINE": "1",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",  # plain-module tests log too
})
os.environ.setdefault("BRIEFS_CACHE_DIR", str(Path(_home) / "models"))
for name in list(os.environ):  # configuration comes from the tests, not the caller's shell
    if name.startswith("BRIEFS_") and name not in (
            "BRIEFS_CACHE_DIR", "BRIEFS_CORPUS", "BRIEFS_TEST_ARTIFACTS"):
        del os.environ[name]


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


@pytest.fixture(scope="module")
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    """A proxy before the moto server that injects no faults: it counts the calls that PUT
    each key at the store (a module's Prefect stack reaches S3 through it)."""
    with FaultProxy(s3_endpoint, 0.0) as counting:
        yield counting


@pytest.fixture
def client(stack: dict[str, str]):
    """A sync Prefect client on the module's own server (its `stack` fixture's environment)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (temporary_settings({PREFECT_API_URL: stack["PREFECT_API_URL"]}),
          get_client(sync_client=True) as sync_client):
        yield sync_client


@pytest.fixture
def s3(s3_endpoint: str):
    """A boto3 S3 client on the moto server."""
    import boto3

    return boto3.client("s3")


@pytest.fixture(scope="session")
def tiny_config():
    from briefs.tasks.core.config import load_config

    return load_config("tiny")


@pytest.fixture(scope="session")
def summarizer():
    return tiny_model("summarizer", TRANSFORMERS)


@pytest.fixture(scope="session")
def translator_de():
    return tiny_model("de", TRANSFORMERS)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A webhook receiver on loopback (the delivery tests' reader)."""
    hook = Webhook()
    yield hook
    hook.close()


# Test tiers: `make test-fast` runs the unit tier, `-m "not flow and not server"`. A test is
# `flow` when it needs the session's Prefect API (it runs a flow or the CLI), `server` when its
# module starts servers, workers or processes of its own (marked in the module).
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "prefect_api" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.flow)
    # The server modules (the longest, minutes each) first, so that the two workers of
    # `make test` (--no-loadscope-reorder keeps this order) share them and the quick tests
    # fill in around them, rather than one worker ending the run alone on the last of them.
    # A stable sort: the same order on every worker.
    items.sort(key=lambda item: item.get_closest_marker("server") is None)
