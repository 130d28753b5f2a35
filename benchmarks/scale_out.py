"""Wall time of one night fanned out over 1 and 2 process workers, and over 1 and 2 warm
workers (`briefs warm-worker`), against one process.

A Prefect server on a PostgreSQL database of its own, moto S3, `make deploy`, and workers
that each run one shard at a time (`--limit 1`; a warm worker always does); the parent is
`briefs run --shards N` in this process's environment. Tiny models (random weights, real
code paths): the figures are the orchestration's, with the model work of the tiny preset.

    .venv/bin/python benchmarks/scale_out.py [--articles 200] [--shards 8]

Prints one line per setting and the per-shard overhead of each worker type:
(1 worker − one process) / shards.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("BRIEFS_CORPUS", REPO.parent / "shared" / "corpus"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="briefs-bench-home-")
    os.environ.update({"PREFECT_HOME": home, "BRIEFS_CACHE_DIR": f"{home}/models",
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1",
                       "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    import boto3
    from moto.server import ThreadedMotoServer

    sys.path.insert(0, str(REPO))  # the test suite's server and worker helpers

    from briefs.flows import WARM_SHARD_DEPLOYMENT
    from tests.prefect_stack import (
        deploy,
        postgres_database,
        prefect_server,
        start_warm_worker,
        start_worker,
        stop,
    )

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        s3 = boto3.client("s3")
        rows = [json.loads(line) for line in (CORPUS / "summaries.jsonl").open()][:args.articles]

        def night(bucket: str) -> tuple[str, str]:
            s3.create_bucket(Bucket=f"{bucket}-in")
            s3.create_bucket(Bucket=f"{bucket}-out")
            for row in rows:
                s3.put_object(Bucket=f"{bucket}-in", Key=f"{row['id']}.txt",
                              Body=" ".join(row["article"].split()[:80]).encode())
            return f"s3://{bucket}-in/", f"s3://{bucket}-out/"

        with postgres_database() as database, prefect_server(
                {"PREFECT_API_DATABASE_CONNECTION_URL": database}) as env:
            deploy(env)

            loading: dict[str, float] = {}  # model loading per shard, from the manifest

            # The parent's shards go to the warm deployment.
            warm_env = {**env, "BRIEFS_SCALE__SHARD_DEPLOYMENT": WARM_SHARD_DEPLOYMENT}

            def brief(bucket: str, shards: int | None, run_env: dict[str, str] = env) -> float:
                source, dest = night(bucket)
                command = [str(Path(sys.executable).parent / "briefs"), "run", source, dest,
                           "--models", "tiny"] + (["--shards", str(shards)] if shards else [])
                started = time.perf_counter()
                done = subprocess.run(command, env=run_env, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                if done.returncode != 0:
                    raise SystemExit(f"{bucket}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
                if shards:
                    manifest = json.loads(s3.get_object(Bucket=f"{bucket}-out",
                                                        Key="manifest.json")["Body"].read())
                    loading[bucket] = manifest["timings"]["shards"]["load_models_seconds"] / shards
                return seconds

            brief("warm-up", None)  # builds the tiny models and their conversions once
            figures = {"one process": brief("single", None)}
            for count in (1, 2):
                workers = [start_worker(env, f"bench-w{i}", limit=1) for i in range(count)]
                try:
                    time.sleep(5)  # the workers' first poll
                    figures[f"{count} worker{'s' * (count > 1)}"] = brief(f"workers-{count}",
                                                                         args.shards)
                finally:
                    for worker in workers:
                        stop(worker)
            for count in (1, 2):
                workers = [start_warm_worker(warm_env, f"bench-warm{i}") for i in range(count)]
                try:
                    time.sleep(5)
                    figures[f"{count} warm worker{'s' * (count > 1)}"] = brief(
                        f"warm-{count}", args.shards, warm_env)
                finally:
                    for worker in workers:
                        stop(worker)
    finally:
        moto.stop()
        shutil.rmtree(home, ignore_errors=True)

    for name, seconds in figures.items():
        print(f"{name:>14}: {seconds:6.1f} s for {args.articles} articles "
              f"({args.articles / seconds * 3600:,.0f} articles/hour)")
    for kind, one, two, bucket in (("process", "1 worker", "2 workers", "workers-1"),
                                   ("warm", "1 warm worker", "2 warm workers", "warm-1")):
        overhead = (figures[one] - figures["one process"]) / args.shards
        print(f"per-shard overhead, {kind} workers ({one} − one process) / {args.shards} "
              f"shards: {overhead:.1f} s, of which loading models {loading[bucket]:.1f} s; "
              f"2 workers vs 1: {figures[one] / figures[two]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
