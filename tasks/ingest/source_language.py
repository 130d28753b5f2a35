"""The source language of an article: detected offline (lingua's bundled models) with lingua's
confidence, weighed against the language the source declares."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from briefs.tasks.core.records import Article
from briefs.tasks.ingest.text import split_sentences
from briefs.tasks.quality.warnings import Notice

SAMPLE_CHARS = 2000  # the start of an article is plenty to tell its language
DERIVED_TITLE_CHARS = 120


@dataclass(frozen=True)
class Detected:
    language: str | None  # ISO 639-1, None when it cannot be told
    confidence: float  # lingua's confidence in that language, 0 to 1


@functools.cache
def _detector():
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def detect_language(text: str) -> Detected:
    """The text's most likely language and how sure lingua is of it."""
    values = _detector().compute_language_confidence_values(text[:SAMPLE_CHARS])
    if not values or values[0].value == 0:
        return Detected(None, 0.0)
    return Detected(values[0].language.iso_code_639_1.name.lower(), round(values[0].value, 3))


def language_code(tag: str | None) -> str | None:
    """The ISO 639-1 code of a language tag as sources write it ('spa', 'zh-Hans', 'en_US');
    None for no tag or one that names no language."""
    import langcodes

    try:
        language = langcodes.Language.get(langcodes.standardize_tag(tag or ""))
    except (langcodes.LanguageTagError, ValueError):
        return None
    return language.language if language.language and language.is_valid() else None


def describe(article: Article, min_confidence: float) -> None:
    """Set the article's language, with a warning where it is unsure, and give it a title
    if it has none.

    The detected language wins over the declared one (a JSON `language`, `<html lang>`)
    when the detector is at least `min_confidence` sure; else the declared one is used.
    """
    detected = detect_language(article.text)
    declared = language_code(article.declared_language)
    article.language, article.language_confidence = detected.language, detected.confidence
    sure = detected.language is not None and detected.confidence >= min_confidence
    unsure = (f"the language detector is unsure: {detected.language!r} with confidence "
              f"{detected.confidence:.2f}, below sources.min_confidence ({min_confidence})")
    if declared and declared != detected.language:
        if sure:
            article.warnings.append(Notice(
                "language_mismatch", f"declared language {article.declared_language!r} but the "
                f"text reads as {detected.language!r}; using it"))
        else:
            article.language = declared
            article.warnings.append(Notice(
                "language_unsure", f"{unsure}; using the declared language {declared!r}"))
    elif detected.language and not sure and not declared:
        article.warnings.append(Notice("language_unsure", unsure))
    if not article.title:
        first = split_sentences(article.text, article.language or "en")[:1] or [article.text]
        title = first[0]
        if len(title) > DERIVED_TITLE_CHARS:
            title = title[:DERIVED_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
        article.title = title
        article.warnings.append(Notice("no_title", "the source has no title; its first "
                                       "sentence is used"))
