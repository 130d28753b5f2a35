"""Translation: a text as one unit when it fits the model's window, else sentence by sentence.

A multi-target translator gets its target token before each input (`input_prefix` in the
settings); NLLB and M2M100 get theirs as a forced first token (`forced_bos_token`, which the
engines pass on). Glossary terms are masked before `generate` and put back after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from briefs.tasks.core.config import CallBudget
from briefs.tasks.generation.batching import cut_outputs, generate_texts
from briefs.tasks.generation.glossary import mask, missing_terms, unmask
from briefs.tasks.ingest.text import join_sentences, pack_chunks, split_sentences
from briefs.tasks.models.loading import LoadedModel


@dataclass(frozen=True)
class Translation:
    text: str
    lost_terms: list[str] = field(default_factory=list)  # glossary terms that did not come back
    cut_parts: int = 0  # parts (segments) that stopped at max_new_tokens mid-sentence


def translate_texts(
    loaded: LoadedModel, texts: list[str], settings: dict[str, Any], budget: CallBudget,
    source_language: str = "en", target_language: str = "en",
    glossary: dict[str, str] | None = None,
) -> list[Translation | Exception]:
    """Translate each text (empty stays empty); segments of all texts share batched calls.

    `glossary`: source term → what must appear in the output (see tasks/generation/glossary.py).
    """
    prefix = settings.get("input_prefix")
    options = {name: value for name, value in settings.items() if name != "input_prefix"}
    window = loaded.max_input_tokens - (len(loaded.tokenizer.tokenize(prefix)) if prefix else 0)
    segments: list[tuple[int, str]] = []
    results: list[Translation | Exception] = [Translation("")] * len(texts)
    masked = [mask(text, glossary or {}) for text in texts]
    lengths = loaded.count_tokens([m.text for m in masked])
    for index, (item, length) in enumerate(zip(masked, lengths, strict=True)):
        if not item.text.strip():
            continue
        if length <= window:
            segments.append((index, item.text))
            continue
        try:
            chunks = pack_chunks(split_sentences(item.text, source_language),
                                 loaded.count_tokens, window, source_language)
        except ValueError as exc:
            results[index] = exc
            continue
        segments.extend((index, chunk) for chunk in chunks)
    inputs = [f"{prefix} {segment}" if prefix else segment for _, segment in segments]
    outputs = generate_texts(loaded, inputs, options, budget)
    joined: dict[int, list[str]] = {}
    cut = cut_outputs(loaded, outputs, options.get("max_new_tokens"))
    cut_parts: dict[int, int] = {}
    for (index, _), output, was_cut in zip(segments, outputs, cut, strict=True):
        if isinstance(output, Exception):
            results[index] = output
        elif not isinstance(results[index], Exception):
            joined.setdefault(index, []).append(output)
            cut_parts[index] = cut_parts.get(index, 0) + was_cut
    for index, parts in joined.items():
        if not isinstance(results[index], Exception):
            restored = unmask(join_sentences(parts, target_language), masked[index])
            # Checked again on the output: a term must be there as often as in the input.
            lost = [*restored.lost, *missing_terms(restored.text, glossary or {}, texts[index])]
            results[index] = Translation(restored.text, list(dict.fromkeys(lost)),
                                         cut_parts[index])
    return results

