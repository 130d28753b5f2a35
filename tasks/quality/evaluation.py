"""Quality of the configured models on the shared corpus: ROUGE of summaries against human
references, BLEU and chrF of translations against reference translations, and a comparison
with a saved baseline report so that a model or engine change that loses quality shows.

Plain functions (no Prefect): `flows/eval_flow.py` runs them as tasks, `briefs eval` calls it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.generation.step_models import step_model
from briefs.tasks.generation.summarize import summarize_texts
from briefs.tasks.generation.targets import ENGLISH
from briefs.tasks.generation.translate import translate_texts
from briefs.tasks.ingest.text import split_sentences

SUMMARIES_FILE = "summaries.jsonl"
PARALLEL_FILE = "parallel.jsonl"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")
SUMMARY_METRICS = ("rouge1", "rouge2", "rougeL")  # rougeL: ROUGE-Lsum, one sentence a line
TRANSLATION_METRICS = ("bleu", "chrf")


class EvaluationError(RuntimeError):
    """The evaluation cannot run: no corpus, an unreadable corpus file or baseline report."""


def corpus_dir() -> Path:
    """The shared corpus: `BRIEFS_CORPUS`, else `../shared/corpus` beside the directory the run
    starts in (the checkout: `make eval`, a process worker's working_dir), never a path inside
    the installed package."""
    return Path(os.environ.get("BRIEFS_CORPUS") or Path.cwd().parent / "shared" / "corpus")


@dataclass(frozen=True)
class SummaryRow:
    id: str
    article: str
    summary: str  # the human reference


@dataclass(frozen=True)
class ParallelRow:
    id: str
    src: str  # English
    ref: str  # the reference translation


def _corpus_lines(corpus: Path, name: str) -> list[dict[str, Any]]:
    path = corpus / name
    if not path.is_file():
        raise EvaluationError(f"the evaluation corpus file {path} is absent; set BRIEFS_CORPUS "
                              f"to a folder holding {SUMMARIES_FILE} and {PARALLEL_FILE}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise EvaluationError(f"{path}, line {number}: not JSON ({exc})") from None
    return rows


def read_summaries(corpus: Path, limit: int | None = None, source: str | None = None
                   ) -> list[SummaryRow]:
    """The first `limit` article/reference pairs, in file order; `source`: only rows whose
    `source` field contains it (e.g. `cnn`)."""
    rows = [SummaryRow(str(r["id"]), r["article"], r["summary"])
            for r in _corpus_lines(corpus, SUMMARIES_FILE)
            if source is None or source in r.get("source", "")]
    return rows[:limit]


def read_parallel(corpus: Path, languages: list[str], limit: int | None = None
                  ) -> dict[str, list[ParallelRow]]:
    """The first `limit` English→`lang` sentence pairs of each language that the corpus has
    (a language it lacks is left out), in file order."""
    found: dict[str, list[ParallelRow]] = {}
    for r in _corpus_lines(corpus, PARALLEL_FILE):
        lang = r.get("tgt_lang")
        if r.get("src_lang") == ENGLISH and lang in languages:
            found.setdefault(lang, []).append(ParallelRow(str(r["id"]), r["src"], r["ref"]))
    return {lang: found[lang][:limit] for lang in languages if lang in found}


@dataclass
class Outputs:
    """What a model made of one set: a text per row ('' where it failed), and the failures."""

    texts: list[str]
    model: dict[str, Any]  # id, revision, engine, compute_type
    failures: list[str] = field(default_factory=list)  # "row id: reason"


def summarize_rows(rows: list[SummaryRow], config: BriefsConfig) -> Outputs:
    """Summarize each article with the config's summarizer and summary settings."""
    step = step_model(config)
    results = summarize_texts(step.loaded, [row.article for row in rows], step.settings,
                              config.batching.budget_for(step.loaded.device))
    return _outputs(rows, [r if isinstance(r, Exception) else r.text for r in results],
                    step.record)


def translate_rows(rows: list[ParallelRow], config: BriefsConfig, lang: str) -> Outputs:
    """Translate each English sentence into `lang` with the config's translator for it."""
    step = step_model(config, lang)
    results = translate_texts(step.loaded, [row.src for row in rows], step.settings,
                              config.batching.budget_for(step.loaded.device), ENGLISH, lang,
                              step.glossary)
    return _outputs(rows, [r if isinstance(r, Exception) else r.text for r in results],
                    step.record)


def _outputs(rows: list[Any], results: list[str | Exception], model: dict[str, Any]) -> Outputs:
    """A failed row counts as an empty output, so it lowers the score rather than vanish."""
    texts, failures = [], []
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, Exception):
            failures.append(f"{row.id}: {result}")
            texts.append("")
        else:
            texts.append(result)
    return Outputs(texts, model, failures)


def _sentence_lines(text: str) -> str:
    """One sentence a line: how ROUGE-Lsum reads a summary (the CNN/DailyMail convention)."""
    return "\n".join(split_sentences(text, ENGLISH)) if text.strip() else ""


def score_summaries(hypotheses: list[str], references: list[str]) -> dict[str, float | int]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-Lsum F-measures ×100 (rouge-score, Porter stemmer)."""
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        scores = scorer.score(_sentence_lines(reference), _sentence_lines(hypothesis))
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    n = len(hypotheses)
    means = [round(100 * totals[name] / n, 2) if n else 0.0 for name in ROUGE_TYPES]
    return {**dict(zip(SUMMARY_METRICS, means, strict=True)), "n": n}


def score_translations(hypotheses: list[str], references: list[str], lang: str
                       ) -> dict[str, float | int]:
    """Corpus BLEU and chrF (sacrebleu's defaults; Chinese tokenised as sacrebleu's `zh`)."""
    from sacrebleu import corpus_bleu, corpus_chrf

    if not hypotheses:
        return {"bleu": 0.0, "chrf": 0.0, "n": 0}
    tokenize = "zh" if lang == "zh" else "13a"
    return {"bleu": round(corpus_bleu(hypotheses, [references], tokenize=tokenize).score, 2),
            "chrf": round(corpus_chrf(hypotheses, [references]).score, 2),
            "n": len(hypotheses)}


def build_report(
    config: BriefsConfig, summaries: Outputs, summary_refs: list[str],
    translations: dict[str, tuple[Outputs, list[str]]], limit: int | None,
    summaries_from: str | None = None,
) -> dict[str, Any]:
    """The report: scores per set, the models and engine that made the outputs, failures.

    Nothing in it depends on the time or the machine, so one configuration gives one report.
    """
    models = {"summarizer": summaries.model} | {
        f"translator_{lang}": outputs.model for lang, (outputs, _) in translations.items()}
    engines = sorted({model["engine"] for model in models.values()})
    failures = {"summaries": summaries.failures} | {
        lang: outputs.failures for lang, (outputs, _) in translations.items()}
    return {
        "summaries": {**score_summaries(summaries.texts, summary_refs),
                      **({"source": summaries_from} if summaries_from else {}),
                      "failed": len(summaries.failures)},
        "translations": {lang: {**score_translations(outputs.texts, refs, lang),
                                "failed": len(outputs.failures)}
                         for lang, (outputs, refs) in translations.items()},
        "models": models,
        "engine": "+".join(engines),
        "runtime": config.runtime.model_dump(mode="json"),
        "generation": config.generation.model_dump(mode="json"),
        "limit": limit,
        "failures": {name: items for name, items in failures.items() if items},
    }


def metrics(report: dict[str, Any]) -> dict[str, tuple[float, int]]:
    """Every score of a report as `name → (value, n)`: `summaries.rouge1`,
    `translations.de.bleu`..."""
    found: dict[str, tuple[float, int]] = {}
    summaries = report.get("summaries") or {}
    for name in SUMMARY_METRICS:
        if name in summaries:
            found[f"summaries.{name}"] = (float(summaries[name]), int(summaries.get("n", 0)))
    for lang, scores in sorted((report.get("translations") or {}).items()):
        for name in TRANSLATION_METRICS:
            if name in scores:
                found[f"translations.{lang}.{name}"] = (float(scores[name]),
                                                        int(scores.get("n", 0)))
    return found


@dataclass(frozen=True)
class Regression:
    """A metric of the baseline that this report lost, or that is not comparable."""

    metric: str
    baseline: float
    value: float | None  # None: missing from the report
    reason: str

    def __str__(self) -> str:
        return f"{self.metric}: {self.reason}"


def unscored(report: dict[str, Any]) -> list[str]:
    """Sets the report scores on nothing: no rows, or every output failed (scores of
    nothing are no measure of a model)."""
    sets = {"summaries": report["summaries"],
            **{f"translations.{lang}": s for lang, s in report["translations"].items()}}
    return [f"{name}: " + ("no rows" if not s["n"] else f"all {s['n']} outputs failed")
            for name, s in sets.items() if not s["n"] or s.get("failed", 0) >= s["n"]]


def compare(report: dict[str, Any], baseline: dict[str, Any], max_drop: float
            ) -> list[Regression]:
    """The baseline's metrics that dropped by more than `max_drop` points, are missing from
    the report, or were measured on a different number of rows (not comparable)."""
    now = metrics(report)
    found = []
    for name, (before, n_before) in metrics(baseline).items():
        if name not in now:
            found.append(Regression(name, before, None,
                                    f"missing (the baseline has {before:.2f})"))
            continue
        value, n = now[name]
        if n != n_before:
            found.append(Regression(name, before, value, f"measured on {n} rows, the baseline "
                                    f"on {n_before}: not comparable (use the same --limit)"))
        elif before - value > max_drop:
            found.append(Regression(name, before, value, f"{value:.2f}, down {before - value:.2f}"
                                    f" from the baseline's {before:.2f} (more than {max_drop:g})"))
    return found


def comparison_table(report: dict[str, Any], baseline: dict[str, Any] | None,
                     regressions: list[Regression]) -> list[dict[str, Any]]:
    """One row per metric (the report's, then the baseline's missing ones): value, n,
    baseline, delta and status, for the run's table artifact and the CLI."""
    before = metrics(baseline) if baseline else {}
    failing = {r.metric: r for r in regressions}
    rows = []
    for name, (value, n) in metrics(report).items():
        base = before.get(name, (None, None))[0]
        rows.append({"metric": name, "value": value, "n": n, "baseline": base,
                     "delta": None if base is None else round(value - base, 2),
                     "status": _status(name, failing, base)})
    rows += [{"metric": r.metric, "value": None, "n": None, "baseline": r.baseline,
              "delta": None, "status": "FAIL: missing"}
             for r in regressions if r.value is None]
    return rows


def _status(name: str, failing: dict[str, Regression], base: float | None) -> str:
    if name in failing:
        return f"FAIL: {failing[name].reason}"
    return "no baseline" if base is None else "ok"


def read_report(path: str | Path) -> dict[str, Any]:
    """A saved report (the baseline), with a clear error when it is absent or not JSON."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvaluationError(f"cannot read the baseline report {path}: "
                              f"{exc.strerror or exc}") from None
    except ValueError as exc:
        raise EvaluationError(f"the baseline report {path} is not JSON: {exc}") from None
    if not isinstance(report, dict) or not metrics(report):
        raise EvaluationError(f"the baseline report {path} holds no scores")
    return report


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    """Write the report as indented JSON (the parent folder is made if missing)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
