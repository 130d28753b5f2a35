"""Loading seq2seq models: once per process, safetensors only, never remote code."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from briefs.tasks.core.config import ModelRef, RuntimeConfig
from briefs.tasks.models import ct2
from briefs.tasks.models.engines import (
    CT2_ARCHITECTURES,
    CTranslate2Engine,
    Engine,
    TransformersEngine,
)
from briefs.tasks.models.tiny import (
    NLLB_ID,
    SUMMARIZER_ID,
    TRANSLATOR_PATTERN,
    fingerprint,
    is_tiny,
    tiny_model_path,
)

log = logging.getLogger(__name__)
_loaded: dict[tuple[str | None, ...], LoadedModel] = {}
_used: set[tuple[str | None, ...]] = set()  # asked for since the last release_unused_models
_loads = 0  # the times this process loaded a model (not found in memory)
_lock = threading.Lock()
# Transformers' own default window for tokenizers that do not declare one.
UNSET_MAX_LENGTH = 10**20
HASH_CHUNK_BYTES = 1 << 20
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # `org/name` (or a bare legacy `name`)


class ModelUnavailable(RuntimeError):
    """A model that is neither cached nor downloadable; the message says the ways out."""


@dataclass(frozen=True)
class LoadedModel:
    model_id: str
    revision: str | None
    tokenizer: Any
    engine: Engine
    device: str
    max_input_tokens: int
    generation_config: Any  # the model's own generation defaults
    model: Any = None  # the transformers model (transformers engine only)

    @property
    def random_weights(self) -> bool:
        return is_tiny(self.model_id)

    @property
    def runs_on(self) -> dict[str, str]:
        """The engine and compute type: recorded in briefs, part of every reuse key."""
        return {"engine": self.engine.name, "compute_type": self.engine.compute_type}

    def effective_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The `generate` settings in force: the config's, else the model's own defaults."""
        return {name: value if value is not None else getattr(self.generation_config, name, None)
                for name, value in settings.items()}

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Input length of each text in tokens, special tokens included."""
        return token_counts(self.tokenizer, texts)

    def count_output_tokens(self, texts: list[str]) -> list[int]:
        """Length of each generated text in the model's output tokens (the target vocabulary
        where it has its own), the end token included."""
        if not texts:
            return []
        encoded = self.tokenizer(text_target=texts, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]


def token_counts(tokenizer: Any, texts: list[str]) -> list[int]:
    """Input length of each text in tokens, special tokens included (never truncated)."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, truncation=False, verbose=False)["input_ids"]]


def pick_device(setting: str) -> str:
    """`auto` means CUDA when available, else CPU."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def load_model(ref: ModelRef, runtime: RuntimeConfig | None = None) -> LoadedModel:
    """Load a model and its tokenizer by hub id or folder, or reuse the one already loaded.

    Models are kept per (id, revision, device, engine, compute type), where the revision is
    what the model records: a changed folder or a moved branch loads again.
    """
    global _loads
    runtime = runtime or RuntimeConfig()
    device = pick_device(runtime.device)
    known = _known_revision(ref)
    with _lock:
        key = (ref.id, known or ref.revision, device, runtime.engine, runtime.compute_type)
        if key not in _loaded:
            loaded = _load(ref, device, known, runtime)
            _loads += 1
            key = (ref.id, loaded.revision, *key[2:])  # a commit known only after a download
            _loaded.setdefault(key, loaded)
        _used.add(key)
        return _loaded[key]


def models_loaded() -> int:
    """The times this process has loaded a model (read, built or downloaded: not found in
    memory); a model released and asked for again counts again."""
    return _loads


def release_unused_models() -> list[str]:
    """Forget the models no `load_model` call asked for since the last release (a process
    that runs one night after another keeps only the last one's); returns their ids."""
    with _lock:
        unused = [key for key in _loaded if key not in _used]
        for key in unused:
            del _loaded[key]
        _used.clear()
    return [str(key[0]) for key in unused]


def model_presence(ref: ModelRef) -> tuple[str, str | None]:
    """Where a model would load from, without loading it: `tiny` (built here on first use),
    `folder`, `cache` (the Hugging Face cache) or `hub` (to be downloaded), and why it cannot
    load from there (None: it can; a hub download is for the caller to check)."""
    if is_tiny(ref.id):
        known = ref.id in (SUMMARIZER_ID, NLLB_ID) or TRANSLATOR_PATTERN.match(ref.id)
        return "tiny", None if known else (
            f"unknown tiny model {ref.id!r}: the tiny models are {SUMMARIZER_ID}, {NLLB_ID} "
            "and briefs-tiny/marian-<source>-<target>-random-weights")
    folder = Path(ref.id).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            return "folder", (f"the model folder {folder.resolve()} holds no config.json: not "
                              "a saved model (save one with save_pretrained, or name a hub id)")
        if not any(folder.glob("*.safetensors")):
            return "folder", (f"the model folder {folder.resolve()} holds no safetensors "
                              "weights (only those are loaded): save it with "
                              "save_pretrained(..., safe_serialization=True)")
        return "folder", None
    if not HUB_ID.match(ref.id):
        return "folder", (f"the model folder {folder.resolve()} does not exist (nor is "
                          f"{ref.id!r} a hub id such as 'org/name'): check the path")
    return ("cache", None) if _cached_commit(ref) else ("hub", None)


def _is_hub_id(model_id: str) -> bool:
    """Whether a model id names a hub repository, not a tiny model or a local folder."""
    return not is_tiny(model_id) and not Path(model_id).is_dir()


def _known_revision(ref: ModelRef) -> str | None:
    """The revision to record, as far as it is known before loading (None: not cached yet)."""
    if is_tiny(ref.id):
        return fingerprint()
    if Path(ref.id).is_dir():
        return _weights_hash(Path(ref.id))
    return _cached_commit(ref)


def _weights_hash(folder: Path) -> str:
    """`sha256:` and 16 hex digits of the folder's safetensors files (names and contents).

    Hashed once per version of the files (path, size, modification time), not per call.
    """
    files = sorted(p for p in folder.resolve().glob("*.safetensors") if p.is_file())
    return _hash_files(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=64)
def _hash_files(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in files:
        path = Path(name)
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as weights:
            while chunk := weights.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()[:16]}"


def _cached_commit(ref: ModelRef) -> str | None:
    """The commit the Hugging Face cache holds for the hub id at its revision (a branch, tag or
    commit; default `main`), read from the cache alone; None when it is not cached."""
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(ref.id, "config.json", revision=ref.revision)
    except ValueError:  # not a valid repo id: loading will say so
        return None
    # A cached file lies in <cache>/models--<org>--<name>/snapshots/<commit>/.
    return Path(config).parent.name if isinstance(config, str) else None


def _load(ref: ModelRef, device: str, known: str | None, runtime: RuntimeConfig) -> LoadedModel:
    """Load from the local cache first, else download; `known`: see `_known_revision`."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # bars flood run logs; the task logs timings
    source = str(tiny_model_path(ref.id)) if is_tiny(ref.id) else ref.id
    pinned = known if known and _is_hub_id(ref.id) else ref.revision  # the commit recorded

    def fetch(loader: Any, **extra: Any) -> Any:
        return _from_pretrained(loader, ref, source, revision=pinned, **extra)

    tokenizer = fetch(AutoTokenizer)
    config = fetch(AutoConfig)
    revision = known or _cached_commit(ref) or ref.revision  # after a download, the cache knows
    engine_name = choose_engine(runtime.engine, config.model_type, ref.id)
    dtype = _torch_dtype(runtime.compute_type, device, engine_name)
    max_input = min(_windows(config, tokenizer))
    if engine_name == "ctranslate2":
        folder = ct2.converted_folder(ref.id, revision, lambda: (
            fetch(AutoModelForSeq2SeqLM, use_safetensors=True), tokenizer))
        generation = fetch(GenerationConfig) if _has_generation_config(source) else (
            GenerationConfig.from_model_config(config))
        engine = _ctranslate2_engine(folder, device, runtime.compute_type, tokenizer, generation,
                                     max_input)
        model = None
    else:
        model = fetch(AutoModelForSeq2SeqLM, use_safetensors=True, dtype=dtype)
        model.to(device).eval()
        generation = model.generation_config
        engine = TransformersEngine(model, tokenizer, device)
    log.info("loaded %s (revision %s) on %s with %s %s, input window %d tokens",
             ref.id, revision, device, engine.name, engine.compute_type, max_input)
    return LoadedModel(ref.id, revision, tokenizer, engine, device, max_input, generation, model)


def _windows(config: Any, tokenizer: Any) -> list[int]:
    """Input windows the model declares (positions, tokenizer), or 512 when it declares none."""
    windows = [getattr(config, "max_position_embeddings", None), tokenizer.model_max_length]
    return [w for w in windows if w and w < UNSET_MAX_LENGTH] or [512]


def choose_engine(setting: str, model_type: str, model_id: str) -> str:
    """`auto`: CTranslate2 where the architecture converts (and it is installed)."""
    if setting == "transformers":
        return setting
    installed = importlib.util.find_spec("ctranslate2") is not None
    if setting == "ctranslate2" and not installed:
        raise ModelUnavailable("runtime.engine is ctranslate2 but CTranslate2 is not installed: "
                               "pip install 'briefs[ct2]', or set runtime.engine to auto")
    convertible = model_type in CT2_ARCHITECTURES and installed
    if setting == "ctranslate2" and not convertible:
        raise ModelUnavailable(f"model {model_id!r} ({model_type}) cannot run on CTranslate2: "
                               f"it converts {', '.join(sorted(CT2_ARCHITECTURES))}; set "
                               "runtime.engine to transformers or auto")
    return "ctranslate2" if convertible else "transformers"


def _torch_dtype(compute_type: str, device: str, engine: str) -> Any:
    """The dtype transformers loads weights in: float32 on CPU, half precision on CUDA."""
    import torch

    if engine == "ctranslate2":
        return None
    if compute_type == "auto":
        if not device.startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if compute_type.startswith("int8"):
        raise ModelUnavailable(f"runtime.compute_type {compute_type} needs the ctranslate2 "
                               "engine; transformers runs float32, float16 or bfloat16")
    return getattr(torch, compute_type)


def _ctranslate2_engine(folder: Path, device: str, setting: str, tokenizer: Any,
                        generation: Any, window: int) -> CTranslate2Engine:
    import ctranslate2

    workers, threads = ct2.cpu_workers() if device == "cpu" else (1, ct2.threads())

    def engine_with(kind: str) -> CTranslate2Engine:
        translator = ctranslate2.Translator(str(folder), device=device.split(":")[0],
                                            device_index=_device_index(device),
                                            compute_type=kind, inter_threads=workers,
                                            intra_threads=threads)
        return CTranslate2Engine(translator, tokenizer, kind, generation,
                                 ct2.target_vocabulary(folder), parallel_calls=workers)

    chosen = ct2.compute_type(setting, folder, device.split(":")[0],
                              lambda kind: ct2.probe_seconds(
                                  engine_with(kind).generate,
                                  lambda texts: token_counts(tokenizer, texts), window))
    return engine_with(chosen)


def _device_index(device: str) -> int:
    return int(device.split(":")[1]) if ":" in device else 0


def _has_generation_config(source: str) -> bool:
    """Whether the model ships a generation_config.json (a folder, or any hub snapshot)."""
    return not Path(source).is_dir() or (Path(source) / "generation_config.json").exists()


def _from_pretrained(loader: Any, ref: ModelRef, source: str, **options: Any) -> Any:
    """`loader.from_pretrained` from the local cache first, else from the Hub; never remote
    code. A model that cannot be had raises `ModelUnavailable` naming the ways out."""
    options["trust_remote_code"] = False
    try:
        try:  # the local cache first: no network round trips when the model is there
            return loader.from_pretrained(source, local_files_only=True, **options)
        except OSError:
            if Path(source).is_dir() or os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "YES"):
                raise
            return loader.from_pretrained(source, **options)
    except OSError as exc:
        raise ModelUnavailable(
            f"model {ref.id!r} (revision {ref.revision or 'main'}) could not be loaded: it is "
            "not in the local cache and could not be downloaded, or it has no safetensors "
            f"weights ({str(exc).splitlines()[0]}). Ways out: '--models tiny' for an offline "
            "smoke run; a local folder as the model id; or a pre-filled HF_HOME (run "
            f"'hf download {ref.id}' where the Hub is reachable)."
        ) from exc
