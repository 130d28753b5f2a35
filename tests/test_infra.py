"""The deployment infrastructure, checked offline and without servers: the Kubernetes work
pool's base job template rendered by prefect-kubernetes' own code and validated against the
Kubernetes API schemas, the compose stack against the compose-spec schema, the Helm values
against our schemas of the keys they set, and the Dockerfile's essentials."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prefect.client.schemas.objects import Flow, FlowRun, WorkPool
from prefect.server.schemas.actions import WorkPoolCreate
from prefect.utilities.schema_tools import ValidationError as JobVariablesError
from prefect.utilities.schema_tools import validate as validate_job_variables
from prefect.utilities.templating import find_placeholders
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

from tests.helpers import REPO

INFRA = REPO / "infra"
K8S = INFRA / "k8s"
TEMPLATE = K8S / "base-job-template.json"
SCHEMAS = K8S / "values-schemas"
K8S_VERSION = "1.33"  # the oldest Kubernetes the manifests must suit

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
GPU_SHARD = {  # job variables of a shard run on a GPU node
    "image": "registry.example/briefs:1",
    "gpu_count": 1,
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [GPU_TOLERATION],
    "model_cache_claim": "briefs-models",
    "hf_hub_offline": "1",
    "env": {"BRIEFS_SCALE__MAX_IN_FLIGHT": "8"},
}


def template() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())


class _NoAPI:
    """The client `from_template_and_values` resolves block and variable references with: the
    template has none, so any use of it is an error."""

    def __getattr__(self, name: str):
        raise AssertionError(f"rendering the template called the Prefect API ({name})")


def render(job_variables: dict[str, Any]) -> dict[str, Any]:
    """The Job manifest the Kubernetes worker submits for a flow run with these job variables:
    the worker's own steps (`resolve_for_flow_run`), minus reading the run from the API."""
    base = template()
    configuration = asyncio.run(KubernetesWorkerJobConfiguration.from_template_and_values(
        base, job_variables, client=_NoAPI()))
    flow = Flow(name="briefs")
    configuration.prepare_for_flow_run(
        flow_run=FlowRun(flow_id=flow.id, name="shard-3"), flow=flow,
        work_pool=WorkPool(name="briefs-k8s", type="kubernetes", base_job_template=base),
        worker_name="briefs-worker")
    return configuration.job_manifest


def validate_job(manifest: dict[str, Any]) -> None:
    """Strict validation against the Kubernetes schemas (unknown fields are errors).

    prefect-kubernetes insists on `parallelism` and `completions` in the pod spec (its manifest
    check fails without them) although they are Job fields; the API server drops them with a
    warning. They are removed here, and only they."""
    job = copy.deepcopy(manifest)
    pod = job["spec"]["template"]["spec"]
    assert (pod.pop("parallelism"), pod.pop("completions")) == (1, 1)
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def container_env(manifest: dict[str, Any]) -> dict[str, str]:
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item["value"] for item in container["env"]}


def test_gpu_shard_job_renders_and_validates():
    manifest = render(GPU_SHARD)
    pod = manifest["spec"]["template"]["spec"]
    [container] = pod["containers"]

    assert container["image"] == "registry.example/briefs:1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] in (1, "1")
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [GPU_TOLERATION]
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "briefs-models"}} \
        in pod["volumes"]
    assert {"name": "models", "mountPath": "/models"} in container["volumeMounts"]
    env = container_env(manifest)
    assert env["HF_HOME"] == "/models"
    assert env["BRIEFS_CACHE_DIR"] == "/models/briefs"  # conversions shared by every pod
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    assert env["BRIEFS_SCALE__MAX_IN_FLIGHT"] == "8"  # the run's own env is merged, not lost
    assert container["args"] == ["prefect", "flow-run", "execute"]
    assert pod["securityContext"]["runAsUser"] == 1001  # the image's user (infra/Dockerfile)
    validate_job(manifest)


def test_default_job_renders_and_validates():
    manifest = render({})
    pod = manifest["spec"]["template"]["spec"]
    [container] = pod["containers"]

    assert container["image"] == "ghcr.io/example/briefs:latest"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 0
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "6Gi"}
    assert pod.get("nodeSelector", {}) == {} and pod.get("tolerations", []) == []
    assert {"name": "models", "mountPath": "/models"} in container["volumeMounts"]
    env = container_env(manifest)
    assert (env["HF_HOME"], env["HF_HUB_OFFLINE"]) == ("/models", "0")
    validate_job(manifest)


def test_job_validation_rejects_a_bad_manifest():
    manifest = render(GPU_SHARD)
    manifest["spec"]["template"]["spec"]["tolerations"][0]["efect"] = "NoSchedule"
    with pytest.raises(kubernetes_validate.ValidationError, match="efect"):
        validate_job(manifest)


def test_every_template_variable_is_wired():
    base = template()
    declared = set(base["variables"]["properties"])
    used = {p.name for p in find_placeholders(json.dumps(base["job_configuration"]))}
    assert declared - used == set(), "variables that change nothing in the job"
    assert used - declared == set(), "placeholders without a variable"
    for name in ("image", "cpu_request", "memory_request", "memory_limit", "gpu_count",
                 "node_selector", "tolerations", "model_cache_claim", "hf_hub_offline"):
        assert "default" in base["variables"]["properties"][name], name
        assert base["variables"]["properties"][name]["description"], name

    # What the server checks: the pool's template, and a deployment's job variables.
    WorkPoolCreate(name="briefs-k8s", type="kubernetes", base_job_template=base)
    validate_job_variables(GPU_SHARD, base["variables"], raise_on_error=True,
                           ignore_required=True)
    with pytest.raises(JobVariablesError, match="gpu_count"):
        validate_job_variables({"gpu_count": "one"}, base["variables"], raise_on_error=True,
                               ignore_required=True)


def test_the_kubernetes_deployments_render_valid_jobs():
    """What `make deploy-k8s` applies: a Job per nightly run, each shard on one GPU, the run's
    loggers in the container's environment."""
    from briefs.flows import RUN_LOGGERS
    from briefs.flows.deployments import for_pool

    deployments = {d.name: d for d in for_pool("kubernetes", image="registry.example/briefs:1")}
    # eval needs the corpus beside a checkout
    assert set(deployments) == {"nightly", "late-arrivals", "shard"}
    for deployment in deployments.values():
        validate_job_variables(deployment.job_variables, template()["variables"],
                               raise_on_error=True, ignore_required=True)
        manifest = render(deployment.job_variables)
        validate_job(manifest)
        [container] = manifest["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "registry.example/briefs:1"
        assert container_env(manifest)["PREFECT_LOGGING_EXTRA_LOGGERS"] == RUN_LOGGERS
        gpus = container["resources"]["limits"]["nvidia.com/gpu"]
        assert int(gpus) == (1 if deployment.name == "shard" else 0)
    with pytest.raises(ValueError, match="--image"):
        for_pool("kubernetes")


def check_jsonschema(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_compose_file_validates():
    compose = INFRA / "compose.yaml"
    result = check_jsonschema("--builtin-schema", "vendor.compose-spec", compose)
    assert result.returncode == 0, result.stdout + result.stderr

    spec = yaml.safe_load(compose.read_text())
    services = spec["services"]
    assert set(services) >= {"postgres", "prefect-server", "minio", "worker", "setup"}
    for name in ("worker", "setup"):
        assert services[name]["environment"]["BRIEFS_CACHE_DIR"] == "/models/briefs"
    assert "briefs.flows.deployments process --home /app" in " ".join(
        services["setup"]["command"])
    assert "postgres" in services["prefect-server"]["environment"][
        "PREFECT_API_DATABASE_CONNECTION_URL"]
    assert set(spec["volumes"]) >= {"postgres-data", "minio-data", "models"}


@pytest.mark.parametrize("chart", ["prefect-server", "prefect-worker"])
def test_helm_values_validate(chart: str):
    schema = SCHEMAS / f"{chart}.schema.json"
    result = check_jsonschema("--check-metaschema", schema)
    assert result.returncode == 0, result.stdout + result.stderr
    result = check_jsonschema("--schemafile", schema, K8S / f"{chart}-values.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_misspelt_helm_value_fails(tmp_path: Path):
    values = yaml.safe_load((K8S / "prefect-worker-values.yaml").read_text())
    values["worker"]["config"]["workpool"] = values["worker"]["config"].pop("workPool")
    misspelt = tmp_path / "values.yaml"
    misspelt.write_text(yaml.safe_dump(values))
    result = check_jsonschema("--schemafile", SCHEMAS / "prefect-worker.schema.json", misspelt)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "workpool" in result.stdout + result.stderr


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of infra/Dockerfile: comments dropped, continuations joined."""
    text = re.sub(r"\\\n", " ", (INFRA / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines if line and not line.startswith("#")]


def test_dockerfile_essentials():
    steps = dockerfile_instructions()
    args = {a.split("=")[0]: a for kind, a in steps if kind == "ARG"}
    runs = [a for kind, a in steps if kind == "RUN"]
    env = " ".join(a for kind, a in steps if kind == "ENV")

    assert ("FROM", "python:3.11-slim") in steps
    assert args["TORCH_INDEX"] == "TORCH_INDEX=https://download.pytorch.org/whl/cpu"
    assert args["HF_HUB_OFFLINE"] == "HF_HUB_OFFLINE=0"
    torch = next(i for i, r in enumerate(runs) if "pip install torch==2.13.0" in r)
    assert '--index-url "${TORCH_INDEX}"' in runs[torch]
    package = next(i for i, r in enumerate(runs)
                   if 'pip install -c constraints.txt ".[ct2]"' in r)
    assert torch < package
    assert "HF_HOME=/models" in env
    assert "BRIEFS_CACHE_DIR=/models/briefs" in env
    assert ("VOLUME", "/models") in steps and ("WORKDIR", "/app") in steps
    users = [a for kind, a in steps if kind == "USER"]
    assert users and users[-1].split(":")[0] == "1001"  # numeric: runAsNonRoot can check it
    assert steps[-1] == ("CMD", '["prefect", "worker", "start", "--pool", "briefs", '
                                '"--type", "process"]')
