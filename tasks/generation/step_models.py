"""Each step's model with the settings in force for it, and the reuse keys of its outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from briefs.tasks.core import reuse
from briefs.tasks.core.config import BriefsConfig, ModelRef, TranslatorRef
from briefs.tasks.generation.glossary import terms_for
from briefs.tasks.generation.targets import ENGLISH, NoTargetToken, target_tokens
from briefs.tasks.models.loading import LoadedModel, load_model
from briefs.tasks.quality.guards import check_output
from briefs.tasks.quality.warnings import Notice


@dataclass(frozen=True)
class StepModel:
    """A step's model and the generation settings in force for it (a translator's target
    tokens included), and its reuse keys."""

    loaded: LoadedModel
    settings: dict[str, Any]
    glossary: dict[str, str] = field(default_factory=dict)  # translators: term → output

    @property
    def version(self) -> dict[str, Any]:
        """Id and resolved revision: what a model is (how it runs is `runs_on`)."""
        return version_of(self.loaded)

    @property
    def record(self) -> dict[str, Any]:
        """What a brief records of it: id, revision, engine and compute type."""
        return record_of(self.loaded)

    def summary_key(self, text: str, route: dict[str, Any] | None = None) -> str:
        """The key of a summary of `text`; `route`: how a non-English text reached it."""
        return reuse.summary_key(text, self.version, self.settings, self.loaded.runs_on, route)

    def translation_key(self, summary: str, title: str) -> str:
        return reuse.translation_key(summary, title, self.version, self.settings,
                                     self.loaded.runs_on, self.glossary or None)

    def check(self, output: str, *, step: str, language: str, source: str,
              cut_parts: int = 0) -> list[Notice]:
        """The output guards' findings on what this model made from `source`; `cut_parts`:
        how many of its parts (chunks, segments) stopped at max_new_tokens mid-sentence, as
        the generating step counted them."""
        notices = check_output(output, step=step, language=language, source=source)
        if cut_parts:
            notices.append(Notice("max_new_tokens", f"{step} '{language}': {cut_parts} of its "
                                  f"parts stopped at max_new_tokens "
                                  f"({self.settings.get('max_new_tokens')}) mid-sentence"))
        return notices

    def route_part(self) -> dict[str, Any]:
        """This model in the summary key of an article that went through it."""
        return {"model": self.version, "settings": self.settings, "engine": self.loaded.runs_on,
                "glossary": self.glossary or None}


def version_of(loaded: LoadedModel) -> dict[str, Any]:
    return {"id": loaded.model_id, "revision": loaded.revision}


def record_of(loaded: LoadedModel) -> dict[str, Any]:
    """What a brief records of a model: id, revision, engine and compute type."""
    return {**version_of(loaded), **loaded.runs_on}


def summarizer_step(ref: ModelRef, config: BriefsConfig) -> StepModel:
    """A summarizer with the config's summary settings, else the model's own defaults."""
    loaded = load_model(ref, config.runtime)
    return StepModel(loaded, loaded.effective_settings(config.generation.summary.model_dump()))


def translator_step(ref: TranslatorRef, target: str, config: BriefsConfig,
                    config_key: str, source: str = ENGLISH) -> StepModel:
    """A translator from `source` into `target`, its target tokens found or configured (under
    `config_key`), and the glossary's terms for `target`. Raises NoTargetToken."""
    loaded = load_model(ref, config.runtime)
    if source != ENGLISH and getattr(loaded.tokenizer, "src_lang", None):
        raise NoTargetToken(
            f"translator {ref.id!r} reads its source language from a token (NLLB, M2M100), "
            f"which briefs sets only for English sources; for {source!r} use an OPUS-MT model "
            f"into English (Helsinki-NLP/opus-mt-{source}-en or Helsinki-NLP/opus-mt-mul-en)")
    tokens = target_tokens(target, loaded.tokenizer.get_vocab(), ref.id, config_key,
                           ref.input_prefix, ref.forced_bos_token)
    settings = loaded.effective_settings(config.generation.translation.model_dump())
    glossary = terms_for(config.glossary.keep, config.glossary.fixed, target)
    return StepModel(loaded, {**settings, **tokens.as_settings()}, glossary)


def step_model(config: BriefsConfig, lang: str | None = None) -> StepModel:
    """The summarizer (no `lang`) or the translator from English into `lang`."""
    if lang is None:
        return summarizer_step(config.models.summarizer, config)
    return translator_step(config.models.translator(lang), lang, config,
                           f"models.translators.{lang}")
