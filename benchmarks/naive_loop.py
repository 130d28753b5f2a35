"""The loop a user would write with transformers: one article at a time, batch size 1.

    python benchmarks/naive_loop.py ARTICLES.jsonl SUMMARISER DE FR ES [--new-tokens 80]
        [--device cpu|cuda]

Per article: tokenize, `generate` at batch 1, decode; then each language the same on the
summary. Greedy, with the models' own generation config for everything else, as a user who
passes only `num_beams`, `min_new_tokens` and `max_new_tokens` gets. Prints one JSON line:
load_seconds, brief_seconds, generate_seconds, generated_tokens, articles.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("articles", help="JSONL, one {'body': ...} a line")
    parser.add_argument("summarizer")
    parser.add_argument("translators", nargs="+")
    parser.add_argument("--new-tokens", type=int, default=80)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()

    started = time.perf_counter()
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    def load(folder: str):
        return (AutoTokenizer.from_pretrained(folder),
                AutoModelForSeq2SeqLM.from_pretrained(folder).to(args.device).eval())

    summarizer, translators = load(args.summarizer), [load(f) for f in args.translators]
    with open(args.articles, encoding="utf-8") as lines:
        articles = [json.loads(line)["body"] for line in lines if line.strip()]
    loaded = time.perf_counter()
    generating, tokens = 0.0, 0
    settings = {"num_beams": 1, "min_new_tokens": args.new_tokens,
                "max_new_tokens": args.new_tokens}

    def run(model_and_tokenizer, text: str) -> str:
        nonlocal generating, tokens
        tokenizer, model = model_and_tokenizer
        inputs = tokenizer(text, return_tensors="pt").to(args.device)
        before = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(**inputs, **settings)
        generating += time.perf_counter() - before
        tokens += output.shape[1] - 1
        return tokenizer.decode(output[0], skip_special_tokens=True)

    for article in articles:
        summary = run(summarizer, article)
        for translator in translators:
            run(translator, summary)
    print(json.dumps({"load_seconds": loaded - started,
                      "brief_seconds": time.perf_counter() - loaded,
                      "generate_seconds": generating, "generated_tokens": int(tokens),
                      "articles": len(articles)}))


if __name__ == "__main__":
    main()
