"""Source-language detection, offline (lingua's bundled models), with lingua's confidence."""

from __future__ import annotations

import functools
from dataclasses import dataclass

SAMPLE_CHARS = 2000  # the start of an article is plenty to tell its language


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
