"""Reuse keys: what each step's output depends on, so a re-run redoes only what changed.

A summary depends on the article text, the summarizer (id and resolved revision), the
generation settings in force and the engine that ran it, and for a non-English article on
the route's models and settings. A translation depends on the
summary and title it translates, the translator (id and revision), its settings and the
glossary. Nothing else (alerts, schedule, batching, device, the order of languages) changes
an output, so nothing else is in a key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def step_key(step: str, **inputs: Any) -> str:
    """A short, stable hash of a step's name and everything its output depends on."""
    canonical = json.dumps({"step": step, **inputs}, sort_keys=True, ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def summary_key(text: str, model: dict[str, Any], settings: dict[str, Any],
                engine: dict[str, Any], route: dict[str, Any] | None = None) -> str:
    """The key of an article's summary; `route`: the models that took a non-English article
    to it (left out for English, so English keys stay as they were)."""
    extra = {"route": route} if route else {}
    return step_key("summary", text=text, model=model, settings=settings, engine=engine,
                    **extra)


def translation_key(summary: str, title: str, model: dict[str, Any], settings: dict[str, Any],
                    engine: dict[str, Any], glossary: Any = None) -> str:
    """The key of one language's translation of a summary and its title."""
    return step_key("translation", summary=summary, title=title, model=model,
                    settings=settings, engine=engine, glossary=glossary)
