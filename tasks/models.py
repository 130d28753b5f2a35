"""Loading seq2seq models: once per process, safetensors only, never remote code."""

from __future__ import annotations

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
    """Load a model and its tokenizer by hub id or folder, or reuse the one already loaded."""
    device = pick_device(device)
    key = (ref.id, ref.revision, device)
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(ref, device)
        return _loaded[key]


def _load(ref: ModelRef, device: str) -> LoadedModel:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # bars flood run logs; the task logs timings
    source = str(tiny_model_path(ref.id)) if is_tiny(ref.id) else ref.id
    options = dict(revision=ref.revision, trust_remote_code=False)
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
    revision = fingerprint() if is_tiny(ref.id) else (
        getattr(model.config, "_commit_hash", None) or ref.revision)
    windows = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
    max_input = min([w for w in windows if w and w < UNSET_MAX_LENGTH] or [512])
    log.info("loaded %s (revision %s) on %s, input window %d tokens",
             ref.id, revision, device, max_input)
    return LoadedModel(ref.id, revision, tokenizer, model, device, max_input)
