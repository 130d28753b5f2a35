"""Routes for articles in languages the summarizer does not read (see `sources` in config).

pivot: the article and its title are translated into English, then summarized as English
articles are. summarize: a multilingual summarizer summarizes the article in its own language,
and that summary and the title are translated into English, from which the targets are made.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.core.records import Article, Brief, Failure
from briefs.tasks.core.timing import time_shares
from briefs.tasks.generation.step_models import StepModel, summarizer_step, translator_step
from briefs.tasks.generation.summarize import summarize_texts
from briefs.tasks.generation.targets import ENGLISH, NoTargetToken
from briefs.tasks.generation.translate import translate_texts
from briefs.tasks.models.loading import ModelUnavailable
from briefs.tasks.quality.warnings import Notice, glossary_lost, step_record

ROUTE_HELP = ("pivot: a translator into English, e.g. {route: pivot, translator: {id: ...}}; "
              "or summarize: a multilingual summarizer and a translator into English")
# Route problems met in this process (config hash, language) → the reason: a model that
# cannot be had is not tried again for every batch.
_unavailable: dict[tuple[str, str | None], str] = {}


def forget_unavailable_routes() -> None:
    """Try every route again (a process that runs night after night: a model may have been
    downloaded since)."""
    _unavailable.clear()


class RouteUnavailable(RuntimeError):
    """No route, or a route whose models cannot be had: the articles in that language fail."""


@dataclass(frozen=True)
class RouteSteps:
    name: str  # pivot | summarize
    language: str
    translator: StepModel  # into English
    summarizer: StepModel | None = None  # route summarize

    @property
    def role(self) -> str:
        """The name of the translator's role, timing and settings in a brief."""
        return f"pivot_{self.language}"

    def key_part(self) -> dict[str, Any]:
        """The route's models, settings and glossary, in the summary key of its articles."""
        part = {"name": self.name, "translator": self.translator.route_part()}
        if self.summarizer is not None:
            part["summarizer"] = self.summarizer.route_part()
        return part

    def models(self) -> dict[str, dict[str, Any]]:
        """Role → model record, as the briefs of this route record them."""
        models = {self.role: self.translator.record}
        if self.summarizer is not None:
            models[f"summarizer_{self.language}"] = self.summarizer.record
        return models

    def record(self, confidence: float) -> dict[str, Any]:
        """The brief's `route`: how the article was briefed and with which models."""
        return {"name": self.name, "source_language": self.language,
                "language_confidence": confidence, "models": self.models()}


def route_steps(config: BriefsConfig, lang: str | None) -> RouteSteps:
    """The route for articles in `lang`, its models loaded; RouteUnavailable says why not."""
    known = _unavailable.get((config.config_hash(), lang))
    if known:
        raise RouteUnavailable(known)
    try:
        return _load_route(config, lang)
    except RouteUnavailable as exc:
        _unavailable[(config.config_hash(), lang)] = str(exc)
        raise


def _load_route(config: BriefsConfig, lang: str | None) -> RouteSteps:
    if not lang:
        raise RouteUnavailable("the source language could not be detected, so no route "
                               "applies (declare it: a JSON 'language' field, <html lang>)")
    route = config.sources.route(lang)
    key = f"sources.routes.{lang}"
    if route is None:
        raise RouteUnavailable(f"source language {lang!r} has no route: add {key} "
                               f"({ROUTE_HELP})")
    key = key if lang in config.sources.routes else "sources.routes.default"
    try:
        translator = translator_step(route.translator, ENGLISH, config, f"{key}.translator",
                                     source=lang)
        summarizer = (summarizer_step(route.summarizer, config)
                      if route.summarizer is not None else None)
    except (ModelUnavailable, NoTargetToken) as exc:
        raise RouteUnavailable(f"source language {lang!r}: the {route.route} route ({key}) "
                               f"cannot be used: {exc}") from exc
    return RouteSteps(route.route, lang, translator, summarizer)


@dataclass
class EnglishInput:
    """An article as the summarizer reads it: in English, from the source or via a route."""

    article: Article
    text: str
    title: str
    route: RouteSteps | None = None
    timings_ms: dict[str, int] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)  # on the pivot: guards, glossary

    def brief(self, summary: str, chunks: int, timings: dict[str, int]) -> Brief:
        """A brief with its English summary and title, the original title, and its route."""
        article = self.article
        brief = Brief(article, summary, chunks, warnings=list(article.warnings))
        brief.summaries[ENGLISH] = summary
        brief.titles[ENGLISH] = self.title
        brief.titles[article.language or "und"] = article.title
        brief.timings_ms.update({"parse": article.parse_ms, **self.timings_ms, **timings})
        if self.route is None:
            brief.route = {"name": "direct", "source_language": article.language,
                           "language_confidence": article.language_confidence}
        else:
            brief.route = self.route.record(article.language_confidence)
            brief.models.update(self.route.models())
            brief.generation[self.route.role] = self.route.translator.settings
            brief.note_random_weights(self.route.translator.loaded)
        return brief

    def summary_step(self, key: str, notices: list[Notice]) -> dict[str, Any]:
        """The brief's `steps.summary`: its reuse key, and the warnings on the pivot into
        English and on the summary (`notices`)."""
        return step_record(key, [*self.notices, *notices])


def pivot_to_english(steps: RouteSteps, articles: list[Article], config: BriefsConfig
                     ) -> list[EnglishInput | Failure]:
    """Translate articles (text and title) into English with the route's translator."""
    step = steps.translator
    started = time.perf_counter()
    texts = [a.text for a in articles] + [a.title for a in articles]
    outputs = translate_texts(step.loaded, texts, step.settings,
                              config.batching.budget_for(step.loaded.device),
                              steps.language, ENGLISH, step.glossary)
    shares = time_shares(started, [len(a.text) for a in articles])
    results: list[EnglishInput | Failure] = []
    for position, article in enumerate(articles):
        text, title = outputs[position], outputs[len(articles) + position]
        if isinstance(text, Exception) or isinstance(title, Exception) or not text.text:
            problem = text if isinstance(text, Exception) else title
            results.append(Failure.of(article, f"translation from {steps.language!r} into "
                                               f"English failed: {problem or 'empty output'}"))
            continue
        notices = [*glossary_lost([*text.lost_terms, *title.lost_terms], ENGLISH),
                   *step.check(text.text, step="pivot", language=ENGLISH, source=article.text,
                               cut_parts=text.cut_parts + title.cut_parts)]
        results.append(EnglishInput(article, text.text, title.text, steps,
                                    {steps.role: shares[position]}, notices))
    return results


def summarize_in_source(steps: RouteSteps, articles: list[Article], config: BriefsConfig
                        ) -> list[Brief | Failure]:
    """Summarize articles in their own language with the route's multilingual summarizer,
    then translate the summary and title into English."""
    summarizer, lang = steps.summarizer, steps.language
    if summarizer is None:
        raise ValueError(f"route {steps.name!r} has no summarizer")
    started = time.perf_counter()
    summaries = summarize_texts(summarizer.loaded, [a.text for a in articles],
                                summarizer.settings,
                                config.batching.budget_for(summarizer.loaded.device), lang)
    shares = time_shares(started, [len(a.text) for a in articles])
    results: list[Brief | Failure] = []
    done = []
    for article, summary, spent in zip(articles, summaries, shares, strict=True):
        if isinstance(summary, Exception):
            results.append(Failure.of(article, f"summarization failed: {summary}"))
        elif not summary.text:
            results.append(Failure.of(article, "the summarizer returned an empty summary"))
        else:
            done.append((article, summary, spent))
    as_articles = [dataclasses.replace(a, text=s.text, warnings=[]) for a, s, _ in done]
    for (article, summary, spent), english in zip(
            done, pivot_to_english(steps, as_articles, config), strict=True):
        if isinstance(english, Failure):
            results.append(Failure.of(article, english.reason))
            continue
        item = dataclasses.replace(english, article=article)
        brief = item.brief(item.text, summary.chunks, {"summarize": spent})
        brief.summaries[lang] = summary.text
        brief.generation["summary"] = summarizer.settings
        brief.steps["summary"] = item.summary_step(
            summarizer.summary_key(article.text, steps.key_part()),
            summarizer.check(summary.text, step="summary", language=lang, source=article.text,
                             cut_parts=int(summary.cut)))
        brief.note_random_weights(summarizer.loaded)
        results.append(brief)
    return results
