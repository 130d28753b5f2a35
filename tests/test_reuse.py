"""Re-runs redo only what changed: the summary and each translation have their own reuse key.

The unit tests call the plain modules: a first run's briefs are made by the plain pipeline
steps on the tiny models (loaded once per session) and written to a `LocalStore`, then the
second run's reuse plan (`plan_reuse`) is asserted on, step by step and key by key, and that
run is finished with the same plain steps, as the flow's batches do. One whole-flow test
(`flow` tier) shows that the flow wires it up: two `briefs` runs, the second with one
language more, translate only into it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from briefs.tasks.core.config import BriefsConfig, load_config
from briefs.tasks.core.records import Article, Brief, Failure
from briefs.tasks.generation.step_models import step_model
from briefs.tasks.output.documents import manifest_document
from briefs.tasks.output.layout import BRIEFS_FOLDER
from briefs.tasks.output.storage import LocalStore
from briefs.tasks.run.pipeline import (
    ReusePlan,
    load_all_models,
    model_versions,
    plan_reuse,
    read_articles,
    summarize_articles,
    translate_briefs,
    write_briefs,
)
from tests.helpers import tiny_config as tiny_config_file

ARTICLES = 3
STORIES = {  # file name → the article as a .txt holds it: title, blank line, text
    "council.txt": "Council passes the budget\n\nThe city council approved a new budget on "
                   "Tuesday. It raises spending on schools by five percent and cuts road "
                   "repairs. The mayor said the plan was fair.",
    "floods.txt": "Floods in the harbour district\n\nHeavy rain flooded several streets in "
                  "the harbour district overnight. Firefighters pumped water from basements. "
                  "No one was hurt, the police said.",
    "striker.txt": "Club signs a young striker\n\nA local football club signed a young striker "
                   "from the second division. The player, who is nineteen, scored twelve goals "
                   "last season. Fans welcomed the news.",
}


@dataclass
class Night:
    """A night's source folder and the destination its runs write to."""

    source: Path
    store: LocalStore

    def articles(self, config: BriefsConfig) -> list[Article]:
        """The night's articles, read and parsed as a run reads them."""
        source = LocalStore(self.source)
        items = read_articles(source, source.list(), config)
        assert not [i for i in items if isinstance(i, Failure)], items
        return items

    def existing(self) -> set[str]:
        """The keys of the briefs already written (what a run lists before it plans)."""
        return {o.key for o in self.store.list(under=BRIEFS_FOLDER)}

    def written(self) -> dict[str, bytes]:
        return {o.key: self.store.read(o.key) for o in self.store.list(under=BRIEFS_FOLDER)}

    def file(self, name: str) -> Path:
        return self.source / name


@dataclass
class Run:
    """A finished run: the briefs it wrote (by article id) and its manifest's entries."""

    run_id: str
    briefs: dict[str, dict[str, Any]]
    entries: dict[str, dict[str, Any]]


@pytest.fixture
def night(tmp_path: Path) -> Night:
    source = tmp_path / "in"
    source.mkdir()
    for name, text in STORIES.items():
        (source / name).write_text(text)
    return Night(source, LocalStore(tmp_path / "out"))


def settings(folder: Path, name: str, languages: list[str], **changes: Any) -> BriefsConfig:
    """The tiny preset with `changes`, loaded from a file as a run's pre-flight loads it."""
    return load_config(config_file=tiny_config_file(folder, name, **changes),
                       languages=languages)


def plan_for(night: Night, config: BriefsConfig) -> ReusePlan:
    """The run's reuse plan over the briefs already written (none: brief everything)."""
    articles, existing = night.articles(config), night.existing()
    if not existing:
        return ReusePlan(to_summarize=articles)
    return plan_reuse(night.store, articles, config, existing)


def finish(night: Night, config: BriefsConfig, plan: ReusePlan, run_id: str) -> Run:
    """Summarize what the plan says to, translate that and the partly reused briefs, write
    them (an unchanged brief is not written again); every article must get its brief."""
    summarized = summarize_articles(plan.to_summarize, config) if plan.to_summarize else []
    briefs = [b for b in summarized if isinstance(b, Brief)] + plan.partial
    translated = translate_briefs(briefs, config) if briefs else []
    models = model_versions(load_all_models(config))
    written = write_briefs(night.store, [b for b in translated if isinstance(b, Brief)],
                           config, models, run_id, night.existing())
    failures = [r for r in [*summarized, *translated, *written] if isinstance(r, Failure)]
    assert not failures, failures
    manifest = manifest_document(run_id, "", {}, written, [], {})
    return Run(run_id, {d["article_id"]: d for d in written},
               {e["article_id"]: e for e in manifest["articles"]})


def first_run(night: Night, config: BriefsConfig, run_id: str = "run-1") -> Run:
    run = finish(night, config, plan_for(night, config), run_id)
    assert len(run.briefs) == ARTICLES and not any("reused" in e for e in run.entries.values())
    return run


def ids(items: list[Article] | list[Brief] | list[dict[str, Any]]) -> list[str]:
    return sorted(i["article_id"] if isinstance(i, dict) else i.article_id for i in items)


def article_of(night: Night, config: BriefsConfig, name: str) -> Article:
    return next(a for a in night.articles(config) if a.source.key == name)


def test_one_more_language_translates_only_into_it(night, tmp_path):
    config = settings(tmp_path, "tiny", ["de"])
    first = first_run(night, config)
    wider = settings(tmp_path, "wider", ["de", "fr"])

    plan = plan_for(night, wider)

    assert not plan.to_summarize and not plan.unchanged
    assert ids(plan.partial) == sorted(first.briefs)
    summarizer, german = step_model(wider), step_model(wider, "de")
    for brief in plan.partial:  # the summary and German kept, French to do
        earlier = first.briefs[brief.article_id]
        assert brief.summaries == {"en": earlier["summaries"]["en"],
                                   "de": earlier["summaries"]["de"]}
        assert brief.steps["summary"] == earlier["steps"]["summary"]
        assert brief.steps["summary"]["key"] == summarizer.summary_key(brief.article.text)
        assert brief.steps["translations"] == {"de": earlier["steps"]["translations"]["de"]}
        assert brief.steps["translations"]["de"]["key"] == german.translation_key(
            brief.summary, brief.titles["en"])

    second = finish(night, wider, plan, "run-2")

    assert sorted(second.briefs) == sorted(first.briefs)
    assert all(e["reused"] == ["summary", "de"] for e in second.entries.values())
    for article_id, brief in second.briefs.items():
        earlier = first.briefs[article_id]
        assert brief["steps"]["summary"]["run_id"] == "run-1"
        assert brief["steps"]["translations"]["de"]["run_id"] == "run-1"
        assert brief["steps"]["translations"]["fr"]["run_id"] == "run-2"
        assert brief["summaries"]["en"] == earlier["summaries"]["en"]
        assert brief["summaries"]["de"] == earlier["summaries"]["de"]
        assert brief["summaries"]["fr"]


def test_operational_settings_reuse_everything(night, tmp_path):
    config = settings(tmp_path, "tiny", ["de", "fr"])
    first = first_run(night, config)
    before = night.written()
    operational = settings(
        tmp_path, "operational", ["fr", "de"],
        alerts={"notification_block": "slack/newsroom"},
        schedule={"cron": "30 3 * * *", "timezone": "Europe/Paris"},
        batching={"max_tokens": 1024, "articles_per_task": 2}, runtime={"device": "cpu"},
        timeouts={"run_seconds": 7200, "generate_seconds": 600},
        storage={"read_timeout_seconds": 30, "connect_timeout_seconds": 5})
    assert operational.config_hash() != config.config_hash()  # another config all the same

    # Not one key changes: neither the settings above nor the order of the languages.
    summarizer = step_model(operational)
    translators = {lang: step_model(operational, lang) for lang in ("de", "fr")}
    for article in night.articles(operational):
        steps = first.briefs[article.article_id]["steps"]
        assert steps["summary"]["key"] == summarizer.summary_key(article.text)
        summary = first.briefs[article.article_id]["summaries"]["en"]
        assert {lang: step["key"] for lang, step in steps["translations"].items()} == {
            lang: step.translation_key(summary, article.title)
            for lang, step in translators.items()}

    plan = plan_for(night, operational)

    assert not plan.to_summarize and not plan.partial
    assert {d["article_id"]: d for d in plan.unchanged} == first.briefs  # taken over whole
    assert len(plan.unchanged) == ARTICLES
    assert finish(night, operational, plan, "run-2").briefs == {}
    assert night.written() == before  # not one brief written again


def test_a_changed_article_is_briefed_again(night, tmp_path):
    config = settings(tmp_path, "tiny", ["de"])
    first = first_run(night, config)
    changed = night.file("council.txt")
    changed.write_text(changed.read_text() + "\n\nA late correction adds this sentence.")
    article = article_of(night, config, "council.txt")
    earlier = first.briefs[article.article_id]
    assert step_model(config).summary_key(article.text) != earlier["steps"]["summary"]["key"]

    plan = plan_for(night, config)

    assert ids(plan.to_summarize) == [article.article_id] and not plan.partial
    assert ids(plan.unchanged) == sorted(set(first.briefs) - {article.article_id})
    assert len(plan.unchanged) == ARTICLES - 1

    second = finish(night, config, plan, "run-2")

    assert list(second.briefs) == [article.article_id]
    assert "reused" not in second.entries[article.article_id]
    brief = second.briefs[article.article_id]
    assert brief["steps"]["summary"]["run_id"] == "run-2"
    assert brief["steps"]["translations"]["de"]["run_id"] == "run-2"


def test_a_changed_title_is_translated_again_but_keeps_its_summary(night, tmp_path):
    config = settings(tmp_path, "tiny", ["de"])
    first = first_run(night, config)
    retitled = night.file("floods.txt")
    title, _, body = retitled.read_text().partition("\n")
    retitled.write_text(f"{title} (updated)\n{body}")
    article = article_of(night, config, "floods.txt")
    earlier = first.briefs[article.article_id]
    summary = earlier["summaries"]["en"]
    assert step_model(config).summary_key(article.text) == earlier["steps"]["summary"]["key"]
    assert step_model(config, "de").translation_key(summary, article.title) != (
        earlier["steps"]["translations"]["de"]["key"])

    plan = plan_for(night, config)

    assert not plan.to_summarize
    assert ids(plan.unchanged) == sorted(set(first.briefs) - {article.article_id})
    [brief] = plan.partial
    assert brief.article_id == article.article_id
    assert brief.titles["en"].endswith("(updated)")
    assert brief.steps["summary"] == earlier["steps"]["summary"]
    assert brief.summaries == {"en": summary}  # its German to translate again
    assert "translations" not in brief.steps

    second = finish(night, config, plan, "run-2")

    assert second.entries[article.article_id]["reused"] == ["summary"]
    written = second.briefs[article.article_id]
    assert written["title"]["en"].endswith("(updated)")
    assert written["steps"]["summary"]["run_id"] == "run-1"
    assert written["steps"]["translations"]["de"]["run_id"] == "run-2"


def test_changed_summary_settings_summarize_again(night, tmp_path):
    first = first_run(night, settings(tmp_path, "tiny", ["de"]))
    longer = settings(tmp_path, "longer", ["de"], generation={"summary": {"max_new_tokens": 30}})
    summarizer = step_model(longer)
    assert summarizer.settings["max_new_tokens"] == 30
    for article in night.articles(longer):
        earlier = first.briefs[article.article_id]["steps"]["summary"]["key"]
        assert summarizer.summary_key(article.text) != earlier

    plan = plan_for(night, longer)

    assert ids(plan.to_summarize) == sorted(first.briefs)
    assert not plan.partial and not plan.unchanged

    second = finish(night, longer, plan, "run-2")

    assert sorted(second.briefs) == sorted(first.briefs)
    for brief in second.briefs.values():
        assert brief["steps"]["summary"]["run_id"] == "run-2"
        assert brief["generation"]["summary"]["max_new_tokens"] == 30


def test_a_changed_summarizer_summarizes_again(night, tmp_path, summarizer):
    folder = tmp_path / "my-summarizer"
    summarizer.model.save_pretrained(folder)
    summarizer.tokenizer.save_pretrained(folder)
    config = settings(tmp_path, "folder", ["de"], models={"summarizer": {"id": str(folder)}})
    first = first_run(night, config)
    revision = next(iter(first.briefs.values()))["models"]["summarizer"]["revision"]
    plan = plan_for(night, config)
    assert ids(plan.unchanged) == sorted(first.briefs)  # the same folder: all reused
    assert not plan.to_summarize and not plan.partial
    article = night.articles(config)[0]
    key = first.briefs[article.article_id]["steps"]["summary"]["key"]
    assert step_model(config).summary_key(article.text) == key

    import torch
    from transformers import AutoModelForSeq2SeqLM

    retrained = AutoModelForSeq2SeqLM.from_pretrained(folder)
    with torch.no_grad():
        retrained.lm_head.weight.mul_(1.5)  # new weights, as after fine-tuning
    retrained.save_pretrained(folder)
    assert step_model(config).version["revision"] != revision
    assert step_model(config).summary_key(article.text) != key

    plan = plan_for(night, config)

    assert ids(plan.to_summarize) == sorted(first.briefs)
    assert not plan.partial and not plan.unchanged

    third = finish(night, config, plan, "run-3")

    assert sorted(third.briefs) == sorted(first.briefs)
    for brief in third.briefs.values():
        assert brief["models"]["summarizer"]["revision"] != revision
        assert brief["steps"]["summary"]["run_id"] == "run-3"


def test_new_bytes_with_the_same_text_keep_every_step_and_update_the_source(night, tmp_path):
    config = settings(tmp_path, "tiny", ["de"])
    first = first_run(night, config)
    touched = night.file("striker.txt")
    touched.write_text(touched.read_text() + "\n\n\n")  # new bytes, the same text and title
    article = article_of(night, config, "striker.txt")
    earlier = first.briefs[article.article_id]
    assert article.source.sha256 != earlier["source"]["sha256"]

    plan = plan_for(night, config)

    assert not plan.to_summarize
    assert ids(plan.unchanged) == sorted(set(first.briefs) - {article.article_id})
    [brief] = plan.partial  # every step kept; written again for its source
    assert brief.article_id == article.article_id
    assert brief.summaries == {k: earlier["summaries"][k] for k in ("en", "de")}
    assert brief.steps["summary"] == earlier["steps"]["summary"]
    assert brief.steps["translations"] == earlier["steps"]["translations"]

    second = finish(night, config, plan, "run-2")

    assert second.entries[article.article_id]["reused"] == ["summary", "de"]
    written = second.briefs[article.article_id]
    assert written["source"]["sha256"] == hashlib.sha256(touched.read_bytes()).hexdigest()
    assert written["steps"]["translations"]["de"]["run_id"] == "run-1"


# The whole flow ---------------------------------------------------------------------------------

@pytest.mark.usefixtures("prefect_api")
def test_the_flow_translates_a_rerun_only_into_the_language_added(tmp_path):
    """Two `briefs` runs on corpus articles: the second, with French added, reuses the
    summary and German of every brief (the manifest says so) and translates into French."""
    from briefs.flows.briefs_flow import briefs
    from tests.corpus_sample import summaries
    from tests.helpers import corpus_or_skip

    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for row in summaries(corpus_or_skip(), ARTICLES):
        (source / f"{row['id']}.txt").write_text(f"Story {row['id']}\n\n{row['article']}")
    config = tiny_config_file(tmp_path, "tiny")

    def run(languages: list[str]) -> dict:
        state = briefs(str(source), str(dest), languages=languages, config=config,
                       return_state=True)
        assert state.is_completed(), state.message
        return json.loads((dest / "manifest.json").read_text())

    def written() -> dict[str, dict]:
        return {p.name: json.loads(p.read_text()) for p in sorted((dest / "briefs").glob("*"))}

    first = run(["de"])
    before = written()

    second = run(["de", "fr"])

    assert second["counts"] == {"total": ARTICLES, "succeeded": ARTICLES, "failed": 0,
                                "skipped": 0}
    assert all(e["reused"] == ["summary", "de"] for e in second["articles"])
    after = written()
    assert after.keys() == before.keys() and len(after) == ARTICLES
    for name, brief in after.items():
        earlier = before[name]
        assert brief["steps"]["summary"]["run_id"] == first["run_id"]
        assert brief["steps"]["translations"]["de"]["run_id"] == first["run_id"]
        assert brief["steps"]["translations"]["fr"]["run_id"] == second["run_id"]
        assert brief["summaries"]["en"] == earlier["summaries"]["en"]
        assert brief["summaries"]["de"] == earlier["summaries"]["de"]
        assert brief["summaries"]["fr"]
