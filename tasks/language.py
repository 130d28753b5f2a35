"""Source-language detection, offline (lingua's bundled models)."""

from __future__ import annotations

import functools

SAMPLE_CHARS = 2000  # the start of an article is plenty to tell its language


@functools.cache
def _detector():
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when it cannot be told."""
    language = _detector().detect_language_of(text[:SAMPLE_CHARS])
    if language is None:
        return None
    return language.iso_code_639_1.name.lower()
