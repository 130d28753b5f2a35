"""Throughput side by side: the naive transformers loop against `briefs run` on each engine.

    python benchmarks/throughput.py [--articles 24] [--device cpu|cuda]       (make bench)

Models of the real architectures and vocabularies with random weights (they cost the same
per token as trained ones), built once into a cache from ../shared/corpus/tokenizers:
distilbart-cnn-12-6 summarizes, opus-mt-en-fr translates (three separate copies, for de, fr
and es, so memory is that of three translators). Same work on every side: articles of
300-650 words from the corpus, greedy, 80 new tokens for the summary and for each of the
three translations. Each side is a whole process; the `briefs run` sides talk to a Prefect
server started beforehand, as in production, and read from a local folder.

Rates count the time after the models are loaded (load time is shown apart): the naive
loop's per-article loop, `briefs run`'s flow from its models loaded to its manifest written.
The last line is `speedup_vs_naive=X.XX overhead_pct=Y.Y peak_rss_gb=Z.ZZ` for the best
engine, where overhead is the share of that time spent outside generation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("BRIEFS_CORPUS", REPO.parent / "shared" / "corpus"))
SUMMARISER, TRANSLATOR = "distilbart-cnn-12-6", "opus-mt-en-fr"
LANGUAGES = ("de", "fr", "es")
NEW_TOKENS = 80
WORDS = (300, 650)


@dataclass
class Side:
    name: str
    articles: int
    load_seconds: float
    brief_seconds: float
    generate_seconds: float
    generated_tokens: int
    wall_seconds: float
    peak_rss_gb: float

    @property
    def per_minute(self) -> float:
        return 60 * self.articles / self.brief_seconds

    @property
    def overhead_pct(self) -> float:
        return 100 * (self.brief_seconds - self.generate_seconds) / self.brief_seconds

    def row(self) -> str:
        return (f"| {self.name} | {self.articles} | {self.per_minute:.1f} | "
                f"{self.generated_tokens / self.brief_seconds:.0f} | "
                f"{self.generate_seconds:.1f} | {self.brief_seconds - self.generate_seconds:.1f} | "
                f"{self.overhead_pct:.1f} | {self.load_seconds:.1f} | {self.wall_seconds:.1f} | "
                f"{self.peak_rss_gb:.2f} |")


HEADER = ("| side | articles | articles/min | generated tokens/s | s in generation | "
          "s outside it | overhead % | load s | process wall s | peak RSS GB |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def build_models(cache: Path) -> dict[str, Path]:
    """Random-weight models of the real architectures: the summarizer and three translators."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    folders = {}
    cache.mkdir(parents=True, exist_ok=True)
    for role, name in [("summarizer", SUMMARISER), *((lang, TRANSLATOR) for lang in LANGUAGES)]:
        target = cache / (name if role == "summarizer" else f"{name}-as-en-{role}")
        if not (target / "model.safetensors").exists():
            source = CORPUS / "tokenizers" / name
            staging = Path(tempfile.mkdtemp(dir=cache))
            for file in source.iterdir():
                shutil.copy(file, staging / file.name)
            model = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(source))
            _quiet_special_tokens(model, source)
            model.save_pretrained(staging)
            shutil.copy(source / "generation_config.json", staging)  # the model's own defaults
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        folders[role] = target
    return folders


def _quiet_special_tokens(model, folder: Path) -> None:
    """Zero the output rows of the special tokens but the end token: random weights would
    otherwise repeat one (`<s>`), which decodes to nothing. The cost per token is unchanged."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    weights = model.get_output_embeddings().weight
    quiet = sorted(i for i in set(tokenizer.all_special_ids) - {tokenizer.eos_token_id}
                   if i < weights.shape[0])
    with torch.no_grad():
        weights[quiet] = 0


def pick_articles(count: int) -> list[str]:
    """`count` distinct corpus articles of 300-650 words (repeats get a distinct last line)."""
    rows = [json.loads(line) for line in (CORPUS / "summaries.jsonl").open(encoding="utf-8")]
    fitting = [r["article"] for r in rows if WORDS[0] <= len(r["article"].split()) <= WORDS[1]]
    return [fitting[i % len(fitting)] + ("" if i < len(fitting) else f"\n\nCopy {i}.")
            for i in range(count)]


def run_process(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run a whole process; its wall seconds and peak RSS in GB (from the kernel's rusage)."""
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(command[:4])} failed ({process.returncode}); see {log}:\n"
                         + log.read_text()[-3000:])
    return time.perf_counter() - started, usage.ru_maxrss / 1024 / 1024


def naive_side(work: Path, folders: dict[str, Path], articles: list[str],
               env: dict[str, str], device: str) -> Side:
    feed = work / "naive.jsonl"
    feed.write_text("".join(json.dumps({"body": a}) + "\n" for a in articles))
    log = work / "naive.log"
    wall, rss = run_process([sys.executable, str(REPO / "benchmarks" / "naive_loop.py"),
                             str(feed), str(folders["summarizer"]),
                             *(str(folders[lang]) for lang in LANGUAGES),
                             "--new-tokens", str(NEW_TOKENS), "--device", device], env, log)
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return Side("naive transformers loop", len(articles), result["load_seconds"],
                result["brief_seconds"], result["generate_seconds"],
                result["generated_tokens"], wall, rss)


def briefs_config(folders: dict[str, Path], engine: str, device: str, default_settings: bool
                  ) -> dict:
    """The run's config: the benchmark's fixed lengths, or the default preset's settings."""
    preset = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    fixed = {"num_beams": 1, "min_new_tokens": NEW_TOKENS, "max_new_tokens": NEW_TOKENS}
    translator = str(folders["de"]).replace("-as-en-de", "-as-en-{lang}")
    return {**preset, "languages": list(LANGUAGES),
            "models": {"summarizer": {"id": str(folders["summarizer"])},
                       "translators": {"default": {"id": translator}}},
            "generation": preset["generation"] if default_settings else {
                "summary": fixed, "translation": fixed},
            "runtime": {"engine": engine, "compute_type": "auto", "device": device}}


def briefs_side(name: str, work: Path, config: dict, articles: list[str],
                env: dict[str, str]) -> Side:
    source, dest = work / f"{name}-in", work / f"{name}-out"
    source.mkdir()
    for number, article in enumerate(articles):
        (source / f"{number:04d}.txt").write_text(article)
    config_file = work / f"{name}.yaml"
    config_file.write_text(yaml.safe_dump(config))
    wall, rss = run_process([sys.executable, "-m", "briefs.flows.cli", "run", str(source),
                             str(dest), "--config", str(config_file)], env, work / f"{name}.log")
    manifest = json.loads((dest / "manifest.json").read_text())
    if manifest["counts"]["succeeded"] != len(articles):
        raise SystemExit(f"{name}: {manifest['counts']}; see {work / f'{name}.log'}")
    timings = manifest["timings"]
    return Side(name, len(articles), timings["load_models_seconds"], timings["brief_seconds"],
                timings["generate_seconds"], timings["generated_tokens"], wall, rss)


def prefect_server(home: Path) -> tuple[subprocess.Popen, str]:
    """A Prefect server on a free loopback port, up before anything is timed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start",
                               "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return server, url
        except OSError:
            time.sleep(1)
    server.kill()
    raise SystemExit("the Prefect server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=24)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-naive", action="store_true", help="skip the slow naive loop")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"the shared corpus is absent ({CORPUS}); set BRIEFS_CORPUS")
    cache = Path(os.environ.get("BRIEFS_CACHE_DIR", Path.home() / ".cache" / "briefs")) / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    folders = build_models(cache)
    work = Path(tempfile.mkdtemp(prefix="briefs-bench-"))
    server, api = prefect_server(work / "prefect-home")
    env = {**os.environ, "PREFECT_API_URL": api, "HF_HUB_OFFLINE": "1",
           "BRIEFS_CACHE_DIR": str(cache.parent)}
    try:
        articles = pick_articles(args.articles)
        sides = [] if args.no_naive else [naive_side(work, folders, articles, env, args.device)]
        for engine in ("transformers", "ctranslate2"):
            sides.append(briefs_side(f"briefs {engine}", work,
                                     briefs_config(folders, engine, args.device, False),
                                     articles, env))
        best = max(sides[-2:], key=lambda side: side.per_minute)
        engine = best.name.split()[-1]
        larger = briefs_side(f"briefs {engine} 4x", work,
                             briefs_config(folders, engine, args.device, False),
                             pick_articles(4 * args.articles), env)
        planning = briefs_side(f"briefs {engine} default settings", work,
                               briefs_config(folders, engine, args.device, True), articles, env)
    finally:
        server.terminate()
        server.wait(timeout=60)
    import torch

    print(f"device {args.device}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}; {NEW_TOKENS} new tokens for the summary and for each of "
          f"{len(LANGUAGES)} translations, greedy; work folder {work}")
    print(HEADER)
    for side in [*sides, larger]:
        print(side.row())
    print(f"\ncost per article, 4x against 1x ({engine}): "
          f"{100 * (best.per_minute / larger.per_minute - 1):+.1f}%")
    print(f"night planning, default preset settings (beams, lengths) on {engine}: "
          f"{60 * planning.per_minute:.0f} articles/hour "
          f"({planning.per_minute:.2f}/min, peak RSS {planning.peak_rss_gb:.2f} GB)")
    shutil.rmtree(work, ignore_errors=True)
    naive = sides[0] if not args.no_naive else None
    speedup = best.per_minute / naive.per_minute if naive else float("nan")
    print(f"speedup_vs_naive={speedup:.2f} overhead_pct={best.overhead_pct:.1f} "
          f"peak_rss_gb={best.peak_rss_gb:.2f}")


if __name__ == "__main__":
    main()
