"""Soak: many tiny-model articles through S3 with injected faults and one kill-and-resume.

    python -m tests.soak [--articles 2000] [--fault-rate 0.1]      (make soak)

Prints counts (briefed, failed, duplicates, lost) and the worker's memory as the run goes;
exits 1 when anything is lost or repeated, or when memory keeps growing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from tests.conftest import CORPUS
from tests.fault_proxy import FaultProxy

JSONL_LINES = 25
GROWTH_ALLOWED = 1.25  # peak RSS late in the run over peak RSS early in the run


@dataclass
class Report:
    expected: int
    briefed: int = 0
    failed: int = 0
    duplicates: int = 0
    lost: int = 0
    killed_after: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    failure_reasons: Counter[str] = field(default_factory=Counter)
    rss_mib: list[int] = field(default_factory=list)  # samples across the resumed run
    seconds: float = 0.0

    @property
    def memory_flat(self) -> bool:
        if len(self.rss_mib) < 8:
            return True
        quarter = len(self.rss_mib) // 4
        return max(self.rss_mib[-quarter:]) <= GROWTH_ALLOWED * max(self.rss_mib[:2 * quarter])

    @property
    def ok(self) -> bool:
        """Nothing lost or repeated, and memory flat; failed articles are the inputs' own."""
        return self.lost == 0 and self.duplicates == 0 and self.memory_flat

    def lines(self) -> list[str]:
        quarter = max(len(self.rss_mib) // 4, 1)
        return [
            f"articles {self.expected}: briefed {self.briefed}, failed {self.failed}, "
            f"duplicates {self.duplicates}, lost {self.lost}",
            *(f"  failed {n}×: {reason}" for reason, n in self.failure_reasons.most_common()),
            f"killed (SIGKILL) after {self.killed_after} briefs, then resumed",
            f"S3 requests through the proxy: {self.faults}",
            f"worker RSS MiB, early → late: {max(self.rss_mib[:quarter], default=0)} → "
            f"{max(self.rss_mib[-quarter:], default=0)} (peak {max(self.rss_mib, default=0)}); "
            f"flat: {self.memory_flat}",
            f"wall time {self.seconds:.0f} s",
        ]


def upload_articles(client, bucket: str, count: int) -> int:
    """`count` distinct articles from the corpus, as txt, json and jsonl.gz objects."""
    rows = [json.loads(line) for line in (CORPUS / "summaries.jsonl").open()]
    articles = [f"{rows[i % len(rows)]['article']}\n\nSoak copy number {i}." for i in range(count)]
    index = 0
    while index < count:
        kind = index % 3
        if kind == 2 and count - index >= JSONL_LINES:
            lines = "\n".join(json.dumps({"body": a}) for a in articles[index:index + JSONL_LINES])
            client.put_object(Bucket=bucket, Key=f"feeds/{index:05d}.jsonl.gz",
                              Body=gzip.compress(lines.encode()))
            index += JSONL_LINES
            continue
        if kind == 1:
            key, body = f"json/{index:05d}.json", json.dumps({"body": articles[index]})
        else:
            key, body = f"txt/{index:05d}.txt", articles[index]
        client.put_object(Bucket=bucket, Key=key, Body=body.encode())
        index += 1
    return count


def rss_mib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def count_briefs(client, bucket: str) -> int:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="briefs/")
    return sum(len(page.get("Contents", [])) for page in pages)


def soak(articles: int, fault_rate: float, env: dict[str, str] | None = None,
         kill_fraction: float = 0.3) -> Report:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak",
                   "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="soak", aws_secret_access_key="soak")
    for bucket in ("soak-in", "soak-out"):
        client.create_bucket(Bucket=bucket)
    report = Report(upload_articles(client, "soak-in", articles))
    started = time.monotonic()
    try:
        with FaultProxy(endpoint, fault_rate) as proxy:
            run_env = {**os.environ, **(env or {}), **credentials, "AWS_ENDPOINT_URL": proxy.url,
                       "HF_HUB_OFFLINE": "1"}
            command = [sys.executable, "-m", "flows.cli", "run", "s3://soak-in/", "s3://soak-out/",
                       "--languages", "de,fr", "--models", "tiny"]
            first = subprocess.Popen(command, env=run_env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            while count_briefs(client, "soak-out") < kill_fraction * articles:
                if first.poll() is not None:
                    raise RuntimeError(f"the first run ended before the kill ({first.returncode})")
                time.sleep(0.5)
            first.send_signal(signal.SIGKILL)
            first.wait()
            report.killed_after = count_briefs(client, "soak-out")
            with tempfile.TemporaryFile("w+") as log:  # a pipe would fill up and block the run
                second = subprocess.Popen(command, env=run_env, stdout=log,
                                          stderr=subprocess.STDOUT, text=True)
                while second.poll() is None:
                    if sample := rss_mib(second.pid):
                        report.rss_mib.append(sample)
                    time.sleep(0.5)
                log.seek(0)
                output = log.read()
            if second.returncode not in (0, 2):
                raise RuntimeError(
                    f"the resumed run failed ({second.returncode}):\n{output[-3000:]}")
            report.faults = dict(proxy.counts)
        manifest = json.loads(client.get_object(Bucket="soak-out", Key="manifest.json")["Body"]
                              .read())
        entries = manifest["articles"]
        ids = [e["article_id"] for e in entries]
        report.failed = sum(e["status"] == "failed" for e in entries)
        report.failure_reasons = Counter(e["reason"][:100] for e in entries
                                         if e["status"] == "failed")
        report.briefed = count_briefs(client, "soak-out")
        report.duplicates = (len(ids) - len(set(ids))) + max(report.briefed - report.expected, 0)
        done = {e["article_id"] for e in entries if e["status"] in ("succeeded", "skipped")}
        report.lost = report.expected - len(done) - report.failed
    finally:
        server.stop()
    report.seconds = time.monotonic() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"the shared corpus is absent ({CORPUS}); set BRIEFS_CORPUS")
    report = soak(args.articles, args.fault_rate,
                  env={"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    print("\n".join(report.lines()))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
