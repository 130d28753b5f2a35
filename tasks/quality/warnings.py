"""Warnings on a brief: a code that people, the manifest and the summary artifact count by,
and a detail that says what was seen. `guards.fail_on` turns chosen codes into failures."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from briefs.tasks.generation.targets import ENGLISH
from briefs.tasks.quality import codes

# code → meaning, derived from the registry of codes (tasks/quality/codes.py): add codes there
CODES: dict[str, str] = codes.CODES


@dataclass(frozen=True)
class Notice:
    """One warning on a brief."""

    code: str
    detail: str

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown warning code {self.code!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail}


def glossary_lost(terms: list[str], language: str) -> list[Notice]:
    """A notice per glossary term that a translation into `language` lost."""
    return [Notice("glossary_lost", f"{term!r} did not come through the translation into "
                                    f"{language!r}") for term in dict.fromkeys(terms)]


def step_record(key: str, notices: list[Notice]) -> dict[str, Any]:
    """A brief's record of one step: its reuse key and the warnings on its output, kept with
    the step so that a reused step keeps them."""
    return {"key": key, **({"warnings": [n.as_dict() for n in notices]} if notices else {})}


def step_notices(steps: dict[str, Any]) -> list[Notice]:
    """The warnings kept with a brief's steps: the summary's, then each translation's (a
    brief written before warnings had codes kept its glossary losses as `lost_terms`)."""
    notices = []
    for lang, record in [(ENGLISH, steps.get("summary") or {}),
                         *(steps.get("translations") or {}).items()]:
        notices += [as_notice(w) for w in record.get("warnings", [])]
        notices += glossary_lost(record.get("lost_terms", []), lang)
    return notices


def as_notice(warning: dict[str, Any] | str) -> Notice:
    """A warning as a brief records it (`{"code", "detail"}`, or a plain string in a brief
    written before warnings had codes)."""
    if isinstance(warning, str) or warning.get("code") not in CODES:
        return Notice("uncoded", str(warning if isinstance(warning, str)
                                     else warning.get("detail", warning)))
    return Notice(warning["code"], str(warning.get("detail", "")))


def count_by_code(warnings: list[dict[str, Any] | str]) -> dict[str, int]:
    """How many warnings of each code, as the manifest and the summary artifact show them."""
    return dict(sorted(Counter(as_notice(w).code for w in warnings).items()))
