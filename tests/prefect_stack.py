"""Real services for the tests and benchmarks that need a Prefect server and workers: a
PostgreSQL database of their own, `prefect server start` on a free loopback port, `make
deploy`, `make worker` and `briefs warm-worker` processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, timeout: float, what: str, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def final_state(client, run_id, timeout: float = 420):
    """The flow run's state once it is final."""
    def done():
        state = client.read_flow_run(run_id).state
        return state if state and state.is_final() else None

    return wait_until(done, timeout, f"flow run {run_id} to finish", every=2)


def _postgres(statement: str) -> None:
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(database="postgres", **POSTGRES)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on the PostgreSQL server at 127.0.0.1:5432, dropped afterwards; yields
    its SQLAlchemy URL for PREFECT_API_DATABASE_CONNECTION_URL."""
    name = f"briefs_test_{uuid.uuid4().hex[:12]}"
    try:
        _postgres(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # refused, or a login that is not trusted
        raise AssertionError(f"no PostgreSQL at {POSTGRES['host']}:{POSTGRES['port']} that lets "
                             f"user postgres in without a password (.ci/run starts one): "
                             f"{exc!r}") from None
    try:
        yield f"postgresql+asyncpg://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"
    finally:
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PrefectServer:
    """`make server` on a free loopback port with its own PREFECT_HOME; `env` reaches it (for
    workers, deploys and clients). It can be stopped and started again on the same port (and
    database, when PREFECT_API_DATABASE_CONNECTION_URL names one)."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.home = tempfile.mkdtemp(prefix="briefs-server-home-")
        self.env = {
            **os.environ, "PREFECT_HOME": self.home, "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_API_URL": f"http://127.0.0.1:{self.port}/api",
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
            "PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
            # The tests' runs use buckets of their own, not the deployments' news-in and
            # news-briefs: any bucket is allowed, and still no local path (storage.allowed_*).
            "BRIEFS_STORAGE__ALLOWED_SOURCES": '["s3://*/"]',
            "BRIEFS_STORAGE__ALLOWED_DESTS": '["s3://*/"]',
            **(extra_env or {})}
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the server (a log per start in its home) and wait until it is healthy."""
        self.starts += 1
        log_path = Path(self.home) / f"server-{self.starts}.log"
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(["make", "-s", "server"], cwd=REPO, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        process = self.process

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health",
                                            timeout=2):
                    return True
            except OSError:
                assert process.poll() is None, log_path.read_text()[-3000:]
                return False

        wait_until(healthy, 180, "the Prefect server")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@contextmanager
def prefect_server(extra_env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """A started PrefectServer for the block; yields the environment that reaches it."""
    server = PrefectServer(extra_env)
    try:
        server.start()
        yield server.env
    finally:
        server.stop()
        shutil.rmtree(server.home, ignore_errors=True)


def deploy(env: dict[str, str]) -> None:
    done = subprocess.run(["make", "deploy"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def start_worker(env: dict[str, str], name: str, limit: int | None = None,
                 log_dir: Path | None = None) -> subprocess.Popen:
    """`make worker` in its own process group (with the flow runs it starts), logging to
    `<log_dir or PREFECT_HOME>/<name>.log`."""
    log_path = Path(log_dir or env["PREFECT_HOME"]) / f"{name}.log"
    args = f"--name {name}" + (f" --limit {limit}" if limit else "")
    with open(log_path, "w") as log:
        return subprocess.Popen(["make", "worker", f"WORKER_ARGS={args}"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_warm_worker(env: dict[str, str], name: str, log_dir: Path | None = None,
                      *options: str) -> subprocess.Popen:
    """`briefs warm-worker` in its own session (its pid is the one its flow runs run in),
    logging to `<log_dir or PREFECT_HOME>/<name>.log`."""
    log_path = Path(log_dir or env["PREFECT_HOME"]) / f"{name}.log"
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "briefs.flows.cli", "warm-worker", "--name", name, *options],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal a process group started here and wait for its leader."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
