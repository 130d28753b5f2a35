"""The deployments of briefs, defined once: `make deploy` applies them to the process work pool,
`make deploy-k8s` to the Kubernetes one, and `briefs serve` serves the night's two itself.

    briefs/nightly                  every night, and an editor's form: flow `briefs`
    briefs-arrivals/late-arrivals   the late-arrivals trigger's runs: flow `briefs-arrivals`
    briefs-shard/shard              one shard of a night that fans out: flow `briefs-shard`
    briefs-shard/warm               the same, on the warm workers' pool (`briefs warm-worker`)
    briefs-eval/eval                the models' scores, by hand: flow `briefs-eval`

    python -m briefs.flows.deployments process [--home DIR]
    python -m briefs.flows.deployments kubernetes --image IMAGE
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from briefs.flows import (
    ARRIVALS_DEPLOYMENT,
    NIGHTLY_DEPLOYMENT,
    RUN_LOGGERS,
    WARM_POOL,
    WARM_SHARD_DEPLOYMENT,
)
from briefs.flows.briefs_flow import briefs, briefs_arrivals, briefs_shard
from briefs.flows.eval_flow import briefs_eval
from briefs.tasks.core.config import load_config
from briefs.tasks.events import late_arrivals_trigger

Pool = Literal["process", "kubernetes"]
POOLS: dict[Pool, str] = {"process": "briefs", "kubernetes": "briefs-k8s"}
NIGHTLY_SOURCE = "s3://news-in/{date}/"
NIGHTLY_DEST = "s3://news-briefs/{date}/"
SCHEDULE_SLUG = "nightly-0200"  # a redeploy updates the schedule with this slug in place
RUN_ENV = {"PREFECT_LOGGING_EXTRA_LOGGERS": RUN_LOGGERS}
# One nightly run at a time: a run started during another waits for it. A late-arrivals run
# also takes the nightly deployment's slot while it runs (briefs_flow.nightly_slot).
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
# Kubernetes: a Job per run in the image; shards on a GPU node (infra/k8s/base-job-template.json).
K8S_NIGHTLY = {"cpu_request": "1", "memory_request": "2Gi", "memory_limit": "4Gi"}
K8S_SHARD = {"gpu_count": 1, "node_selector": {"nvidia.com/gpu.present": "true"},
             "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                              "effect": "NoSchedule"}]}


def nightly(job_variables: dict[str, Any], source: str = NIGHTLY_SOURCE,
            dest: str = NIGHTLY_DEST, models: str = "default") -> RunnerDeployment:
    """Every night, yesterday's articles; an editor's runs from its form. The schedule and
    the languages the run form starts with are the preset's."""
    config = load_config(models)
    schedule = Cron(config.schedule.cron, timezone=config.schedule.timezone, slug=SCHEDULE_SLUG)
    return briefs.to_deployment(
        name=NIGHTLY_DEPLOYMENT.split("/")[1],
        description="Every night, brief yesterday's articles.",
        entrypoint_type=EntrypointType.MODULE_PATH, schedules=[schedule],
        concurrency_limit=ONE_AT_A_TIME,
        parameters={"source": source, "dest": dest, "models": models,
                    "languages": config.languages},
        job_variables=job_variables)


def late_arrivals(job_variables: dict[str, Any], source: str = NIGHTLY_SOURCE,
                  dest: str = NIGHTLY_DEST, models: str = "default") -> RunnerDeployment:
    """The late-arrivals trigger's runs, on the nightly source and destination. One at a
    time, and never beside a nightly run: each holds the nightly deployment's slot."""
    config = load_config(models)
    return briefs_arrivals.to_deployment(
        name=ARRIVALS_DEPLOYMENT.split("/")[1], entrypoint_type=EntrypointType.MODULE_PATH,
        description="Brief objects that arrive under the nightly source after its run. "
                    "Started by the late-arrivals trigger; waits for a nightly run.",
        triggers=[late_arrivals_trigger(source)], concurrency_limit=ONE_AT_A_TIME,
        parameters={"source": source, "dest": dest, "models": models,
                    "languages": config.languages},
        job_variables=job_variables)


def night(job_variables: dict[str, Any], source: str = NIGHTLY_SOURCE,
          dest: str = NIGHTLY_DEST, models: str = "default") -> list[RunnerDeployment]:
    """The nightly deployment and its late arrivals' (what `briefs serve` serves)."""
    return [nightly(job_variables, source, dest, models),
            late_arrivals(job_variables, source, dest, models)]


def shard(job_variables: dict[str, Any]) -> RunnerDeployment:
    """One shard of a night that fans out; the parent run starts it (scale.shard_deployment)."""
    return briefs_shard.to_deployment(
        name="shard", entrypoint_type=EntrypointType.MODULE_PATH, job_variables=job_variables,
        description="One shard of a nightly run that fans out (scale in the config). "
                    "Started by the parent run.")


def warm_shard() -> RunnerDeployment:
    """The shard deployment on the warm workers' pool: a night whose scale.shard_deployment
    names it keeps its models loaded from shard to shard (flows/warm_worker.py)."""
    return briefs_shard.to_deployment(
        name=WARM_SHARD_DEPLOYMENT.split("/")[1], entrypoint_type=EntrypointType.MODULE_PATH,
        description="One shard of a nightly run that fans out, run by a warm worker "
                    "(`briefs warm-worker`), which keeps the models loaded between shards.")


def ensure_warm_pool() -> None:
    """Create the warm workers' pool (type briefs-warm) unless the API has it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    from briefs.flows.warm_worker import WORKER_TYPE, WarmWorker

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(WARM_POOL)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(
                name=WARM_POOL, type=WORKER_TYPE, description=WarmWorker.get_description(),
                base_job_template=WarmWorker.get_default_base_job_template()))
            return
    if pool.type != WORKER_TYPE:
        raise RuntimeError(f"the work pool {WARM_POOL!r} exists with type {pool.type!r}, not "
                           f"{WORKER_TYPE!r}: delete it (prefect work-pool delete "
                           f"{WARM_POOL}) and deploy again")


def evaluation(job_variables: dict[str, Any]) -> RunnerDeployment:
    """The models' scores on the shared corpus, by hand; no schedule."""
    return briefs_eval.to_deployment(
        name="eval", entrypoint_type=EntrypointType.MODULE_PATH, job_variables=job_variables,
        parameters={"models": "default", "limit": 100},
        description="Score the models on the shared corpus (ROUGE, BLEU, chrF), against a "
                    "baseline report when given.")


def for_pool(pool: Pool, home: Path | None = None,
             image: str | None = None) -> list[RunnerDeployment]:
    """The deployments of one work pool. A process worker runs flows in `home` (eval's paths
    are relative to it); a Kubernetes Job runs them in `image`, which has no shared corpus,
    so eval stays on the process pool."""
    if pool == "process":
        variables = {"env": RUN_ENV, "working_dir": str((home or Path.cwd()).resolve())}
        return [*night(variables), shard(variables), evaluation(variables)]
    if not image:
        raise ValueError("a Kubernetes deployment needs --image (BRIEFS_IMAGE)")
    base = {"image": image, "env": RUN_ENV}
    return [*night(base | K8S_NIGHTLY), shard(base | K8S_SHARD)]


def main(argv: list[str] | None = None) -> None:
    """Apply one pool's deployments to the Prefect API in PREFECT_API_URL."""
    from prefect import deploy

    parser = argparse.ArgumentParser(prog="python -m briefs.flows.deployments")
    parser.add_argument("pool", choices=list(POOLS))
    parser.add_argument("--home", type=Path, help="the checkout a process worker runs in")
    parser.add_argument("--image", help="the worker image (Kubernetes)")
    args = parser.parse_args(argv)
    deployments = for_pool(args.pool, args.home, args.image)
    deploy(*deployments, work_pool_name=POOLS[args.pool], build=False, push=False,
           print_next_steps_message=False, ignore_warnings=True)
    if args.pool == "process":  # and the shard deployment for warm workers on this host
        ensure_warm_pool()
        deploy(warm_shard(), work_pool_name=WARM_POOL, build=False, push=False,
               print_next_steps_message=False, ignore_warnings=True)


if __name__ == "__main__":
    main()
