"""No pattern the pipeline runs over article text, model output, log records or keys
backtracks catastrophically: each, on crafted strings of 100 KB, takes well under a second."""

from __future__ import annotations

import re
import time
from types import ModuleType

import pytest
import regex

from briefs.tasks import delivery
from briefs.tasks.core import config, log_redaction
from briefs.tasks.generation import glossary
from briefs.tasks.ingest import text
from briefs.tasks.models import loading, tiny
from briefs.tasks.output import digest, storage
from briefs.tasks.quality import guards, token_limit

SIZE = 100_000
UNITS = ["a", "A", "1", "1,", "1.", "1 ", "A-", "a'", "A a ", " ", "\n", "\n ", " \n", ".",
         ". ", "\"'", "#", "- ", "Ab1-'. ", "Credential=", "Signature ", "key=", "ZQ1", "x://",
         "a@", "金", "-", "_", "a.", "%"]
ADVERSARIAL = {repr(unit): (unit * (SIZE // len(unit) + 1))[:SIZE] + "!" for unit in UNITS}
MODULES: list[ModuleType] = [guards, token_limit, glossary, text, digest, storage, loading,
                             tiny, config, delivery, log_redaction]


def patterns() -> dict[str, re.Pattern | regex.Pattern]:
    """Every compiled pattern at the top of those modules, the redaction patterns, and the
    glossary's matchers as a run builds them."""
    found = {f"{m.__name__.rsplit('.', 1)[-1]}.{name}": value
             for m in MODULES for name, value in vars(m).items()
             if isinstance(value, (re.Pattern, regex.Pattern))}
    found |= {f"log_redaction._SECRETS[{i}]": p for i, p in enumerate(log_redaction._SECRETS)}
    found["glossary matcher"] = glossary._matcher(["KCNA", "European Union", "a a", "1,1"])
    found["glossary placeholders"] = glossary._placeholders("ZQ")
    return found


def test_the_patterns_are_found():
    names = set(patterns())
    assert {"guards.NUMBER", "guards.NAME_OR_NUMBER", "text.SENTENCE_END",
            "log_redaction._SECRETS[0]", "delivery._URL", "glossary matcher"} <= names


@pytest.mark.parametrize("name", sorted(patterns()))
def test_a_pattern_stays_linear_on_crafted_input(name: str):
    pattern = patterns()[name]
    slowest, worst = 0.0, ""
    for label, crafted in ADVERSARIAL.items():
        start = time.perf_counter()
        pattern.findall(crafted)
        pattern.sub("", crafted)
        if (took := time.perf_counter() - start) > slowest:
            slowest, worst = took, label
    assert slowest < 1.0, f"{name} took {slowest:.2f} s on 100 KB of {worst}"
