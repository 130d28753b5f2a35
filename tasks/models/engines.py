"""Generation engines behind one small interface: transformers or CTranslate2.

Batching, chunking, summarizing and translating never know which engine runs: they call
`engine.generate(texts, settings)`. Tokenisation stays with the model's own Hugging Face
tokenizer on both engines. Every call adds to `GENERATION`, the process's count of seconds
spent inside generation and tokens generated, so a run can tell its generation time from
everything else (Prefect, I/O, parsing, tokenisation).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

POLL_SECONDS = 0.005  # how often a waiting CTranslate2 call checks for its results
# Architectures (config.model_type) CTranslate2's Transformers converter handles.
CT2_ARCHITECTURES = {"bart", "marian", "mbart", "t5", "mt5", "m2m_100", "pegasus"}
# Generation settings (Hugging Face names) → CTranslate2's translate_batch options.
CT2_OPTIONS = {"num_beams": "beam_size", "max_new_tokens": "max_decoding_length",
               "min_new_tokens": "min_decoding_length", "length_penalty": "length_penalty",
               "no_repeat_ngram_size": "no_repeat_ngram_size"}

# A setting naming a token forced as the first output token (a target language code).
FORCED_TOKEN = "forced_bos_token"


@dataclass
class GenerationStats:
    """Seconds inside `generate` calls and tokens generated, for this process. Calls that
    overlap (batches run at once) count their wall time once: seconds accrue while at least
    one call runs."""

    seconds: float = 0.0
    tokens: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._since = 0.0

    @contextmanager
    def call(self) -> Iterator[None]:
        """Time one `generate` call."""
        with self._lock:
            if not self._running:
                self._since = time.perf_counter()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self.seconds += time.perf_counter() - self._since

    def add_tokens(self, tokens: int) -> None:
        with self._lock:
            self.tokens += tokens

    def snapshot(self) -> tuple[float, int]:
        with self._lock:
            return self.seconds, self.tokens

    def since(self, snapshot: tuple[float, int]) -> tuple[float, int]:
        """Seconds and tokens added since `snapshot`."""
        seconds, tokens = self.snapshot()
        return seconds - snapshot[0], tokens - snapshot[1]


GENERATION = GenerationStats()


class Engine(Protocol):
    name: str
    compute_type: str
    parallel_calls: int  # how many generate calls it runs at once

    def generate(self, texts: list[str], settings: dict[str, Any]) -> list[str]: ...


class TransformersEngine:
    """`model.generate` under `torch.inference_mode`, padded batches."""

    name = "transformers"
    parallel_calls = 1

    def __init__(self, model: Any, tokenizer: Any, device: str) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.compute_type = str(model.dtype).removeprefix("torch.")

    def generate(self, texts: list[str], settings: dict[str, Any]) -> list[str]:
        import torch

        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=False)
        encoded = {name: tensor.to(self.device) for name, tensor in encoded.items()}
        options = {name: value for name, value in settings.items()
                   if value is not None and name != FORCED_TOKEN}
        if settings.get(FORCED_TOKEN):  # NLLB, M2M100: the target language's code
            options["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(
                settings[FORCED_TOKEN])
        with GENERATION.call(), torch.inference_mode():
            output = self.model.generate(**encoded, **options)
        pad = self.model.generation_config.pad_token_id
        GENERATION.add_tokens(int((output[:, 1:] != pad).sum()))  # column 0: the start token
        decoded = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        return [text.strip() for text in decoded]


class CTranslate2Engine:
    """A converted model run by CTranslate2's `Translator.translate_batch`."""

    name = "ctranslate2"

    def __init__(self, translator: Any, tokenizer: Any, compute_type: str,
                 generation_config: Any, vocabulary: set[str], parallel_calls: int = 1) -> None:
        self.translator, self.tokenizer = translator, tokenizer
        self.compute_type = compute_type
        self.parallel_calls = parallel_calls  # the translator's workers (inter_threads)
        self.defaults = generation_config
        bos = getattr(generation_config, "forced_bos_token_id", None)
        # A model whose generate() forces a first token (BART's <s>) gets it as a prefix.
        self.prefix = [tokenizer.convert_ids_to_tokens(bos)] if bos is not None else None
        # Tokens the model's generation config suppresses (the converter may have dropped
        # some from the target vocabulary, Marian's <pad>: those cannot be generated anyway).
        suppressed = list(getattr(generation_config, "suppress_tokens", None) or [])
        self.suppressed = [[token] for token in tokenizer.convert_ids_to_tokens(suppressed)
                           if token in vocabulary]

    def generate(self, texts: list[str], settings: dict[str, Any]) -> list[str]:
        sources = [self.tokenizer.convert_ids_to_tokens(self.tokenizer.encode(text))
                   for text in texts]
        prefix = [settings[FORCED_TOKEN]] if settings.get(FORCED_TOKEN) else self.prefix
        with GENERATION.call():
            pending = self.translator.translate_batch(
                sources, target_prefix=[prefix] * len(texts) if prefix else None,
                max_input_length=0,  # never truncate: inputs over the window are refused earlier
                suppress_sequences=self.suppressed or None, asynchronous=True,
                **self.options(settings))
            while not all(result.done() for result in pending):
                time.sleep(POLL_SECONDS)  # Python keeps running: a task timeout can interrupt
            hypotheses = [result.result().hypotheses[0] for result in pending]
        GENERATION.add_tokens(sum(len(h) for h in hypotheses))
        ids = [self.tokenizer.convert_tokens_to_ids(tokens) for tokens in hypotheses]
        return [text.strip() for text in self.tokenizer.batch_decode(ids,
                                                                     skip_special_tokens=True)]

    def options(self, settings: dict[str, Any]) -> dict[str, Any]:
        """translate_batch options from generation settings (the model's defaults filling
        in `max_length`/`min_length` where no `*_new_tokens` is set)."""
        options = {CT2_OPTIONS[name]: value for name, value in settings.items()
                   if name in CT2_OPTIONS and value is not None}
        for ours, theirs in (("max_decoding_length", "max_length"),
                             ("min_decoding_length", "min_length")):
            if ours not in options and getattr(self.defaults, theirs, None):
                options[ours] = getattr(self.defaults, theirs)
        options.setdefault("beam_size", getattr(self.defaults, "num_beams", 1) or 1)
        if "max_decoding_length" in options and getattr(self.defaults, "forced_eos_token_id",
                                                        None) is not None:
            # transformers counts the end token it forces at the limit as a new token;
            # CTranslate2 stops without one: one token less gives the same output.
            options["max_decoding_length"] -= 1
            if options.get("min_decoding_length", 0) > options["max_decoding_length"]:
                options["min_decoding_length"] = options["max_decoding_length"]  # as forced
        return options
