"""The steps of a run as plain functions over batches: read, summarize, translate, write.

Each step returns, per article, either its result or a `Failure` with the reason, so one
bad article never stops the others. Storage faults that may pass (throttling, 5xx, network)
are raised instead, for the caller's retries.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.core.records import Article, Brief, Failure
from briefs.tasks.core.timing import time_shares
from briefs.tasks.generation.routes import (
    EnglishInput,
    RouteSteps,
    RouteUnavailable,
    pivot_to_english,
    route_steps,
    summarize_in_source,
)
from briefs.tasks.generation.step_models import StepModel, record_of, step_model
from briefs.tasks.generation.summarize import summarize_texts
from briefs.tasks.generation.targets import ENGLISH
from briefs.tasks.generation.translate import translate_texts
from briefs.tasks.ingest.articles import (
    ParseError,
    RawObject,
    article_id_for,
    check_size,
    parse_object,
)
from briefs.tasks.ingest.source_language import describe
from briefs.tasks.models.loading import LoadedModel
from briefs.tasks.models.memory import limit_malloc_arenas
from briefs.tasks.output.documents import brief_document, source_record, step_runs, to_json_bytes
from briefs.tasks.output.layout import brief_key, keep_history, read_json
from briefs.tasks.output.storage import ObjectInfo, StorageError, Store, object_uri
from briefs.tasks.quality.cleaning import clean_brief
from briefs.tasks.quality.guards import fail_reason
from briefs.tasks.quality.warnings import glossary_lost, step_notices, step_record

log = logging.getLogger(__name__)


def load_all_models(config: BriefsConfig) -> dict[str, LoadedModel]:
    """Load the summarizer and every translator (with its target token), so a missing model
    fails the run up front. Route models load when an article in their language comes. The
    allocator's arenas are capped first, before the models' threads allocate."""
    limit_malloc_arenas(config.runtime.malloc_arenas)
    loaded = {"summarizer": step_model(config).loaded}
    for lang in config.languages:
        if lang != ENGLISH:
            loaded[f"translator_{lang}"] = step_model(config, lang).loaded
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
                describe(item, config.sources.min_confidence)
            results.append(item)
    return results


def summarize_articles(articles: list[Article], config: BriefsConfig) -> list[Brief | Failure]:
    """Summarize a batch: English articles directly, the others by their language's route."""
    results: list[Brief | Failure] = []
    inputs = [EnglishInput(a, a.text, a.title) for a in articles
              if a.language == ENGLISH]
    by_language: dict[str | None, list[Article]] = {}
    for article in articles:
        if article.language != ENGLISH:
            by_language.setdefault(article.language, []).append(article)
    for lang, group in by_language.items():
        try:
            steps = route_steps(config, lang)
        except RouteUnavailable as exc:
            results.extend(Failure.of(article, str(exc)) for article in group)
            continue
        if steps.name == "pivot":
            for item in pivot_to_english(steps, group, config):
                (inputs if isinstance(item, EnglishInput) else results).append(item)
        else:
            results.extend(summarize_in_source(steps, group, config))
    if inputs:
        results.extend(_summarize_english(inputs, config))
    for result in results:  # before translation: translators read the cleaned summary
        if isinstance(result, Brief):
            clean_brief(result)
    return results


def _summarize_english(inputs: list[EnglishInput], config: BriefsConfig
                       ) -> list[Brief | Failure]:
    step = step_model(config)
    started = time.perf_counter()
    summaries = summarize_texts(step.loaded, [i.text for i in inputs], step.settings,
                                config.batching.budget_for(step.loaded.device))
    shares = time_shares(started, [len(i.text) for i in inputs])
    results: list[Brief | Failure] = []
    for item, summary, spent in zip(inputs, summaries, shares, strict=True):
        article = item.article
        if isinstance(summary, Exception):
            results.append(Failure.of(article, f"summarization failed: {summary}"))
        elif not summary.text:
            results.append(Failure.of(article, "the summarizer returned an empty summary"))
        else:
            brief = item.brief(summary.text, summary.chunks, {"summarize": spent})
            brief.generation["summary"] = step.settings
            route = item.route.key_part() if item.route else None
            # A routed article's numbers and names may be in its own text or in the pivot's.
            source = item.text if item.route is None else f"{item.text}\n{article.text}"
            brief.steps["summary"] = item.summary_step(
                step.summary_key(article.text, route),
                step.check(summary.text, step="summary", language=ENGLISH, source=source,
                           cut_parts=int(summary.cut)))
            brief.note_random_weights(step.loaded)
            results.append(brief)
    return results


def translate_briefs(briefs: list[Brief], config: BriefsConfig) -> list[Brief | Failure]:
    """Translate each brief's English summary and title into every configured language it
    lacks."""
    failed: dict[str, Failure] = {}
    for lang in config.languages:
        todo = [b for b in briefs if b.article_id not in failed and lang not in b.summaries]
        if not todo:
            continue
        step = step_model(config, lang)
        started = time.perf_counter()
        texts = [b.summary for b in todo] + [b.titles[ENGLISH] for b in todo]
        outputs = translate_texts(step.loaded, texts, step.settings,
                                  config.batching.budget_for(step.loaded.device),
                                  ENGLISH, lang, step.glossary)
        shares = time_shares(started, [len(t) for t in texts[:len(todo)]])
        for position, brief in enumerate(todo):
            summary, title = outputs[position], outputs[len(todo) + position]
            problem = next((o for o in (summary, title) if isinstance(o, Exception)), None)
            if problem is not None or not summary.text:
                failed[brief.article_id] = Failure.of(
                    brief.article, f"translation to {lang!r} failed: {problem or 'empty output'}")
                continue
            brief.summaries[lang] = summary.text
            brief.titles.setdefault(lang, title.text)  # an article's own title stays
            brief.timings_ms[f"translate_{lang}"] = shares[position]
            brief.generation[f"translation_{lang}"] = step.settings
            notices = [*glossary_lost([*summary.lost_terms, *title.lost_terms], lang),
                       *step.check(summary.text, step="translation", language=lang,
                                   source=brief.summary,
                                   cut_parts=summary.cut_parts + title.cut_parts)]
            brief.steps.setdefault("translations", {})[lang] = step_record(
                step.translation_key(brief.summary, brief.titles[ENGLISH]), notices)
            brief.note_random_weights(step.loaded)
    for brief in briefs:  # the translations (what was cleaned before is clean)
        clean_brief(brief)
    return [failed.get(b.article_id) or guard_policy(b, config.guards.fail_on) for b in briefs]


def guard_policy(brief: Brief, fail_on: list[str]) -> Brief | Failure:
    """The brief, or its article's failure when a warning has a code in `guards.fail_on`."""
    reason = fail_reason([*brief.warnings, *step_notices(brief.steps)], fail_on)
    return Failure.of(brief.article, reason) if reason else brief


def write_briefs(store: Store, briefs: list[Brief], config: BriefsConfig,
                 models: dict[str, dict[str, Any]], run_id: str,
                 existing: set[str]) -> list[dict[str, Any] | Failure]:
    """Write each brief whole as `briefs/<article_id>.json`, each on its own; a brief it
    replaces (a key in `existing`) is first kept under `history/<article_id>/`.

    Returns, per brief, the document written or a `Failure`: a brief that could not be
    written (botocore's retries exhausted) fails alone, and those written are recorded.
    """
    results: list[dict[str, Any] | Failure] = []
    for brief in briefs:
        document = brief_document(brief, config, models, run_id)
        key = brief_key(brief.article_id)
        try:
            if key in existing:
                keep_history(store, brief.article_id, run_id)
            store.write(key, to_json_bytes(document), "application/json")
        except StorageError as exc:
            results.append(Failure.of(brief.article, f"the brief could not be written: {exc}"))
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

    to_summarize: list[Article] = field(default_factory=list)
    partial: list[Brief] = field(default_factory=list)  # summary reused, languages missing
    unchanged: list[dict[str, Any]] = field(default_factory=list)  # whole briefs, as written


def plan_reuse(store: Store, articles: list[Article], config: BriefsConfig,
               existing: set[str]) -> ReusePlan:
    """Reuse each step whose key is unchanged: the summary, then each translation.

    A brief whose every step (and source) is unchanged is taken over whole and not written
    again; one with a new language or a new title keeps its summary and what else still
    holds; a changed article, summarizer or summary setting is briefed again.
    """
    plan = ReusePlan()
    steps = {None: step_model(config)} | {lang: step_model(config, lang)
                                          for lang in config.languages
                                          if lang != ENGLISH}
    routes: dict[str | None, RouteSteps | None] = {}
    for article in articles:
        earlier = _earlier_brief(store, article, existing)
        route = None
        if earlier and article.language != ENGLISH:
            if article.language not in routes:
                try:
                    routes[article.language] = route_steps(config, article.language)
                except RouteUnavailable:  # briefed anew, and fails there with the reason
                    routes[article.language] = None
            route = routes[article.language]
        brief = (reuse_steps(article, earlier, steps, route)
                 if earlier and (route or article.language == ENGLISH) else None)
        if brief is None:
            plan.to_summarize.append(article)
        elif (all(lang in brief.summaries for lang in config.languages)
              and earlier["source"] == source_record(article)
              and not fail_reason(earlier.get("warnings", []), config.guards.fail_on)):
            plan.unchanged.append(earlier)  # (one that guards.fail_on fails goes on, to fail)
        else:
            plan.partial.append(brief)
    return plan


def made_by_run(brief: dict[str, Any], run_id: str) -> bool:
    """Whether a step of this brief was made by the run `run_id` (an earlier attempt of a
    shard of that run wrote it)."""
    return run_id in step_runs(brief).values()


def _earlier_brief(store: Store, article: Article, existing: set[str]) -> dict[str, Any] | None:
    key = brief_key(article.article_id)
    return read_json(store, key) if key in existing else None  # unreadable: brief it again


def reuse_steps(article: Article, earlier: dict[str, Any], models: dict[str | None, StepModel],
                route: RouteSteps | None = None) -> Brief | None:
    """A brief holding the steps of `earlier` that still hold, or None to brief it anew.

    `models`: the summarizer (key None) and the translator of each target language; `route`:
    the route of a non-English article (its summary step includes the route's models).
    """
    steps = earlier.get("steps") or {}
    language = article.language
    summarizer = route.summarizer if route and route.summarizer else models[None]
    expected = summarizer.summary_key(article.text, route.key_part() if route else None)
    try:
        if (earlier["source_language"] != language
                or steps.get("summary", {}).get("key") != expected
                or (route and earlier["title"][language] != article.title)):
            return None  # a routed article's English title is translated from its title
        summary = earlier["summaries"][ENGLISH]
        english = EnglishInput(article, article.text,
                               earlier["title"][ENGLISH] if route else article.title, route)
        brief = english.brief(summary, earlier["chunks"],
                              {k: v for k, v in earlier["timings_ms"].items()
                               if not k.startswith("translate_")})
        if route is not None and route.name == "summarize":
            brief.summaries[language] = earlier["summaries"][language]
        brief.generation.update({k: v for k, v in earlier["generation"].items()
                                 if not k.startswith("translation_")})
        brief.steps["summary"] = steps["summary"]
        brief.note_random_weights(summarizer.loaded)
        for lang, step in (steps.get("translations") or {}).items():
            if lang in models and step.get("key") == models[lang].translation_key(
                    summary, brief.titles[ENGLISH]):
                brief.summaries[lang] = earlier["summaries"][lang]
                brief.titles[lang] = earlier["title"][lang]
                brief.generation[f"translation_{lang}"] = earlier["generation"][
                    f"translation_{lang}"]
                brief.steps.setdefault("translations", {})[lang] = step
                brief.timings_ms[f"translate_{lang}"] = earlier["timings_ms"].get(
                    f"translate_{lang}", 0)
                brief.note_random_weights(models[lang].loaded)
    except (KeyError, TypeError, AttributeError):  # an older or damaged brief: brief anew
        return None
    return brief


def model_versions(loaded: dict[str, LoadedModel]) -> dict[str, dict[str, Any]]:
    """Role → model id, revision, engine and compute type, as recorded in every brief."""
    return {role: record_of(m) for role, m in loaded.items()}


def object_failure(source: str, key: str, reason: str, status: str = "failed") -> Failure:
    """An input object (under `source`) that got no brief, and why."""
    return Failure(article_id_for(key), object_uri(source, key), reason, status)
