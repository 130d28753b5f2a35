"""Loading seq2seq models: once per process, safetensors only, never remote code."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.config import ModelRef
from tasks.tiny_models import fingerprint, is_tiny, tiny_model_path

log = logging.getLogger(__name__)
_loaded: dict[tuple[str, str | None, str], LoadedModel] = {}
_lock = threading.Lock()
# Transformers' own default window for tokenizers that do not declare one.
UNSET_MAX_LENGTH = 10**20
HASH_CHUNK_BYTES = 1 << 20


class ModelUnavailable(RuntimeError):
    """A model that is neither cached nor downloadable; the message says the ways out."""


@dataclass(frozen=True)
class LoadedModel:
    model_id: str
    revision: str | None
    tokenizer: Any
    model: Any
    device: str
    max_input_tokens: int

    @property
    def random_weights(self) -> bool:
        return is_tiny(self.model_id)

    def effective_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The `generate` settings in force: the config's, else the model's own defaults."""
        defaults = self.model.generation_config
        return {name: value if value is not None else getattr(defaults, name, None)
                for name, value in settings.items()}

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Input length of each text in tokens, special tokens included."""
        if not texts:
            return []
        encoded = self.tokenizer(texts, truncation=False, verbose=False)  # lengths are checked
        return [len(ids) for ids in encoded["input_ids"]]


def pick_device(setting: str) -> str:
    """`auto` means CUDA when available, else CPU."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def load_model(ref: ModelRef, device: str = "auto") -> LoadedModel:
    """Load a model and its tokenizer by hub id or folder, or reuse the one already loaded.

    Models are kept per (id, revision, device), where the revision is what the model records:
    a changed folder or a moved branch loads again.
    """
    device = pick_device(device)
    known = _known_revision(ref)
    with _lock:
        key = (ref.id, known or ref.revision, device)
        if key not in _loaded:
            loaded = _load(ref, device, known)
            key = (ref.id, loaded.revision, device)  # a commit known only after a download
            _loaded.setdefault(key, loaded)
        return _loaded[key]


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


def _load(ref: ModelRef, device: str, known: str | None) -> LoadedModel:
    """Load from the local cache first, else download; `known`: see `_known_revision`."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # bars flood run logs; the task logs timings
    source = str(tiny_model_path(ref.id)) if is_tiny(ref.id) else ref.id
    pinned = known if known and _is_hub_id(ref.id) else ref.revision  # the commit recorded
    options = dict(revision=pinned, trust_remote_code=False)
    try:
        try:  # the local cache first: no network round trips when the model is there
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, **options)
            model = AutoModelForSeq2SeqLM.from_pretrained(
                source, local_files_only=True, use_safetensors=True, **options)
        except OSError:
            if Path(source).is_dir() or os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "YES"):
                raise
            tokenizer = AutoTokenizer.from_pretrained(source, **options)
            model = AutoModelForSeq2SeqLM.from_pretrained(source, use_safetensors=True, **options)
    except OSError as exc:
        raise ModelUnavailable(
            f"model {ref.id!r} (revision {ref.revision or 'main'}) could not be loaded: it is "
            "not in the local cache and could not be downloaded, or it has no safetensors "
            f"weights ({str(exc).splitlines()[0]}). Ways out: '--models tiny' for an offline "
            "smoke run; a local folder as the model id; or a pre-filled HF_HOME (run "
            f"'hf download {ref.id}' where the Hub is reachable)."
        ) from exc
    model.to(device).eval()
    revision = known or _cached_commit(ref) or ref.revision  # after a download, the cache knows
    windows = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
    max_input = min([w for w in windows if w and w < UNSET_MAX_LENGTH] or [512])
    log.info("loaded %s (revision %s) on %s, input window %d tokens",
             ref.id, revision, device, max_input)
    return LoadedModel(ref.id, revision, tokenizer, model, device, max_input)
