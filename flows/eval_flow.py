"""The `briefs-eval` flow: quality of a preset's models (or a model folder's, or an engine's) on
the shared corpus, as a report, a table artifact and a baseline comparison."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed
from pydantic import Field

from briefs.tasks.core.config import BriefsConfig, load_config
from briefs.tasks.generation.targets import SUPPORTED_LANGUAGES
from briefs.tasks.quality import evaluation

TABLE_KEY = "briefs-eval"
QUALITY_DROPPED = "QualityDropped"  # the state's name when the baseline comparison fails
Language = Literal[SUPPORTED_LANGUAGES]  # a multi-select in the UI's run form
COMMON: dict[str, Any] = dict(cache_policy=NO_CACHE, persist_result=False)


@task(name="eval-summaries", **COMMON)
def summarize_set(rows: list[evaluation.SummaryRow], config: BriefsConfig
                  ) -> evaluation.Outputs:
    """Summarize the evaluation articles with the configured summarizer."""
    outputs = evaluation.summarize_rows(rows, config)
    get_run_logger().info("summarized %d articles with %s (%s), %d failed", len(rows),
                          outputs.model["id"], outputs.model["engine"], len(outputs.failures))
    return outputs


@task(name="eval-translations", task_run_name="eval-translations-{lang}", **COMMON)
def translate_set(rows: list[evaluation.ParallelRow], config: BriefsConfig, lang: str
                  ) -> evaluation.Outputs:
    """Translate the evaluation sentences from English into `lang`."""
    outputs = evaluation.translate_rows(rows, config, lang)
    get_run_logger().info("translated %d sentences into %s with %s (%s), %d failed", len(rows),
                          lang, outputs.model["id"], outputs.model["engine"],
                          len(outputs.failures))
    return outputs


@flow(name="briefs-eval", log_prints=True)
def briefs_eval(
    models: str = "default",
    config: str | None = None,
    languages: list[Language] | None = None,
    limit: Annotated[int, Field(ge=1)] | None = 100,
    summaries_from: str | None = None,
    baseline: str | None = None,
    max_drop: Annotated[float, Field(ge=0)] = 1.0,
    out: str | None = None,
):
    """Score the models on the shared corpus: ROUGE-1/2/L of summaries against human
    references, BLEU and chrF of translations against reference translations.

    Args:
        models: Model preset (`default`, `tiny`) or a local summarizer model folder.
        config: A YAML config file that replaces the preset.
        languages: Target languages to score (those the corpus has: de, fr, es, ro); empty
            means the config's list.
        limit: Score the first N summaries and the first N sentences of each language.
        summaries_from: Only summary rows whose corpus `source` contains this (e.g. `cnn`).
        baseline: Path of a saved report to compare against; the run fails when a score
            dropped by more than `max_drop` points.
        max_drop: Points a score may drop below the baseline's before the run fails.
        out: Path to write the report (JSON) to.
    """
    logger = get_run_logger()
    settings = load_config(models, config, list(languages) if languages else None)
    before = evaluation.read_report(baseline) if baseline else None  # fail before the models
    corpus = evaluation.corpus_dir()
    summary_rows = evaluation.read_summaries(corpus, limit, summaries_from)
    parallel = evaluation.read_parallel(corpus, settings.languages, limit)
    if absent := [lang for lang in settings.languages if lang not in parallel]:
        logger.warning("no reference translations into %s in %s: not scored",
                       ", ".join(absent), corpus)
    summaries = summarize_set(summary_rows, settings)
    translations = {lang: (translate_set(rows, settings, lang), [row.ref for row in rows])
                    for lang, rows in parallel.items()}
    report = evaluation.build_report(settings, summaries, [row.summary for row in summary_rows],
                                     translations, limit, summaries_from)
    if nothing := evaluation.unscored(report):
        raise RuntimeError("nothing to score: " + "; ".join(nothing))
    regressions = evaluation.compare(report, before, max_drop) if before else []
    rows = evaluation.comparison_table(report, before, regressions)
    create_table_artifact(rows, key=TABLE_KEY, description=_description(report, baseline))
    for row in rows:
        logger.info("%s = %s (n %s, baseline %s): %s", row["metric"], row["value"], row["n"],
                    row["baseline"], row["status"])
    if out:
        evaluation.write_report(out, report)
    if regressions:
        message = (f"quality dropped against the baseline {baseline}: "
                   + "; ".join(str(r) for r in regressions))
        return Failed(name=QUALITY_DROPPED, message=message, data=report)
    return Completed(message="scores computed" + (f", none below the baseline {baseline} by "
                                                  f"more than {max_drop:g}" if before else ""),
                     data=report)


def _description(report: dict[str, Any], baseline: str | None) -> str:
    models = ", ".join(f"{role} `{m['id']}`" for role, m in report["models"].items())
    return (f"Scores on the shared corpus (engine {report['engine']}; {models})"
            + (f", against the baseline `{baseline}`" if baseline else ""))
