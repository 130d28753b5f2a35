"""A full-size night: `briefs run` over 2,000 articles, its memory and pace sampled throughout.

    python benchmarks/night.py [--articles 2000] [--engine ctranslate2] [--default-settings]
                               [--plot docs/img/bench-night.png]          (make bench-night)

The models and work are `benchmarks/throughput.py`'s (real architectures, random weights,
80 new tokens for the summary and each of three translations, greedy; `--default-settings`
takes the default preset's beams and lengths instead), on corpus articles cycled with
distinct ids. One `briefs run` process against a Prefect server started beforehand. Every
`--every` seconds the RSS of its process tree is sampled; each brief's write time is its
file's mtime. Printed: RSS when 10%, 50% and 100% of the articles were written (the median
of the samples of the tenth that ends there), the peak, and articles/min in each tenth of
the night (from the first write to the last; a tenth's rate is measured between whole
writes, so the batches' steps do not skew it). Last line:
`rss_10pct_gb=.. rss_100pct_gb=.. rss_growth_pct=.. peak_rss_gb=.. tenth_spread_pct=..
articles_per_min=..`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml
from throughput import CORPUS, REPO, briefs_config, build_models, pick_articles, prefect_server


@dataclass(frozen=True)
class Sample:
    seconds: float  # since the process started
    rss_bytes: int  # the process and its children, summed
    written: int  # briefs written so far


def tree_rss(process: psutil.Process) -> int:
    """RSS of a process and all its children, in bytes (0 for one that is gone)."""
    total = 0
    with contextlib.suppress(psutil.Error):
        for member in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += member.memory_info().rss
    return total


def run_sampled(command: list[str], env: dict[str, str], briefs: Path, log: Path,
                every: float) -> tuple[list[Sample], float, int]:
    """Run `command`, sampling its tree's RSS and the briefs written every `every` seconds;
    returns the samples, the start (epoch seconds) and the exit code."""
    samples: list[Sample] = []
    with log.open("w") as out:
        started = time.time()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=REPO)
        process = psutil.Process(child.pid)
        while child.poll() is None:
            written = sum(1 for _ in briefs.iterdir()) if briefs.is_dir() else 0
            samples.append(Sample(time.time() - started, tree_rss(process), written))
            time.sleep(every)
    return samples, started, child.returncode


def write_times(briefs: Path, started: float) -> list[float]:
    """Each brief's write time (its file's mtime), in seconds since the start, sorted."""
    return sorted(entry.stat().st_mtime - started for entry in briefs.iterdir())


def group_ends(times: list[float], gap: float = 1.0) -> list[int]:
    """For each write, how many briefs were written once its group was (writes less than
    `gap` seconds apart: one write-briefs task run)."""
    ends = list(range(1, len(times) + 1))
    for index in range(len(times) - 2, -1, -1):
        if times[index + 1] - times[index] < gap:
            ends[index] = ends[index + 1]
    return ends


def tenth_rates(times: list[float]) -> list[float]:
    """Articles/min in each tenth of the night, from the first write to the last. Briefs are
    written a group at a time, so each tenth runs from the write of the group that holds its
    first article to the write of the group that holds its last, and counts the articles of
    the groups written in between (a short last group counts only its own articles)."""
    total, ends = len(times), group_ends(times)
    rates = []
    for tenth in range(10):
        first, last = total * tenth // 10, min(total * (tenth + 1) // 10, total - 1)
        seconds = times[last] - times[first]
        rates.append(60 * (ends[last] - ends[first]) / seconds if ends[last] > ends[first]
                     else float("nan"))
    return rates


def rss_at(samples: list[Sample], total: int, pct: int) -> int:
    """RSS when `pct`% of the night was written: the median of the samples taken while the
    tenth that ends there was written (RSS swings within each group; one sample would catch
    a random point of the swing), or the last sample when none was taken then."""
    low, high = total * (pct - 10) // 100, total * pct // 100
    during = sorted(s.rss_bytes for s in samples if low < s.written <= high)
    return during[len(during) // 2] if during else samples[-1].rss_bytes


def identical_outputs(briefs: Path, earlier: Path) -> tuple[int, int]:
    """How many summaries and translated titles of `briefs` read exactly as in the `earlier`
    night's briefs of the same articles, out of how many."""
    same = total = 0
    for path in sorted(briefs.rglob("*.json")):
        before_path = earlier / path.relative_to(briefs)
        if not before_path.exists():
            continue
        now, before = json.loads(path.read_text()), json.loads(before_path.read_text())
        for field in ("summaries", "title"):
            for lang, text in now.get(field, {}).items():
                if field == "title" and lang == now.get("source_language"):
                    continue  # the article's own title, copied: it cannot differ
                total += 1
                same += before.get(field, {}).get(lang) == text
    return same, total


def plot(samples: list[Sample], total: int, path: Path, title: str) -> None:
    """RSS and briefs written over the run, one picture for the docs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.seconds / 60 for s in samples]
    figure, rss_axis = plt.subplots(figsize=(8, 4), dpi=100)
    rss_axis.plot(minutes, [s.rss_bytes / 2**30 for s in samples], color="tab:red")
    rss_axis.set_xlabel("minutes since the process started")
    rss_axis.set_ylabel("RSS of the process tree (GiB)", color="tab:red")
    rss_axis.set_ylim(bottom=0)
    done_axis = rss_axis.twinx()
    done_axis.plot(minutes, [s.written for s in samples], color="tab:blue")
    done_axis.set_ylabel(f"briefs written (of {total})", color="tab:blue")
    done_axis.set_ylim(0, total * 1.05)
    rss_axis.set_title(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--engine", default="ctranslate2", help="ctranslate2 or transformers")
    parser.add_argument("--default-settings", action="store_true",
                        help="the default preset's beams and lengths, not the fixed 80 tokens")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between samples")
    parser.add_argument("--plot", type=Path, help="write the curve to this PNG")
    parser.add_argument("--samples", type=Path, help="write the samples to this CSV")
    parser.add_argument("--config", type=Path,
                        help="YAML merged over the benchmark's config (e.g. batching)")
    parser.add_argument("--keep", type=Path, help="keep the night's briefs in this folder")
    parser.add_argument("--against", type=Path,
                        help="an earlier night's kept briefs: print the share of identical "
                        "summaries and translations")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"the shared corpus is absent ({CORPUS}); set BRIEFS_CORPUS")
    cache = Path(os.environ.get("BRIEFS_CACHE_DIR", Path.home() / ".cache" / "briefs")) / "bench"
    folders = build_models(cache)
    work = Path(tempfile.mkdtemp(prefix="briefs-night-"))
    source, dest = work / "in", work / "out"
    source.mkdir()
    for number, article in enumerate(pick_articles(args.articles)):
        (source / f"{number:05d}.txt").write_text(article)
    config = briefs_config(folders, args.engine, "cpu", args.default_settings)
    if args.config:
        config = {**config, **yaml.safe_load(args.config.read_text())}
    (work / "night.yaml").write_text(yaml.safe_dump(config))
    server, api = prefect_server(work / "prefect-home")
    env = {**os.environ, "PREFECT_API_URL": api, "HF_HUB_OFFLINE": "1",
           "BRIEFS_CACHE_DIR": str(cache.parent)}
    try:
        samples, started, code = run_sampled(
            [sys.executable, "-m", "briefs.flows.cli", "run", str(source), str(dest),
             "--config", str(work / "night.yaml")], env, dest / "briefs", work / "night.log",
            args.every)
    finally:
        server.terminate()
        server.wait(timeout=60)
    manifest = json.loads((dest / "manifest.json").read_text()) if code in (0, 2) else None
    if manifest is None or manifest["counts"]["succeeded"] != args.articles:
        raise SystemExit(f"the run ended {code}, {manifest and manifest['counts']}; "
                         f"see {work / 'night.log'}")
    times = write_times(dest / "briefs", started)
    rates = tenth_rates(times)
    rss = {pct: rss_at(samples, args.articles, pct) / 2**30 for pct in (10, 50, 100)}
    peak = max(s.rss_bytes for s in samples) / 2**30
    ends = group_ends(times)
    run_rate = 60 * args.articles / manifest["timings"]["brief_seconds"]  # models loaded on
    mean_rate = (60 * (ends[-1] - ends[0]) / (times[-1] - times[0])  # after the first group
                 if ends[-1] > ends[0] else run_rate)
    measured = [rate for rate in rates if rate == rate]  # a tenth smaller than a group: nan
    spread = (100 * (max(measured) - min(measured)) / mean_rate if measured
              else float("nan"))  # a night of one group has no tenths to compare
    settings = "default preset settings" if args.default_settings else "80 new tokens, greedy"
    print(f"{args.articles} articles, {args.engine}, {settings}, {os.cpu_count()} cores; "
          f"process wall {samples[-1].seconds / 60:.1f} min, first brief written at "
          f"{times[0]:.0f} s; work folder {work}")
    print("RSS of the process tree: " + ", ".join(f"{pct}% {gb:.2f} GB" for pct, gb in
                                                  rss.items()) + f"; peak {peak:.2f} GB")
    print("articles/min per tenth: " + " ".join(f"{rate:.1f}" for rate in rates)
          + f" (mean {mean_rate:.1f}, spread {spread:.1f}% of it)")
    print(f"the whole run, models loaded to manifest written: {run_rate:.2f} articles/min, "
          f"{60 * run_rate:.0f} an hour")
    if args.samples:
        with args.samples.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["seconds", "rss_bytes", "written"])
            writer.writerows((f"{s.seconds:.1f}", s.rss_bytes, s.written) for s in samples)
    if args.plot:
        plot(samples, args.articles, args.plot,
             f"briefs run: {args.articles} articles, {args.engine}, {settings}")
    if args.keep:
        shutil.copytree(dest / "briefs", args.keep, dirs_exist_ok=True)
    if args.against:
        same, total = identical_outputs(dest / "briefs", args.against)
        print(f"identical to {args.against}: {same} of {total} outputs "
              f"({100 * same / max(total, 1):.1f}%)")
    shutil.rmtree(work, ignore_errors=True)
    print(f"rss_10pct_gb={rss[10]:.2f} rss_100pct_gb={rss[100]:.2f} "
          f"rss_growth_pct={100 * (rss[100] / rss[10] - 1):.1f} peak_rss_gb={peak:.2f} "
          f"tenth_spread_pct={spread:.1f} articles_per_min={mean_rate:.1f}")


if __name__ == "__main__":
    main()
