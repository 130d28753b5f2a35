"""Re-runs redo only what changed: the summary and each translation have their own reuse key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from briefs.flows.briefs_flow import briefs
from briefs.tasks.core.config import CONFIGS_DIR
from tests.conftest import corpus_or_skip
from tests.corpus_sample import summaries

pytestmark = pytest.mark.usefixtures("prefect_api")
ARTICLES = 3


@pytest.fixture
def night(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "in"
    source.mkdir()
    for row in summaries(corpus_or_skip(), ARTICLES):
        (source / f"{row['id']}.txt").write_text(f"Story {row['id']}\n\n{row['article']}")
    return source, tmp_path / "out"


def tiny_config(folder: Path, name: str, **changes) -> str:
    """The tiny preset with some keys replaced (nested dicts are merged)."""
    config = yaml.safe_load((CONFIGS_DIR / "tiny.yaml").read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = _merged(config[key], value)
        else:
            config[key] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _merged(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        is_nested = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merged(base[key], value) if is_nested else value
    return merged


def run(source: Path, dest: Path, config: str, languages: list[str]) -> dict:
    state = briefs(str(source), str(dest), languages=languages, config=config, return_state=True)
    assert state.is_completed(), state.message
    return json.loads((dest / "manifest.json").read_text())


def written(dest: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((dest / "briefs").glob("*.json"))}


def test_one_more_language_translates_only_into_it(night, tmp_path):
    source, dest = night
    config = tiny_config(tmp_path, "tiny")
    first = run(source, dest, config, ["de"])
    before = {name: json.loads(data) for name, data in written(dest).items()}

    second = run(source, dest, config, ["de", "fr"])

    assert second["counts"] == {"total": ARTICLES, "succeeded": ARTICLES, "failed": 0,
                                "skipped": 0}
    assert all(e["reused"] == ["summary", "de"] for e in second["articles"])
    for name, data in written(dest).items():
        brief, earlier = json.loads(data), before[name]
        assert brief["steps"]["summary"]["run_id"] == first["run_id"]
        assert brief["steps"]["translations"]["de"]["run_id"] == first["run_id"]
        assert brief["steps"]["translations"]["fr"]["run_id"] == second["run_id"]
        assert brief["summaries"]["en"] == earlier["summaries"]["en"]
        assert brief["summaries"]["de"] == earlier["summaries"]["de"]
        assert brief["summaries"]["fr"]


def test_operational_settings_reuse_everything(night, tmp_path):
    source, dest = night
    run(source, dest, tiny_config(tmp_path, "tiny"), ["de", "fr"])
    before = written(dest)
    operational = tiny_config(
        tmp_path, "operational", alerts={"notification_block": "slack/newsroom"},
        schedule={"cron": "30 3 * * *", "timezone": "Europe/Paris"},
        batching={"max_tokens": 1024, "articles_per_task": 2}, runtime={"device": "cpu"},
        timeouts={"run_seconds": 7200, "generate_seconds": 600},
        storage={"read_timeout_seconds": 30, "connect_timeout_seconds": 5})

    again = run(source, dest, operational, ["fr", "de"])

    assert again["counts"]["skipped"] == ARTICLES
    assert all(e["reason"].startswith("already briefed") for e in again["articles"])
    assert written(dest) == before  # not one brief written again


def test_a_changed_article_is_briefed_again(night, tmp_path):
    source, dest = night
    config = tiny_config(tmp_path, "tiny")
    first = run(source, dest, config, ["de"])
    changed = sorted(source.glob("*.txt"))[0]
    changed.write_text(changed.read_text() + "\n\nA late correction adds this sentence.")

    second = run(source, dest, config, ["de"])

    statuses = {Path(e["source"]).name: e for e in second["articles"]}
    assert statuses[changed.name]["status"] == "succeeded"
    assert "reused" not in statuses[changed.name]
    assert sum(e["status"] == "skipped" for e in second["articles"]) == ARTICLES - 1
    brief = json.loads((dest / "briefs" / f"{statuses[changed.name]['article_id']}.json")
                       .read_text())
    assert brief["steps"]["summary"]["run_id"] == second["run_id"] != first["run_id"]


def test_a_changed_title_is_translated_again_but_keeps_its_summary(night, tmp_path):
    source, dest = night
    config = tiny_config(tmp_path, "tiny")
    first = run(source, dest, config, ["de"])
    retitled = sorted(source.glob("*.txt"))[1]
    title, _, body = retitled.read_text().partition("\n")
    retitled.write_text(f"{title} (updated)\n{body}")

    second = run(source, dest, config, ["de"])

    entry = next(e for e in second["articles"] if e["source"].endswith(retitled.name))
    assert entry["status"] == "succeeded" and entry["reused"] == ["summary"]
    brief = json.loads((dest / "briefs" / f"{entry['article_id']}.json").read_text())
    assert brief["title"]["en"].endswith("(updated)")
    assert brief["steps"]["summary"]["run_id"] == first["run_id"]
    assert brief["steps"]["translations"]["de"]["run_id"] == second["run_id"]


def test_changed_summary_settings_summarize_again(night, tmp_path):
    source, dest = night
    first = run(source, dest, tiny_config(tmp_path, "tiny"), ["de"])
    longer = tiny_config(tmp_path, "longer", generation={"summary": {"max_new_tokens": 30}})

    second = run(source, dest, longer, ["de"])

    assert second["counts"]["succeeded"] == ARTICLES
    for data in written(dest).values():
        steps = json.loads(data)["steps"]
        assert steps["summary"]["run_id"] == second["run_id"] != first["run_id"]


def test_a_changed_summarizer_summarizes_again(night, tmp_path, summarizer):
    source, dest = night
    folder = tmp_path / "my-summarizer"
    summarizer.model.save_pretrained(folder)
    summarizer.tokenizer.save_pretrained(folder)
    config = tiny_config(tmp_path, "folder", models={"summarizer": {"id": str(folder)}})
    first = run(source, dest, config, ["de"])
    revision = json.loads(next(iter(written(dest).values())))["models"]["summarizer"]["revision"]
    assert run(source, dest, config, ["de"])["counts"]["skipped"] == ARTICLES

    import torch
    from transformers import AutoModelForSeq2SeqLM

    retrained = AutoModelForSeq2SeqLM.from_pretrained(folder)
    with torch.no_grad():
        retrained.lm_head.weight.mul_(1.5)  # new weights, as after fine-tuning
    retrained.save_pretrained(folder)
    third = run(source, dest, config, ["de"])

    assert third["counts"]["succeeded"] == ARTICLES
    for data in written(dest).values():
        brief = json.loads(data)
        assert brief["models"]["summarizer"]["revision"] != revision
        assert brief["steps"]["summary"]["run_id"] == third["run_id"] != first["run_id"]


def test_new_bytes_with_the_same_text_keep_every_step_and_update_the_source(night, tmp_path):
    source, dest = night
    config = tiny_config(tmp_path, "tiny")
    first = run(source, dest, config, ["de"])
    touched = sorted(source.glob("*.txt"))[2]
    touched.write_text(touched.read_text() + "\n\n\n")  # new bytes, the same text and title

    second = run(source, dest, config, ["de"])

    entry = next(e for e in second["articles"] if e["source"].endswith(touched.name))
    assert entry["status"] == "succeeded" and entry["reused"] == ["summary", "de"]
    brief = json.loads((dest / "briefs" / f"{entry['article_id']}.json").read_text())
    assert brief["source"]["sha256"] == hashlib.sha256(touched.read_bytes()).hexdigest()
    assert brief["steps"]["translations"]["de"]["run_id"] == first["run_id"]
