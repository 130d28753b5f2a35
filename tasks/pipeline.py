"""The steps of a run as plain functions over batches: read, summarise, translate, write.

Each step returns, per article, either its result or a `Failure` with the reason, so one
bad article never stops the others. Storage faults that may pass (throttling, 5xx, network)
are raised instead, for the caller's retries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tasks.articles import ParseError, RawObject, article_id_for, check_size, parse_object
from tasks.config import BriefsConfig
from tasks.language import detect_language
from tasks.models import LoadedModel
from tasks.records import Article, Brief, Failure
from tasks.render import brief_document, source_record, step_runs, to_json_bytes
from tasks.routes import RouteSteps, RouteUnavailable, route_steps
from tasks.step_models import StepModel, step_model, version_of
from tasks.storage import ObjectInfo, StorageError, Store, object_uri
from tasks.summarise import summarise_texts
from tasks.text import split_sentences
from tasks.translate import Translation, translate_texts

log = logging.getLogger(__name__)
SUMMARY_LANGUAGES = ("en",)  # languages the configured summariser reads
DERIVED_TITLE_CHARS = 120


def load_all_models(config: BriefsConfig) -> dict[str, LoadedModel]:
    """Load the summariser and every translator (with its target token), so a missing model
    fails the run up front. Route models load when an article in their language comes."""
    loaded = {"summarizer": step_model(config).loaded}
    for lang in config.languages:
        if lang not in SUMMARY_LANGUAGES:
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


def describe(article: Article, min_confidence: float) -> None:
    """Detect the article's language (a warning when unsure), and give it a title if it
    has none."""
    detected = detect_language(article.text)
    article.language, article.language_confidence = detected.language, detected.confidence
    if detected.language and detected.confidence < min_confidence:
        article.warnings.append(
            f"the language detector is unsure: {detected.language!r} with confidence "
            f"{detected.confidence:.2f}, below sources.min_confidence ({min_confidence})")
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


@dataclass
class EnglishInput:
    """An article as the summariser reads it: in English, from the source or via a route."""

    article: Article
    text: str
    title: str
    route: RouteSteps | None = None
    timings_ms: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def summarise_articles(articles: list[Article], config: BriefsConfig) -> list[Brief | Failure]:
    """Summarise a batch: English articles directly, the others by their language's route."""
    results: list[Brief | Failure] = []
    inputs = [EnglishInput(a, a.text, a.title) for a in articles
              if a.language in SUMMARY_LANGUAGES]
    by_language: dict[str | None, list[Article]] = {}
    for article in articles:
        if article.language not in SUMMARY_LANGUAGES:
            by_language.setdefault(article.language, []).append(article)
    for lang, group in by_language.items():
        try:
            steps = route_steps(config, lang)
        except RouteUnavailable as exc:
            results.extend(_failed(article, str(exc)) for article in group)
            continue
        if steps.name == "pivot":
            for item in pivot_to_english(steps, group, config):
                (inputs if isinstance(item, EnglishInput) else results).append(item)
        else:
            results.extend(summarise_in_source(steps, group, config))
    if inputs:
        results.extend(_summarise_english(inputs, config))
    return results


def _summarise_english(inputs: list[EnglishInput], config: BriefsConfig
                       ) -> list[Brief | Failure]:
    step = step_model(config)
    started = time.perf_counter()
    summaries = summarise_texts(step.loaded, [i.text for i in inputs], step.settings,
                                config.batching.tokens_for(step.loaded.device))
    shares = _time_shares(started, [len(i.text) for i in inputs])
    results: list[Brief | Failure] = []
    for item, summary, spent in zip(inputs, summaries, shares, strict=True):
        article = item.article
        if isinstance(summary, Exception):
            results.append(_failed(article, f"summarisation failed: {summary}"))
        elif not summary.text:
            results.append(_failed(article, "the summariser returned an empty summary"))
        else:
            brief = _routed_brief(item, summary.text, summary.chunks, {"summary": spent})
            brief.generation["summary"] = step.settings
            route = item.route.key_part() if item.route else None
            brief.steps["summary"] = {"key": step.summary_key(article.text, route)}
            _warn_if_random(brief, step.loaded)
            results.append(brief)
    return results


def _routed_brief(item: EnglishInput, summary: str, chunks: int,
                  timings: dict[str, int]) -> Brief:
    """A brief with its English summary and title, the original title, and its route."""
    article = item.article
    brief = Brief(article, summary, chunks, warnings=[*article.warnings, *item.warnings])
    brief.summaries["en"] = summary
    brief.titles["en"] = item.title
    brief.titles[article.language or "und"] = article.title
    brief.timings_ms.update(parse=article.parse_ms, **item.timings_ms, **timings)
    if item.route is None:
        brief.route = {"name": "direct", "source_language": article.language,
                       "language_confidence": article.language_confidence}
    else:
        brief.route = item.route.record(article.language_confidence)
        brief.models.update(item.route.models())
        brief.generation[f"pivot_{item.route.language}"] = item.route.translator.settings
        _warn_if_random(brief, item.route.translator.loaded)
    return brief


def pivot_to_english(steps: RouteSteps, articles: list[Article], config: BriefsConfig
                     ) -> list[EnglishInput | Failure]:
    """Translate articles (text and title) into English with the route's translator."""
    step = steps.translator
    started = time.perf_counter()
    texts = [a.text for a in articles] + [a.title for a in articles]
    outputs = translate_texts(step.loaded, texts, step.settings,
                              config.batching.tokens_for(step.loaded.device),
                              steps.language, "en", step.glossary)
    shares = _time_shares(started, [len(a.text) for a in articles])
    results: list[EnglishInput | Failure] = []
    for position, article in enumerate(articles):
        text, title = outputs[position], outputs[len(articles) + position]
        if isinstance(text, Exception) or isinstance(title, Exception) or not text.text:
            problem = text if isinstance(text, Exception) else title
            results.append(_failed(article, f"translation from {steps.language!r} into "
                                            f"English failed: {problem or 'empty output'}"))
            continue
        item = EnglishInput(article, text.text, title.text, steps,
                            {f"pivot_{steps.language}": shares[position]})
        item.warnings.extend(_lost_terms(text, title, "en"))
        results.append(item)
    return results


def summarise_in_source(steps: RouteSteps, articles: list[Article], config: BriefsConfig
                        ) -> list[Brief | Failure]:
    """Summarise articles in their own language with the route's multilingual summariser,
    then translate the summary and title into English."""
    summarizer, lang = steps.summarizer, steps.language
    assert summarizer is not None  # route "summarise" has one (config checks it)
    started = time.perf_counter()
    summaries = summarise_texts(summarizer.loaded, [a.text for a in articles],
                                summarizer.settings,
                                config.batching.tokens_for(summarizer.loaded.device), lang)
    shares = _time_shares(started, [len(a.text) for a in articles])
    done = [(a, s, t) for a, s, t in zip(articles, summaries, shares, strict=True)
            if not isinstance(s, Exception) and s.text]
    results: list[Brief | Failure] = [
        _failed(a, f"summarisation failed: {s}" if isinstance(s, Exception)
                else "the summariser returned an empty summary")
        for a, s in zip(articles, summaries, strict=True)
        if isinstance(s, Exception) or not s.text]
    english = pivot_to_english(steps, [_summary_as_article(a, s.text) for a, s, _ in done],
                               config)
    for (article, summary, spent), item in zip(done, english, strict=True):
        if isinstance(item, Failure):
            results.append(_failed(article, item.reason))
            continue
        item.article = article
        brief = _routed_brief(item, item.text, summary.chunks, {"summarise": spent})
        brief.summaries[lang] = summary.text
        brief.generation["summary"] = summarizer.settings
        brief.steps["summary"] = {"key": summarizer.summary_key(article.text, steps.key_part())}
        _warn_if_random(brief, summarizer.loaded)
        results.append(brief)
    return results


def _summary_as_article(article: Article, summary: str) -> Article:
    """The article with its summary as its text: what the route translates into English."""
    return dataclasses.replace(article, text=summary, warnings=[])


def _lost_terms(text: Translation, title: Translation, lang: str) -> list[str]:
    return [f"glossary: {term!r} did not come through the translation into {lang!r}"
            for term in dict.fromkeys([*text.lost_terms, *title.lost_terms])]


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
        texts = [b.summary for b in todo] + [b.titles["en"] for b in todo]
        outputs = translate_texts(step.loaded, texts, step.settings,
                                  config.batching.tokens_for(step.loaded.device),
                                  "en", lang, step.glossary)
        shares = _time_shares(started, [len(t) for t in texts[:len(todo)]])
        for position, brief in enumerate(todo):
            summary, title = outputs[position], outputs[len(todo) + position]
            problem = next((o for o in (summary, title) if isinstance(o, Exception)), None)
            if problem is not None or not summary.text:
                failed[brief.article_id] = _failed(
                    brief.article, f"translation to {lang!r} failed: {problem or 'empty output'}")
                continue
            brief.summaries[lang] = summary.text
            brief.titles.setdefault(lang, title.text)  # an article's own title stays
            brief.warnings.extend(_lost_terms(summary, title, lang))
            brief.timings_ms[f"translate_{lang}"] = shares[position]
            brief.generation[f"translation_{lang}"] = step.settings
            brief.steps.setdefault("translations", {})[lang] = {
                "key": step.translation_key(brief.summary, brief.titles["en"])}
            _warn_if_random(brief, step.loaded)
    return [failed.get(b.article_id, b) for b in briefs]


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
    routes: dict[str | None, RouteSteps | None] = {}
    for article in articles:
        earlier = _earlier_brief(store, article, existing)
        route = None
        if earlier and article.language not in SUMMARY_LANGUAGES:
            if article.language not in routes:
                try:
                    routes[article.language] = route_steps(config, article.language)
                except RouteUnavailable:  # briefed anew, and fails there with the reason
                    routes[article.language] = None
            route = routes[article.language]
        brief = (reuse_steps(article, earlier, steps, route)
                 if earlier and (route or article.language in SUMMARY_LANGUAGES) else None)
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


def reuse_steps(article: Article, earlier: dict[str, Any], models: dict[str | None, StepModel],
                route: RouteSteps | None = None) -> Brief | None:
    """A brief holding the steps of `earlier` that still hold, or None to brief it anew.

    `models`: the summariser (key None) and the translator of each target language; `route`:
    the route of a non-English article (its summary step includes the route's models).
    """
    steps = earlier.get("steps") or {}
    language = article.language
    summarizer = route.summarizer if route and route.summarizer else models[None]
    expected = summarizer.summary_key(article.text, route.key_part() if route else None)
    try:
        if (earlier["source_language"] != language
                or steps.get("summary", {}).get("key") != expected):
            return None
        summary = earlier["summaries"]["en"]
        brief = Brief(article, summary, earlier["chunks"], warnings=list(article.warnings))
        brief.summaries["en"] = summary
        brief.titles["en"] = earlier["title"]["en"] if route else article.title
        brief.titles[language or "und"] = article.title
        if route is not None:
            if route.name == "summarise":
                brief.summaries[language] = earlier["summaries"][language]
            brief.route = route.record(article.language_confidence)
            brief.models.update(route.models())
            _warn_if_random(brief, route.translator.loaded)
        else:
            brief.route = {"name": "direct", "source_language": language,
                           "language_confidence": article.language_confidence}
        brief.generation.update({k: v for k, v in earlier["generation"].items()
                                 if not k.startswith("translation_")})
        brief.steps["summary"] = steps["summary"]
        brief.timings_ms.update({k: v for k, v in earlier["timings_ms"].items()
                                 if not k.startswith("translate_")})
        brief.warnings.extend(w for w in earlier["warnings"] if w.startswith("glossary: ")
                              and w.endswith("into 'en'") and w not in brief.warnings)
        _warn_if_random(brief, summarizer.loaded)
        for lang, step in (steps.get("translations") or {}).items():
            if lang in models and step.get("key") == models[lang].translation_key(
                    summary, brief.titles["en"]):
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
    return {role: {**version_of(m), **m.runs_on} for role, m in loaded.items()}


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
