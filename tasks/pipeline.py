"""The steps of a run as plain functions over batches: read, summarise, translate, write.

Each step returns, per article, either its result or a `Failure` with the reason, so one
bad article never stops the others. Storage faults that may pass (throttling, 5xx, network)
are raised instead, for the caller's retries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tasks import reuse
from tasks.articles import ParseError, RawObject, article_id_for, check_size, parse_object
from tasks.config import BriefsConfig
from tasks.language import detect_language
from tasks.models import LoadedModel, load_model
from tasks.records import Article, Brief, Failure
from tasks.render import brief_document, source_record, step_runs, to_json_bytes
from tasks.storage import ObjectInfo, StorageError, Store, object_uri
from tasks.summarise import summarise_texts
from tasks.text import split_sentences
from tasks.translate import translate_texts

log = logging.getLogger(__name__)
SUMMARY_LANGUAGES = ("en",)  # languages the configured summariser reads
DERIVED_TITLE_CHARS = 120


def load_all_models(config: BriefsConfig) -> dict[str, LoadedModel]:
    """Load the summariser and every translator, so a missing model fails the run up front."""
    loaded = {"summarizer": load_model(config.models.summarizer, config.runtime)}
    for lang in config.languages:
        if lang not in SUMMARY_LANGUAGES:
            loaded[f"translator_{lang}"] = load_model(
                config.models.translator(lang), config.runtime)
    return loaded


def read_articles(store: Store, objects: list[ObjectInfo], config: BriefsConfig
                  ) -> list[Article | Failure]:
    """Read and parse objects into articles, with the source language detected."""
    results: list[Article | Failure] = []
    for info in objects:
        uri = store.uri_of(info.key)
        try:  # an object over the limit is refused before it is read
            check_size(info.size, config.limits.max_object_bytes, "limits.max_object_bytes")
        except ParseError as exc:
            results.append(Failure(article_id_for(info.key), uri, str(exc)))
            continue
        try:
            data = store.read(info.key)
        except StorageError as exc:
            if exc.transient:
                raise
            results.append(Failure(article_id_for(info.key), uri, str(exc)))
            continue
        for item in parse_object(RawObject(info.key, uri, data, info.etag), config.limits):
            if isinstance(item, Article):
                _describe(item)
            results.append(item)
    return results


def _describe(article: Article) -> None:
    article.language = detect_language(article.text)
    if article.declared_language and article.language and (
            article.declared_language.lower()[:2] != article.language):
        article.warnings.append(f"declared language {article.declared_language!r} but the text "
                                f"reads as {article.language!r}; using {article.language!r}")
    if not article.title:
        first = split_sentences(article.text, article.language or "en")[:1] or [article.text]
        title = first[0]
        if len(title) > DERIVED_TITLE_CHARS:
            title = title[:DERIVED_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
        article.title = title
        article.warnings.append("the source has no title; its first sentence is used")


def summarise_articles(articles: list[Article], config: BriefsConfig) -> list[Brief | Failure]:
    """Summarise a batch of articles in their source language."""
    results: list[Brief | Failure] = []
    readable = []
    for article in articles:
        if article.language in SUMMARY_LANGUAGES:
            readable.append(article)
        else:
            results.append(_failed(article, (
                f"source language {article.language or 'unknown'!r}: no summariser is "
                f"configured for it (summarised languages: {', '.join(SUMMARY_LANGUAGES)})")))
    if not readable:
        return results
    step = step_model(config)
    loaded, settings = step.loaded, step.settings
    started = time.perf_counter()
    summaries = summarise_texts(loaded, [a.text for a in readable], settings,
                                config.batching.tokens_for(loaded.device))
    shares = _time_shares(started, [len(a.text) for a in readable])
    for article, summary, spent in zip(readable, summaries, shares, strict=True):
        if isinstance(summary, Exception):
            results.append(_failed(article, f"summarisation failed: {summary}"))
        elif not summary.text:
            results.append(_failed(article, "the summariser returned an empty summary"))
        else:
            brief = Brief(article, summary.text, summary.chunks, warnings=list(article.warnings))
            brief.titles[article.language] = article.title
            brief.summaries[article.language] = summary.text
            brief.timings_ms.update(parse=article.parse_ms, summarise=spent)
            brief.generation["summary"] = settings
            brief.steps["summary"] = {"key": step.summary_key(article)}
            _warn_if_random(brief, loaded)
            results.append(brief)
    return results


def translate_briefs(briefs: list[Brief], config: BriefsConfig) -> list[Brief | Failure]:
    """Translate each brief's summary and title into every configured language it lacks."""
    failed: dict[str, Failure] = {}
    for lang in config.languages:
        todo = [b for b in briefs if b.article_id not in failed
                and b.article.language != lang and lang not in b.summaries]
        if not todo:
            continue
        step = step_model(config, lang)
        loaded, settings = step.loaded, step.settings
        started = time.perf_counter()
        texts = [b.summary for b in todo] + [b.article.title for b in todo]
        outputs = translate_texts(loaded, texts, settings,
                                  config.batching.tokens_for(loaded.device))
        shares = _time_shares(started, [len(t) for t in texts[:len(todo)]])
        for position, brief in enumerate(todo):
            summary, title = outputs[position], outputs[len(todo) + position]
            problem = next((o for o in (summary, title) if isinstance(o, Exception)), None)
            if problem is not None or not summary:
                failed[brief.article_id] = _failed(
                    brief.article, f"translation to {lang!r} failed: {problem or 'empty output'}")
                continue
            brief.summaries[lang] = str(summary)
            brief.titles[lang] = str(title)
            brief.timings_ms[f"translate_{lang}"] = shares[position]
            brief.generation[f"translation_{lang}"] = settings
            brief.steps.setdefault("translations", {})[lang] = {"key": step.translation_key(brief)}
            _warn_if_random(brief, loaded)
    return [failed.get(b.article_id, b) for b in briefs]


@dataclass(frozen=True)
class StepModel:
    """A step's model and the generation settings in force for it, and its reuse keys."""

    loaded: LoadedModel
    settings: dict[str, Any]

    def summary_key(self, article: Article) -> str:
        return reuse.summary_key(article.text, _version(self.loaded), self.settings,
                                 self.loaded.runs_on)

    def translation_key(self, brief: Brief) -> str:
        return reuse.translation_key(brief.summary, brief.article.title, _version(self.loaded),
                                     self.settings, self.loaded.runs_on)


def step_model(config: BriefsConfig, lang: str | None = None) -> StepModel:
    """The summariser (no `lang`) or the translator into `lang`, with its settings in force:
    the config's, else the model's own generation config."""
    if lang is None:
        ref, settings = config.models.summarizer, config.generation.summary
    else:
        ref, settings = config.models.translator(lang), config.generation.translation
    loaded = load_model(ref, config.runtime)
    return StepModel(loaded, loaded.effective_settings(settings.model_dump()))


BRIEFS_FOLDER = "briefs/"


def brief_key(article_id: str) -> str:
    return f"{BRIEFS_FOLDER}{article_id}.json"


def write_briefs(store: Store, briefs: list[Brief], config: BriefsConfig,
                 models: dict[str, dict[str, Any]], run_id: str) -> list[dict[str, Any] | Failure]:
    """Write each brief whole as `briefs/<article_id>.json`, each on its own.

    Returns, per brief, the document written or a `Failure`: a brief that could not be
    written (botocore's retries exhausted) fails alone, and those written are recorded.
    """
    results: list[dict[str, Any] | Failure] = []
    for brief in briefs:
        document = brief_document(brief, config, models, run_id)
        try:
            store.write(brief_key(brief.article_id), to_json_bytes(document), "application/json")
        except StorageError as exc:
            results.append(_failed(brief.article, f"the brief could not be written: {exc}"))
            continue
        results.append(document)
    return results


def drop_duplicates(articles: list[Article], seen: dict[str, Article]
                    ) -> tuple[list[Article], list[Failure]]:
    """Keep the first article of each text in the run; later copies are skipped, naming it.

    `seen` (text hash → first article) carries over from batch to batch.
    """
    unique, duplicates = [], []
    for article in articles:
        first = seen.setdefault(_text_digest(article), article)
        if first is article:
            unique.append(article)
        else:
            duplicates.append(Failure(
                article.article_id, article.source.uri,
                f"duplicate of {first.article_id} ({first.source.uri}): same text",
                status="skipped"))
    return unique, duplicates


def _text_digest(article: Article) -> str:
    """The same story: the same words, whatever the spacing."""
    return hashlib.sha256(" ".join(article.text.split()).encode()).hexdigest()


@dataclass
class ReusePlan:
    """What a re-run can take over from briefs already written."""

    to_summarise: list[Article] = field(default_factory=list)
    partial: list[Brief] = field(default_factory=list)  # summary reused, languages missing
    unchanged: list[dict[str, Any]] = field(default_factory=list)  # whole briefs, as written


def plan_reuse(store: Store, articles: list[Article], config: BriefsConfig,
               existing: set[str]) -> ReusePlan:
    """Reuse each step whose key is unchanged: the summary, then each translation.

    A brief whose every step (and source) is unchanged is taken over whole and not written
    again; one with a new language or a new title keeps its summary and what else still
    holds; a changed article, summariser or summary setting is briefed again.
    """
    plan = ReusePlan()
    steps = {None: step_model(config)} | {lang: step_model(config, lang)
                                          for lang in config.languages
                                          if lang not in SUMMARY_LANGUAGES}
    for article in articles:
        earlier = _earlier_brief(store, article, existing)
        brief = reuse_steps(article, earlier, steps) if earlier else None
        if brief is None:
            plan.to_summarise.append(article)
        elif (all(lang in brief.summaries for lang in config.languages)
              and earlier["source"] == source_record(article)):
            plan.unchanged.append(earlier)
        else:
            plan.partial.append(brief)
    return plan


def made_by_run(brief: dict[str, Any], run_id: str) -> bool:
    """Whether a step of this brief was made by the run `run_id` (an earlier attempt of a
    shard of that run wrote it)."""
    return run_id in step_runs(brief).values()


def _earlier_brief(store: Store, article: Article, existing: set[str]) -> dict[str, Any] | None:
    key = brief_key(article.article_id)
    if key not in existing:
        return None
    try:
        earlier = json.loads(store.read(key))
    except StorageError as exc:
        if exc.transient:
            raise
        return None
    except ValueError:  # not valid JSON: brief it again
        return None
    return earlier if isinstance(earlier, dict) else None


def reuse_steps(article: Article, earlier: dict[str, Any],
                models: dict[str | None, StepModel]) -> Brief | None:
    """A brief holding the steps of `earlier` that still hold, or None to brief it anew.

    `models`: the summariser (key None) and the translator of each target language.
    """
    steps = earlier.get("steps") or {}
    language = article.language
    try:
        if (earlier["source_language"] != language or language not in SUMMARY_LANGUAGES
                or steps.get("summary", {}).get("key") != models[None].summary_key(article)):
            return None
        summary = earlier["summaries"][language]
        brief = Brief(article, summary, earlier["chunks"], warnings=list(article.warnings))
        brief.titles[language] = article.title
        brief.summaries[language] = summary
        brief.generation["summary"] = earlier["generation"]["summary"]
        brief.steps["summary"] = steps["summary"]
        brief.timings_ms.update({k: v for k, v in earlier["timings_ms"].items()
                                 if k in ("parse", "summarise")})
        _warn_if_random(brief, models[None].loaded)
        for lang, step in (steps.get("translations") or {}).items():
            if lang in models and step.get("key") == models[lang].translation_key(brief):
                brief.summaries[lang] = earlier["summaries"][lang]
                brief.titles[lang] = earlier["title"][lang]
                brief.generation[f"translation_{lang}"] = earlier["generation"][
                    f"translation_{lang}"]
                brief.steps.setdefault("translations", {})[lang] = step
                brief.timings_ms[f"translate_{lang}"] = earlier["timings_ms"].get(
                    f"translate_{lang}", 0)
                _warn_if_random(brief, models[lang].loaded)
    except (KeyError, TypeError, AttributeError):  # an older or damaged brief: brief anew
        return None
    return brief


def model_versions(loaded: dict[str, LoadedModel]) -> dict[str, dict[str, Any]]:
    """Role → model id, revision, engine and compute type, as recorded in every brief."""
    return {role: {**_version(m), **m.runs_on} for role, m in loaded.items()}


def _version(loaded: LoadedModel) -> dict[str, Any]:
    """Id and resolved revision: what a model is (how it runs is `runs_on`)."""
    return {"id": loaded.model_id, "revision": loaded.revision}


def object_failure(source: str, key: str, reason: str, status: str = "failed") -> Failure:
    """An input object (under `source`) that got no brief, and why."""
    return Failure(article_id_for(key), object_uri(source, key), reason, status)


def _failed(article: Article, reason: str) -> Failure:
    return Failure(article.article_id, article.source.uri, reason)


def _warn_if_random(brief: Brief, loaded: LoadedModel) -> None:
    """Say in the brief itself when a model's output cannot be trusted."""
    if loaded.random_weights and not any(loaded.model_id in w for w in brief.warnings):
        brief.warnings.append(f"{loaded.model_id} has random weights: its output is gibberish, "
                              "for tests only")


def _time_shares(started: float, weights: list[int]) -> list[int]:
    """Split a batch's wall time over its articles by input size (batched work is shared)."""
    total_ms = (time.perf_counter() - started) * 1000
    weight_sum = sum(weights) or 1
    return [int(total_ms * w / weight_sum) for w in weights]
