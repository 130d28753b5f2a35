"""Routes for articles in languages the summariser does not read (see `sources` in config).

pivot: the article and its title are translated into English, then summarised as English
articles are. summarise: a multilingual summariser summarises the article in its own language,
and that summary and the title are translated into English, from which the targets are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.config import BriefsConfig
from tasks.languages import NoTargetToken
from tasks.models import ModelUnavailable
from tasks.step_models import StepModel, summarizer_step, translator_step

ROUTE_HELP = ("pivot: a translator into English, e.g. {route: pivot, translator: {id: "
              "'Helsinki-NLP/opus-mt-%s-en'}}; or summarise: a multilingual summariser")


class RouteUnavailable(RuntimeError):
    """No route, or a route whose models cannot be had: the articles in that language fail."""


@dataclass(frozen=True)
class RouteSteps:
    name: str  # pivot | summarise
    language: str
    translator: StepModel  # into English
    summarizer: StepModel | None = None  # route summarise

    def key_part(self) -> dict[str, Any]:
        """The route's models and settings, in the summary key of each article it takes."""
        part = {"name": self.name, "translator": self.translator.route_part()}
        if self.summarizer is not None:
            part["summarizer"] = self.summarizer.route_part()
        return part

    def models(self) -> dict[str, dict[str, Any]]:
        """Role → model record, as the briefs of this route record them."""
        models = {f"pivot_{self.language}": self.translator.record}
        if self.summarizer is not None:
            models[f"summarizer_{self.language}"] = self.summarizer.record
        return models

    def record(self, confidence: float) -> dict[str, Any]:
        """The brief's `route`: how the article was briefed and with which models."""
        return {"name": self.name, "source_language": self.language,
                "language_confidence": confidence, "models": self.models()}


def route_steps(config: BriefsConfig, lang: str | None) -> RouteSteps:
    """The route for articles in `lang`, its models loaded; RouteUnavailable says why not."""
    if not lang:
        raise RouteUnavailable("the source language could not be detected, so no route "
                               "applies (set the article's 'language' field, or add text)")
    route = config.sources.route(lang)
    key = f"sources.routes.{lang}"
    if route is None:
        raise RouteUnavailable(f"source language {lang!r} has no route: add {key} ("
                               + ROUTE_HELP % lang + ")")
    key = key if lang in config.sources.routes else "sources.routes.default"
    try:
        translator = translator_step(route.translator, "en", config, f"{key}.translator")
        summarizer = (summarizer_step(route.summarizer, config)
                      if route.summarizer is not None else None)
    except (ModelUnavailable, NoTargetToken) as exc:
        raise RouteUnavailable(f"source language {lang!r}: the {route.route} route ({key}) "
                               f"cannot be used: {exc}") from exc
    return RouteSteps(route.route, lang, translator, summarizer)

