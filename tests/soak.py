"""Soak: many tiny-model articles through S3 with injected faults and one kill-and-resume.

    python -m tests.soak [--articles 2000] [--fault-rate 0.1]      (make soak)

Every uploaded article is good by construction (a distinct English corpus text of at least
`MIN_WORDS` words), so every one must be briefed. Every fault kind of `tests/fault_proxy.py`
is injected, with a short client read timeout so that `slow` answers time out. The first run
is killed (SIGKILL) part-way and a second run resumes it. The report prints the counts and
the worker's memory, and `python -m tests.soak` exits 1 when any check fails:

- briefed: every article is briefed (its manifest entry says so and its brief exists);
  anything else is listed with its status and reason;
- lost 0: no uploaded article is missing from the final manifest;
- briefed twice 0: no brief key was PUT at the store by more than one call, across both
  runs (a botocore retry of a call whose answer was lost is the same call);
- memory: the resumed run's worker RSS grows at most `GROWTH_ALLOWED` (see `Memory`).

The runs' logs go to a temporary folder that is removed; `main` also gives Prefect a
temporary home and its own API server, removed at exit.
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from tests.fault_proxy import FAULT_KINDS, FaultProxy

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("BRIEFS_CORPUS", REPO.parent / "shared" / "corpus"))
JSONL_LINES = 25  # articles per JSONL feed; as many again go in single txt and json objects
MIN_WORDS = 40  # well above limits.min_article_words (10)
READ_TIMEOUT = 2  # seconds, the runs' S3 read timeout; `slow` answers come a second later
GROWTH_ALLOWED = 0.10
WARMUP_BATCHES = 2  # batches the resumed run writes before memory counts as steady
MIN_STEADY_SAMPLES = 8
SAMPLE_SECONDS = 0.5
IN, OUT = "soak-in", "soak-out"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak",
               "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class Memory:
    """The resumed run's worker RSS, and when it counts as steady.

    Steady state begins once the resumed run has written its first `WARMUP_BATCHES` batches
    of new briefs (models loaded, every step run). Growth is the peak RSS over the last
    quarter of the steady samples (the end of the run, digests and manifest included) over
    the peak over their first half.
    """

    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds, KiB)
    steady_at: float | None = None  # seconds after the resumed run started

    def steady(self) -> list[int]:
        if self.steady_at is None:
            return []
        return [kib for at, kib in self.samples if at >= self.steady_at]

    def baseline_kib(self) -> int:
        steady = self.steady()
        return max(steady[:len(steady) // 2], default=0)

    def late_kib(self) -> int:
        steady = self.steady()
        return max(steady[-(len(steady) // 4):], default=0) if len(steady) >= 4 else 0

    def growth(self) -> float | None:
        """Late peak over steady peak, minus 1; None with too few steady samples."""
        if len(self.steady()) < MIN_STEADY_SAMPLES or not self.baseline_kib():
            return None
        return self.late_kib() / self.baseline_kib() - 1

    def problem(self) -> str | None:
        growth = self.growth()
        if growth is None:
            return (f"memory: {len(self.steady())} RSS samples in steady state, fewer than "
                    f"{MIN_STEADY_SAMPLES}: growth not measured")
        if growth > GROWTH_ALLOWED:
            return f"memory: worker RSS grew {growth:.1%}, more than {GROWTH_ALLOWED:.0%}"
        return None

    def line(self) -> str:
        growth = self.growth()
        steady = "never reached" if self.steady_at is None else f"from {self.steady_at:.0f} s"
        return (f"worker RSS (resumed run, {len(self.samples)} samples; steady state {steady}, "
                f"{len(self.steady())} samples): peak {self.baseline_kib() / 1024:.1f} MiB in "
                f"its first half, {self.late_kib() / 1024:.1f} MiB in its last quarter: "
                f"growth {'n/a' if growth is None else f'{growth:+.1%}'} "
                f"(allowed {GROWTH_ALLOWED:.0%})")


@dataclass
class Report:
    expected: int
    briefed: int = 0
    not_briefed: list[tuple[str, str, str]] = field(default_factory=list)  # source, status, why
    lost: list[str] = field(default_factory=list)  # sources without an entry or a brief
    briefed_twice: dict[str, int] = field(default_factory=dict)  # brief key → extra calls
    unexplained_retries: dict[str, int] = field(default_factory=dict)
    retried_puts: int = 0  # PUTs sent again by botocore after their answer was lost
    killed_after: int = 0
    exit_code: int | None = None
    faults: dict[str, int] = field(default_factory=dict)
    memory: Memory = field(default_factory=Memory)
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """Every check that failed, in words; empty when the soak passed."""
        found = []
        if self.briefed != self.expected or self.not_briefed:
            found.append(f"briefed {self.briefed} of {self.expected}; "
                         f"{len(self.not_briefed)} not briefed")
        if self.lost:
            found.append(f"{len(self.lost)} lost: {', '.join(self.lost[:5])}")
        if self.briefed_twice:
            found.append(f"{len(self.briefed_twice)} briefed twice: "
                         f"{', '.join(sorted(self.briefed_twice)[:5])}")
        if missing := [k for k in FAULT_KINDS if not self.faults.get(k)]:
            found.append(f"fault kinds that never happened: {', '.join(missing)}")
        if not 0 < self.killed_after < self.expected:
            found.append(f"the kill came after {self.killed_after} briefs, not part-way")
        if problem := self.memory.problem():
            found.append(problem)
        return found

    def lines(self) -> list[str]:
        problems = self.problems()
        return [
            f"articles {self.expected} (distinct, English, at least {MIN_WORDS} words): "
            f"briefed {self.briefed}, not briefed {len(self.not_briefed)}, lost "
            f"{len(self.lost)}, briefed twice {len(self.briefed_twice)}",
            *(f"  {status}: {source}: {reason}" for source, status, reason in
              self.not_briefed[:50]),
            *([f"  ... and {len(self.not_briefed) - 50} more"] if len(self.not_briefed) > 50
              else []),
            *(f"  lost: {source}" for source in self.lost[:50]),
            *(f"  briefed twice: {key} ({n} extra calls)"
              for key, n in sorted(self.briefed_twice.items())[:50]),
            f"killed (SIGKILL) after {self.killed_after} briefs, then resumed (exit "
            f"{self.exit_code})",
            f"S3 requests through the proxy: {dict(self.faults)}; brief PUTs sent again after "
            f"a lost answer: {self.retried_puts}; retries after an answer the proxy sent: "
            f"{sum(self.unexplained_retries.values())}",
            self.memory.line(),
            f"wall time {self.seconds:.0f} s",
            "checks: all passed" if not problems else "checks FAILED: " + "; ".join(problems),
        ]


def good_texts(count: int) -> list[str]:
    """`count` distinct article texts from corpus rows that read as English, MIN_WORDS+ words.

    Rows repeat with a numbered last line, so every text is distinct. A row is kept only
    when the text it gives reads as English (the pipeline's own detector): the inputs are
    good by construction.
    """
    from briefs.tasks.ingest.source_language import detect_language

    rows = [json.loads(line)["article"] for line in (CORPUS / "summaries.jsonl").open()]
    good = [row for row in rows if len(row.split()) >= MIN_WORDS
            and detect_language(f"{row}\n\nSoak copy number 0.").language == "en"]
    if not good:
        raise RuntimeError(f"no corpus row of {MIN_WORDS}+ English words in {CORPUS}")
    return [f"{good[i % len(good)]}\n\nSoak copy number {i}." for i in range(count)]


def input_objects(texts: list[str]) -> Iterator[tuple[str, bytes, list[str]]]:
    """(key, bytes, source suffixes) per object: per 2 × JSONL_LINES articles, half go in
    single txt and json objects, half in one gzipped JSONL feed (sources `key#L<n>`)."""
    index = 0
    while index < len(texts):
        if index % (2 * JSONL_LINES) >= JSONL_LINES and len(texts) - index >= JSONL_LINES:
            lines = texts[index:index + JSONL_LINES]
            key = f"feeds/{index:05d}.jsonl.gz"
            body = "\n".join(json.dumps({"body": text}) for text in lines).encode()
            yield key, gzip.compress(body), [f"{key}#L{n}" for n in range(1, len(lines) + 1)]
            index += JSONL_LINES
            continue
        if index % 2:
            key, body = f"json/{index:05d}.json", json.dumps({"body": texts[index]}).encode()
        else:
            key, body = f"txt/{index:05d}.txt", texts[index].encode()
        yield key, body, [key]
        index += 1


def upload_articles(client, count: int) -> list[str]:
    """Upload `count` good articles; returns their source URIs, as manifests name them."""
    sources = []
    for key, body, names in input_objects(good_texts(count)):
        client.put_object(Bucket=IN, Key=key, Body=body)
        sources += [f"s3://{IN}/{name}" for name in names]
    return sources


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def brief_keys(client) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=OUT, Prefix="briefs/")
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def start_run(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`briefs run` from the input bucket to the output bucket, its output in `log`."""
    command = [sys.executable, "-m", "briefs.flows.cli", "run", f"s3://{IN}/", f"s3://{OUT}/",
               "--languages", "de,fr", "--models", "tiny"]
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=REPO)


def kill_part_way(client, env: dict[str, str], log: Path, after: int, deadline: float) -> int:
    """Start a run, SIGKILL it once `after` briefs exist; returns the briefs then."""
    run = start_run(env, log)
    try:
        while len(brief_keys(client)) < after:
            if run.poll() is not None:
                raise RuntimeError(f"the first run ended before the kill ({run.returncode}):\n"
                                   f"{tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the first run wrote fewer than {after} briefs in time:\n"
                                   f"{tail(log)}")
            time.sleep(SAMPLE_SECONDS)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    return len(brief_keys(client))


def resume(client, env: dict[str, str], log: Path, steady_after: int, deadline: float
           ) -> tuple[int, Memory]:
    """Run again to the end, sampling the worker's RSS; returns its exit code and memory."""
    memory = Memory()
    started = time.monotonic()
    run = start_run(env, log)
    try:
        while run.poll() is None:
            at = time.monotonic() - started
            if kib := rss_kib(run.pid):
                memory.samples.append((at, kib))
            if memory.steady_at is None and len(brief_keys(client)) >= steady_after:
                memory.steady_at = at
            if time.monotonic() > deadline:
                raise RuntimeError(f"the resumed run did not end in time:\n{tail(log)}")
            time.sleep(SAMPLE_SECONDS)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
        run.wait()
    if run.returncode not in (0, 2):
        raise RuntimeError(f"the resumed run failed ({run.returncode}):\n{tail(log)}")
    return run.returncode, memory


def check_outcome(report: Report, client, sources: list[str]) -> None:
    """Fill in briefed, not briefed and lost from the final manifest and the briefs stored."""
    from briefs.tasks.output.layout import ALREADY_BRIEFED

    manifest = json.loads(client.get_object(Bucket=OUT, Key="manifest.json")["Body"].read())
    entries = {entry["source"]: entry for entry in manifest["articles"]}
    stored = brief_keys(client)
    for source in sources:
        entry = entries.get(source)
        if entry is None:
            report.lost.append(source)
        elif entry["status"] == "succeeded" or entry.get("reason") == ALREADY_BRIEFED:
            if f"briefs/{entry['article_id']}.json" in stored:  # layout.brief_key
                report.briefed += 1
            else:
                report.lost.append(source)
        else:
            report.not_briefed.append((source, entry["status"], entry.get("reason", "")))


def check_writes(report: Report, proxy: FaultProxy) -> None:
    """Briefed twice, from the PUTs that reached the store, across both runs."""
    prefix = f"{OUT}/briefs/"
    report.briefed_twice = proxy.written_twice(prefix)
    report.unexplained_retries = proxy.unexplained_retries(prefix)
    report.retried_puts = sum(len(puts) - 1 for key, puts in proxy.stored_puts.items()
                              if key.startswith(prefix))
    report.faults = dict(proxy.counts)


def soak(articles: int, fault_rate: float, api_url: str, articles_per_task: int = 32,
         kill_fraction: float = 0.3, seed: int = 7) -> Report:
    """Brief `articles` articles through a faulty S3, killing the first run part-way."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    started = time.monotonic()
    deadline = started + 600 + 10 * articles
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="soak", aws_secret_access_key="soak")
        for bucket in (IN, OUT):
            client.create_bucket(Bucket=bucket)
        sources = upload_articles(client, articles)
        report = Report(len(sources))
        with (FaultProxy(endpoint, fault_rate, seed=seed, slow_seconds=READ_TIMEOUT + 1)
              as proxy, tempfile.TemporaryDirectory(prefix="briefs-soak-logs-") as logs):
            env = {**{k: v for k, v in os.environ.items() if k != "AWS_PROFILE"},
                   **CREDENTIALS, "AWS_ENDPOINT_URL": proxy.url, "HF_HUB_OFFLINE": "1",
                   "PREFECT_API_URL": api_url,
                   "BRIEFS_STORAGE__READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
                   "BRIEFS_BATCHING__ARTICLES_PER_TASK": str(articles_per_task)}
            report.killed_after = kill_part_way(
                client, env, Path(logs, "first.log"), round(kill_fraction * articles), deadline)
            report.exit_code, report.memory = resume(
                client, env, Path(logs, "resumed.log"),
                report.killed_after + WARMUP_BATCHES * articles_per_task, deadline)
        check_writes(report, proxy)
        check_outcome(report, client, sources)
    finally:
        server.stop()
    report.seconds = time.monotonic() - started
    return report


def private_prefect_home() -> None:
    """A temporary PREFECT_HOME for this process and its runs, removed at exit."""
    home = tempfile.mkdtemp(prefix="briefs-soak-prefect-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # after Prefect's own handlers
    os.environ.update({"PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--articles-per-task", type=int, default=32)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"the shared corpus is absent ({CORPUS}); set BRIEFS_CORPUS")
    private_prefect_home()  # before Prefect is imported
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        report = soak(args.articles, args.fault_rate, PREFECT_API_URL.value(),
                      args.articles_per_task)
    print("\n".join(report.lines()))
    sys.exit(1 if report.problems() else 0)


if __name__ == "__main__":
    main()
