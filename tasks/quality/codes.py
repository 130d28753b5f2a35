"""Every warning code, in one place: its plain-language meaning and what raises it.

`warnings.CODES` (code → meaning), config validation of `guards.fail_on`, the summary
artifact's "what it means" column and the output guards' registry (`guards.GUARDS`, which
must have one guard per code raised by `OUTPUT_GUARD`) all read `REGISTRY`. This module
imports nothing from briefs, so `tasks/core/config.py` and `tasks/quality/warnings.py` can
both import it without a cycle (the guards import `warnings.Notice`, so the registry of
meanings cannot live with the guards' checks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OUTPUT_GUARD = "output guard"  # tasks/quality/guards.py: reads a finished output, never changes it


@dataclass(frozen=True)
class WarningCode:
    """One warning code: what people, the manifest and the summary artifact count by."""

    code: str
    meaning: str  # plain language, shown next to the code's count
    raised_by: str  # what raises it: `OUTPUT_GUARD`, or the part of the run that does


# In the order the codes are listed (config errors, docs); the guards run in `guards.GUARDS`'s.
REGISTRY: tuple[WarningCode, ...] = (
    # what the input or the run itself says
    WarningCode("random_weights", "a model has random weights: its output is gibberish "
                "(tests only)", "model loading (tasks/core/records.py)"),
    WarningCode("no_title", "the source has no title; its first sentence is used",
                "ingest (tasks/ingest/source_language.py)"),
    WarningCode("language_unsure", "the language detector is unsure of the source language",
                "language detection (tasks/ingest/source_language.py)"),
    WarningCode("language_mismatch", "the declared language differs from the detected one",
                "language detection (tasks/ingest/source_language.py)"),
    WarningCode("glossary_lost", "a glossary term did not come through a translation",
                "the glossary (tasks/quality/warnings.py glossary_lost)"),
    WarningCode("control_characters", "the model's output held control or non-printing "
                "characters; they were removed", "cleaning the output "
                "(tasks/quality/cleaning.py)"),
    # output guards
    WarningCode("empty_output", "a summary or translation is empty or only whitespace",
                OUTPUT_GUARD),
    WarningCode("repetition", "a summary or translation repeats an n-gram in a loop",
                OUTPUT_GUARD),
    WarningCode("longer_than_input", "a summary is longer than the article it summarizes",
                OUTPUT_GUARD),
    WarningCode("max_new_tokens", "a summary or translation stopped at max_new_tokens, "
                "mid-sentence", OUTPUT_GUARD),
    WarningCode("unsupported_numbers", "the summary has numbers that are not in the article",
                OUTPUT_GUARD),
    WarningCode("unsupported_entities", "the summary names people, places or organisations "
                "the article does not", OUTPUT_GUARD),
    WarningCode("wrong_language", "a summary or translation is not in the language it should "
                "be", OUTPUT_GUARD),
    # briefs written by older versions
    WarningCode("uncoded", "a warning of a brief written before warnings had codes",
                "reading an old brief (tasks/quality/warnings.py as_notice)"),
)

CODES: dict[str, str] = {entry.code: entry.meaning for entry in REGISTRY}
GUARD_CODES: tuple[str, ...] = tuple(e.code for e in REGISTRY if e.raised_by == OUTPUT_GUARD)


def known_codes(names: Iterable[str]) -> list[str]:
    """`names`, refused (ValueError naming them and listing the known codes) when any is not
    a registered warning code."""
    names = list(names)
    if unknown := sorted(set(names) - set(CODES)):
        raise ValueError(f"unknown warning codes {unknown}; known: {', '.join(CODES)}")
    return names


def _unique(registry: tuple[WarningCode, ...]) -> None:
    """Refuse a registry with a code twice or a code without a meaning."""
    if len(CODES) != len(registry):
        raise RuntimeError("a warning code is registered twice")
    if blank := [entry.code for entry in registry if not entry.meaning.strip()]:
        raise RuntimeError(f"warning codes without a meaning: {blank}")


_unique(REGISTRY)
