"""CTranslate2: convert a loaded Hugging Face model once, and pick its fastest compute type.

A model is converted on first use into `<cache>/ctranslate2/<model>-<revision>/` (the weights
as they are; the compute type is applied when the converted model is loaded). `auto` picks
the compute type by measuring the candidates for the device on a short, fixed workload; the
choice is kept beside the converted model, per machine, so it is measured once.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from briefs.tasks.models.cache import build_once, cache_dir, is_built
from briefs.tasks.models.memory import free_unreachable

log = logging.getLogger(__name__)
CANDIDATES = {"cpu": ("int8", "float32"), "cuda": ("int8_float16", "float16", "bfloat16")}
# The measuring workload: a few inputs of a realistic length, a fixed number of new tokens.
PROBE_TEXT = ("The council approved the new budget on Monday after a long debate about "
              "schools, hospitals and the roads that connect the villages of the region. ")
PROBE_BATCH, PROBE_TOKENS, PROBE_REPEATS = 4, 16, 3
MAX_WORKERS = 4  # batches one model runs at once on CPU (each holds its activations)


def threads() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_workers() -> tuple[int, int]:
    """CTranslate2 on CPU: how many batches run at once, and threads for each. The cores go
    to batches first, up to MAX_WORKERS, as many as divide the cores evenly: on 2 cores two
    one-thread batches ran 1.2-1.4x faster than one batch on two threads
    (docs/benchmarks.md), whose small matrices split poorly."""
    cores = threads()
    workers = max(n for n in range(1, MAX_WORKERS + 1) if cores % n == 0)  # no core idle
    return workers, cores // workers


def converted_folder(model_id: str, revision: str | None,
                     load_model_and_tokenizer: Callable[[], tuple[Any, Any]]) -> Path:
    """The CTranslate2 folder of a model, converted from the loaded model on first use."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "--", model_id.strip("/"))[-80:]
    target = cache_dir("ctranslate2") / f"{name}-{(revision or 'unversioned').replace(':', '-')}"
    if is_built(target):
        return target

    def convert(staging: Path) -> None:
        _convert(*load_model_and_tokenizer(), staging)
        # The model loaded to convert (float32 torch weights, 1.2 GB for DistilBART) sits in
        # reference cycles: it would stay until a full collection, half a cold-cache night
        # (docs/benchmarks.md#a-full-size-night).
        free_unreachable()

    build_once(target, convert)
    log.info("converted %s (revision %s) for CTranslate2 into %s", model_id, revision, target)
    return target


def _convert(model: Any, tokenizer: Any, output: Path) -> None:
    """Run CTranslate2's Transformers converter on the model this project already loaded
    (safetensors only, no remote code) instead of letting it load the model again."""
    from ctranslate2.converters import TransformersConverter

    if model.config.model_type == "bart" and not hasattr(model.config, "normalize_before"):
        model.config.normalize_before = False  # the converter reads it; BART is post-norm

    class LoadedModelConverter(TransformersConverter):
        def load_model(self, model_class, model_name_or_path, **kwargs):
            return model

        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return tokenizer

    LoadedModelConverter(model.name_or_path).convert(str(output), force=True)


def target_vocabulary(folder: Path) -> set[str]:
    """The tokens a converted model can generate."""
    for name in ("target_vocabulary.json", "shared_vocabulary.json"):
        if (folder / name).exists():
            return set(json.loads((folder / name).read_text(encoding="utf-8")))
    return set()


def compute_type(setting: str, folder: Path, device: str,
                 measure: Callable[[str], float]) -> str:
    """`setting` itself, or for `auto` the fastest candidate for the device (measured once
    per machine and remembered beside the converted model)."""
    if setting != "auto":
        return setting
    record = folder / f"compute-type-{device}-{machine()}.json"
    if record.exists():
        return json.loads(record.read_text())["compute_type"]
    import ctranslate2

    supported = ctranslate2.get_supported_compute_types(device)
    timings = {kind: measure(kind) for kind in CANDIDATES[device] if kind in supported}
    if not timings:
        return "default"  # CTranslate2's own choice for the model and device
    best = min(timings, key=timings.get)
    handle, name = tempfile.mkstemp(prefix=f".{record.name}.", dir=folder)
    staging = Path(name)
    with os.fdopen(handle, "w") as out:
        json.dump({"compute_type": best, "seconds": timings}, out)
    try:  # the first process to finish measuring decides for every process: reuse keys
        os.link(staging, record)  # hold the compute type, so all must agree
    except FileExistsError:
        return json.loads(record.read_text())["compute_type"]
    finally:
        staging.unlink()
    log.info("compute types measured for %s on %s: %s; using %s", folder.name, device,
             {k: round(v, 3) for k, v in timings.items()}, best)
    return best


def probe_seconds(generate: Callable[[list[str], dict[str, Any]], list[str]],
                  count_tokens: Callable[[list[str]], list[int]], window: int) -> float:
    """Seconds one engine takes for the fixed measuring workload (the best of three, after a
    warm-up call): four inputs of up to 200 tokens (less for a smaller window), 16 new
    tokens each."""
    words = (PROBE_TEXT * 8).split()
    while count_tokens([" ".join(words)])[0] > min(200, window - 8):
        words = words[: len(words) * 3 // 4]
    texts = [" ".join(words)] * PROBE_BATCH
    settings = {"num_beams": 1, "min_new_tokens": PROBE_TOKENS, "max_new_tokens": PROBE_TOKENS}
    generate(texts[:1], settings)
    timings = []
    for _ in range(PROBE_REPEATS):  # the best of a few: one noisy timing must not decide
        started = time.perf_counter()
        generate(texts, settings)
        timings.append(time.perf_counter() - started)
    return min(timings)


def machine() -> str:
    """The processor and the cores in use: a choice measured on one machine holds there."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1]
                break
    except OSError:
        pass
    return f"{re.sub(r'[^A-Za-z0-9]+', '-', model).strip('-')[:60]}-{threads()}t"
