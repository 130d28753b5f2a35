"""Throughput of the real model architectures with random weights: articles per second per core.

Random weights cost the same per token as trained ones, so speed and memory are honest;
quality is not measured. Output lengths are fixed (min = max new tokens) so runs compare.
The models are built from the real config and tokenizer files in ../shared/corpus/tokenizers.

    python benchmarks/throughput.py [--articles 8] [--languages fr] [--beams 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("BRIEFS_CORPUS", REPO.parent / "shared" / "corpus"))
ARCHITECTURES = {"summarizer": "distilbart-cnn-12-6", "fr": "opus-mt-en-fr"}
SUMMARY_TOKENS = 142
TRANSLATION_TOKENS = 160


def build_random_model(name: str, cache: Path) -> Path:
    """A folder holding the real tokenizer and config of `name`, with random weights."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    target = cache / name
    if (target / "model.safetensors").exists():
        return target
    source = CORPUS / "tokenizers" / name
    target.mkdir(parents=True, exist_ok=True)
    for file in source.iterdir():
        shutil.copy(file, target / file.name)
    model = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(source))
    model.save_pretrained(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=8)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=8192, help="batching.max_tokens")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"the shared corpus is absent ({CORPUS}); set BRIEFS_CORPUS")

    import torch

    from tasks.articles import RawObject, parse_object
    from tasks.config import load_config
    from tasks.models import load_model
    from tasks.pipeline import summarise_articles, translate_briefs
    from tasks.records import Article, Brief, Failure

    cache = Path(os.environ.get("BRIEFS_CACHE_DIR", Path.home() / ".cache" / "briefs")) / "bench"
    folders = {role: build_random_model(name, cache) for role, name in ARCHITECTURES.items()}
    base = load_config("default")
    config = base.model_copy(update={
        "languages": ["fr"],
        "models": base.models.model_copy(update={
            "summarizer": base.models.summarizer.model_copy(
                update={"id": str(folders["summarizer"])}),
            "translators": {"default": base.models.translator("fr").model_copy(
                update={"id": str(folders["fr"])})},
        }),
        "generation": base.generation.model_copy(update={
            "summary": base.generation.summary.model_copy(update={
                "num_beams": args.beams, "min_new_tokens": SUMMARY_TOKENS,
                "max_new_tokens": SUMMARY_TOKENS}),
            "translation": base.generation.translation.model_copy(update={
                "num_beams": args.beams, "min_new_tokens": TRANSLATION_TOKENS,
                "max_new_tokens": TRANSLATION_TOKENS}),
        }),
        "batching": base.batching.model_copy(update={"max_tokens": args.max_tokens}),
        "runtime": base.runtime.model_copy(update={"device": args.device}),
    })
    with (CORPUS / "summaries.jsonl").open() as lines:
        rows = [json.loads(line) for _, line in zip(range(args.articles), lines, strict=False)]
    articles = []
    for row in rows:
        [article] = parse_object(RawObject(f"{row['id']}.txt", row["id"],
                                           row["article"].encode()), config.limits)
        assert isinstance(article, Article), article
        article.language = "en"
        articles.append(article)

    started = time.perf_counter()
    summarizer = load_model(config.models.summarizer, args.device)
    load_model(config.models.translator("fr"), args.device)
    load_s = time.perf_counter() - started
    input_tokens = sum(summarizer.count_tokens([a.text for a in articles]))

    started = time.perf_counter()
    briefs = summarise_articles(articles, config)
    summarise_s = time.perf_counter() - started
    started = time.perf_counter()
    translated = translate_briefs([b for b in briefs if isinstance(b, Brief)], config)
    translate_s = time.perf_counter() - started
    failures = [r for r in [*briefs, *translated] if isinstance(r, Failure)]

    cores = torch.get_num_threads()
    total_s = summarise_s + translate_s
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chunks = sum(b.chunks for b in translated if isinstance(b, Brief))
    print(f"device {summarizer.device}, torch threads {cores}, beams {args.beams}, "
          f"batching.max_tokens {args.max_tokens}")
    print(f"articles {len(articles)} ({input_tokens} input tokens, {chunks} chunks), "
          f"failed {len(failures)}")
    print(f"load models        {load_s:8.1f} s")
    print(f"summarise          {summarise_s:8.1f} s  ({SUMMARY_TOKENS} new tokens a chunk)")
    print(f"translate to fr    {translate_s:8.1f} s  ({TRANSLATION_TOKENS} new tokens a text, "
          "titles included)")
    print(f"articles/s         {len(articles) / total_s:8.3f}")
    print(f"articles/s/core    {len(articles) / total_s / cores:8.3f}")
    print(f"articles/hour      {3600 * len(articles) / total_s:8.0f}")
    print(f"peak RSS           {peak_mb:8.0f} MiB")


if __name__ == "__main__":
    main()
