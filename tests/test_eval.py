"""`briefs eval` on the tiny models: the mechanics of scoring, reproducibility and the baseline
comparison. The tiny models have random weights, so the scores are near zero: no test here
judges quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from briefs.tasks.quality import evaluation
from tests.helpers import corpus_or_skip

ARGS = ["eval", "--models", "tiny", "--languages", "de", "--limit", "4"]


def cli(*args: str):
    from typer.testing import CliRunner

    from briefs.flows.cli import app

    return CliRunner().invoke(app, list(args))


def raised(report: dict, points: float) -> dict:
    """The report with every score `points` higher: a baseline this run falls short of."""
    better = json.loads(json.dumps(report))
    for name in evaluation.SUMMARY_METRICS:
        better["summaries"][name] += points
    for scores in better["translations"].values():
        for name in evaluation.TRANSLATION_METRICS:
            scores[name] += points
    return better


@pytest.mark.timeout(180)
def test_eval_scores_reproducibly_and_fails_below_the_baseline(prefect_api, tmp_path: Path):
    """One report of the documented shape, the same on a second run, and exit 3 naming the
    metric when a baseline scores higher; a table artifact per run."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    corpus_or_skip()
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    result = cli(*ARGS, "--out", str(first))
    assert result.exit_code == 0, result.output
    report = json.loads(first.read_text())
    assert report["summaries"]["n"] == 4 and set(report["translations"]) == {"de"}
    assert report["translations"]["de"]["n"] == 4
    for name in evaluation.SUMMARY_METRICS:
        assert 0 <= report["summaries"][name] <= 100
    for name in evaluation.TRANSLATION_METRICS:
        assert 0 <= report["translations"]["de"][name] <= 100
    assert set(report["models"]) == {"summarizer", "translator_de"}
    assert report["models"]["summarizer"]["id"] == "briefs-tiny/bart-random-weights"
    assert {"revision", "engine", "compute_type"} <= set(report["models"]["translator_de"])
    assert report["engine"] in {"transformers", "ctranslate2", "ctranslate2+transformers"}
    assert "summaries.rouge1" in result.output

    # Against itself: reproducible (deterministic decoding), so no drop.
    result = cli(*ARGS, "--out", str(second), "--baseline", str(first))
    assert result.exit_code == 0, result.output
    assert json.loads(second.read_text()) == report

    # Against a baseline 10 points higher everywhere: exit 3, naming each metric.
    higher = tmp_path / "higher.json"
    higher.write_text(json.dumps(raised(report, 10)))
    result = cli(*ARGS, "--baseline", str(higher), "--max-drop", "1")
    assert result.exit_code == 3, result.output
    for metric in ("summaries.rouge1", "summaries.rougeL", "translations.de.bleu",
                   "translations.de.chrf"):
        assert metric in result.output
    assert "down 10.00" in result.output

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["briefs-eval"])))
    assert len(artifacts) >= 3 and {a.type for a in artifacts} == {"table"}
    table = max(artifacts, key=lambda a: a.created)
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    by_metric = {row["metric"]: row for row in rows}
    assert set(by_metric) == {"summaries.rouge1", "summaries.rouge2", "summaries.rougeL",
                              "translations.de.bleu", "translations.de.chrf"}
    assert by_metric["translations.de.bleu"]["delta"] == -10.0
    assert by_metric["translations.de.bleu"]["status"].startswith("FAIL")


def test_the_flow_fails_with_the_report_when_quality_drops(prefect_api, tmp_path: Path):
    """The flow itself (as a deployment runs it) ends Failed, named and with the report."""
    from briefs.flows.eval_flow import QUALITY_DROPPED, briefs_eval

    corpus_or_skip()
    state = briefs_eval(models="tiny", languages=["de"], limit=2, return_state=True)
    assert state.is_completed()
    scored = state.result()
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(raised(scored, 5)))
    state = briefs_eval(models="tiny", languages=["de"], limit=2, baseline=str(baseline),
                        max_drop=4.0, return_state=True)
    assert state.is_failed() and state.name == QUALITY_DROPPED
    assert "translations.de.chrf" in state.message
    assert state.result(raise_on_failure=False) == scored


def test_compare_reports_drops_missing_languages_and_other_sample_sizes():
    report = {"summaries": {"rouge1": 40.0, "rouge2": 18.0, "rougeL": 37.0, "n": 100},
              "translations": {"de": {"bleu": 30.0, "chrf": 58.0, "n": 100}}}
    baseline = json.loads(json.dumps(report))
    assert evaluation.compare(report, baseline, 1.0) == []
    baseline["summaries"]["rouge2"] = 19.5  # 1.5 points better
    baseline["translations"]["fr"] = {"bleu": 35.0, "chrf": 60.0, "n": 100}
    baseline["translations"]["de"]["chrf"] = 58.9  # within 1 point
    found = {r.metric: r for r in evaluation.compare(report, baseline, 1.0)}
    assert set(found) == {"summaries.rouge2", "translations.fr.bleu", "translations.fr.chrf"}
    assert found["translations.fr.bleu"].value is None
    assert "missing" in str(found["translations.fr.bleu"])
    assert evaluation.compare(report, baseline, 2.0) != []  # fr is still missing
    report["translations"]["de"]["n"] = 50
    assert "not comparable" in str({r.metric: r for r in evaluation.compare(
        report, report | {"translations": {"de": {"bleu": 30.0, "chrf": 58.0, "n": 100}}},
        1.0)}["translations.de.bleu"])


def test_scores_are_the_libraries_own():
    """Identical texts score 100, disjoint ones 0 (rouge-score, sacrebleu)."""
    text = "The council approved the budget on Monday. Taxes will rise next year."
    assert evaluation.score_summaries([text], [text]) == {
        "rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0, "n": 1}
    assert evaluation.score_summaries(["zebra quantum"], [text])["rouge1"] == 0.0
    assert evaluation.score_translations([text], [text], "de")["bleu"] == 100.0
    assert evaluation.score_translations([text], [text], "de")["chrf"] == 100.0


def test_a_missing_corpus_or_baseline_is_named_before_any_model_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus_or_skip()
    result = cli(*ARGS, "--baseline", str(tmp_path / "no-baseline.json"))
    assert result.exit_code == 1 and "no-baseline.json" in result.output
    monkeypatch.setenv("BRIEFS_CORPUS", str(tmp_path / "nowhere"))
    with pytest.raises(evaluation.EvaluationError, match="nowhere"):
        evaluation.read_summaries(evaluation.corpus_dir(), 4)
    result = cli(*ARGS)
    assert result.exit_code == 1 and "nowhere" in result.output


def test_the_eval_deployment_names_the_flow_and_its_parameters():
    """The `eval` deployment loads its flow by module path, with parameters the flow has."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    from briefs.flows.deployments import for_pool

    [entry] = [d for d in for_pool("process") if d.name == "eval"]
    flow = load_flow_from_entrypoint(entry.entrypoint)
    assert flow.name == "briefs-eval"
    assert set(entry.parameters) <= set(parameter_schema(flow).properties)


def test_a_report_that_scored_nothing_is_named_unscored():
    report = {"summaries": {"rouge1": 0.0, "n": 0, "failed": 0},
              "translations": {"de": {"bleu": 0.0, "n": 4, "failed": 4},
                               "fr": {"bleu": 1.0, "n": 4, "failed": 1}}}
    assert evaluation.unscored(report) == ["summaries: no rows",
                                           "translations.de: all 4 outputs failed"]


def test_the_corpus_is_found_beside_the_checkout_a_run_starts_in(tmp_path, monkeypatch):
    """Not beside the module's file, which is in site-packages once the wheel is installed."""
    (tmp_path / "shared" / "corpus").mkdir(parents=True)
    (tmp_path / "checkout").mkdir()
    monkeypatch.chdir(tmp_path / "checkout")
    monkeypatch.delenv("BRIEFS_CORPUS", raising=False)
    assert evaluation.corpus_dir() == tmp_path / "shared" / "corpus"
