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
from typing import Any

from tasks.articles import ParseError, RawObject, article_id_for, check_size, parse_object
from tasks.config import BriefsConfig
from tasks.language import detect_language
from tasks.models import LoadedModel, load_model
from tasks.records import Article, Brief, Failure
from tasks.render import brief_document, to_json_bytes
from tasks.storage import ObjectInfo, StorageError, Store
from tasks.summarise import summarise_texts
from tasks.text import split_sentences
from tasks.translate import translate_texts

log = logging.getLogger(__name__)
SUMMARY_LANGUAGES = ("en",)  # languages the configured summariser reads
DERIVED_TITLE_CHARS = 120


def load_all_models(config: BriefsConfig) -> dict[str, LoadedModel]:
    """Load the summariser and every translator, so a missing model fails the run up front."""
    loaded = {"summarizer": load_model(config.models.summarizer, config.runtime.device)}
    for lang in config.languages:
        if lang not in SUMMARY_LANGUAGES:
            loaded[f"translator_{lang}"] = load_model(
                config.models.translator(lang), config.runtime.device)
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
    loaded = load_model(config.models.summarizer, config.runtime.device)
    settings = config.generation.summary.model_dump()
    started = time.perf_counter()
    summaries = summarise_texts(loaded, [a.text for a in readable], settings,
                                config.batching.max_tokens)
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
            brief.generation["summary"] = loaded.effective_settings(settings)
            _warn_if_random(brief, loaded)
            results.append(brief)
    return results


def translate_briefs(briefs: list[Brief], config: BriefsConfig) -> list[Brief | Failure]:
    """Translate each brief's summary and title into every configured language."""
    failed: dict[str, Failure] = {}
    for lang in config.languages:
        todo = [b for b in briefs if b.article_id not in failed
                and b.article.language != lang]
        if not todo:
            continue
        loaded = load_model(config.models.translator(lang), config.runtime.device)
        settings = config.generation.translation.model_dump()
        started = time.perf_counter()
        texts = [b.summary for b in todo] + [b.article.title for b in todo]
        outputs = translate_texts(loaded, texts, settings, config.batching.max_tokens)
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
            brief.generation[f"translation_{lang}"] = loaded.effective_settings(settings)
            _warn_if_random(brief, loaded)
    return [failed.get(b.article_id, b) for b in briefs]


BRIEFS_FOLDER = "briefs/"


def brief_key(article_id: str) -> str:
    return f"{BRIEFS_FOLDER}{article_id}.json"


def write_briefs(store: Store, briefs: list[Brief], config: BriefsConfig,
                 models: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Write each brief whole as `briefs/<article_id>.json`; returns the documents written."""
    documents = []
    for brief in briefs:
        document = brief_document(brief, config, models)
        store.write(brief_key(brief.article_id), to_json_bytes(document), "application/json")
        documents.append(document)
    return documents


def drop_duplicates(articles: list[Article], seen: dict[str, Article]
                    ) -> tuple[list[Article], list[Failure]]:
    """Keep the first article of each text in the run; later copies are skipped, naming it.

    `seen` (text hash → first article) carries over from batch to batch.
    """
    unique, duplicates = [], []
    for article in articles:
        digest = hashlib.sha256(" ".join(article.text.split()).encode()).hexdigest()
        first = seen.setdefault(digest, article)
        if first is article:
            unique.append(article)
        else:
            duplicates.append(Failure(
                article.article_id, article.source.uri,
                f"duplicate of {first.article_id} ({first.source.uri}): same text",
                status="skipped"))
    return unique, duplicates


def reuse_unchanged(store: Store, articles: list[Article], config: BriefsConfig,
                    existing: set[str]) -> tuple[list[Article], list[dict[str, Any]]]:
    """Split off articles already briefed from the same content under the same configuration.

    Returns the articles still to brief and the earlier brief documents of the others, so a
    re-run after a crash writes only what is missing.
    """
    todo, reused = [], []
    config_hash = config.config_hash()
    for article in articles:
        key = brief_key(article.article_id)
        if key in existing:
            try:
                earlier = json.loads(store.read(key))
            except StorageError as exc:
                if exc.transient:
                    raise
                earlier = None
            except ValueError:  # not valid JSON: brief it again
                earlier = None
            if (isinstance(earlier, dict) and earlier.get("config_hash") == config_hash
                    and earlier.get("source", {}).get("sha256") == article.source.sha256):
                reused.append(earlier)
                continue
        todo.append(article)
    return todo, reused


def model_versions(loaded: dict[str, LoadedModel]) -> dict[str, dict[str, Any]]:
    """Role → model id and revision, as recorded in every brief."""
    return {role: {"id": m.model_id, "revision": m.revision} for role, m in loaded.items()}


def _failed(article: Article, reason: str) -> Failure:
    return Failure(article.article_id, article.source.uri, reason)


def _warn_if_random(brief: Brief, loaded: LoadedModel) -> None:
    """Say in the brief itself when a model's output cannot be trusted."""
    if loaded.random_weights:
        brief.warnings.append(f"{loaded.model_id} has random weights: its output is gibberish, "
                              "for tests only")


def _time_shares(started: float, weights: list[int]) -> list[int]:
    """Split a batch's wall time over its articles by input size (batched work is shared)."""
    total_ms = (time.perf_counter() - started) * 1000
    weight_sum = sum(weights) or 1
    return [int(total_ms * w / weight_sum) for w in weights]
