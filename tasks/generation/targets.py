"""The target languages briefs offers, and how each kind of translator is told to produce one.

One place for these facts: the Prefect UI's form offers exactly `TARGETS`, and a translator's
target token is found here from what its vocabulary holds, unless the config names one.
- Multi-target OPUS-MT models (`opus-mt-en-zh`, `opus-mt-en-ROMANCE`, `opus-mt-tc-big-*`) read
  a token such as `>>cmn_Hans<<` at the start of the input.
- NLLB-200 and M2M100 read the target as a forced first generated token (`zho_Hans`, `__zh__`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TargetLanguage:
    code: str  # ISO 639-1, as in config and briefs
    name: str
    opus_tokens: tuple[str, ...]  # multi-target OPUS-MT input tokens, the preferred first
    nllb: str  # NLLB-200's FLORES-200 code

    @property
    def m2m100(self) -> str:
        return f"__{self.code}__"


TARGETS: dict[str, TargetLanguage] = {t.code: t for t in (
    TargetLanguage("de", "German", (">>deu<<", ">>de<<"), "deu_Latn"),
    TargetLanguage("es", "Spanish", (">>spa<<", ">>es<<"), "spa_Latn"),
    TargetLanguage("fr", "French", (">>fra<<", ">>fr<<"), "fra_Latn"),
    TargetLanguage("it", "Italian", (">>ita<<", ">>it<<"), "ita_Latn"),
    TargetLanguage("nl", "Dutch", (">>nld<<", ">>nl<<"), "nld_Latn"),
    TargetLanguage("ro", "Romanian", (">>ron<<", ">>ro<<"), "ron_Latn"),
    TargetLanguage("ru", "Russian", (">>rus<<", ">>ru<<"), "rus_Cyrl"),
    TargetLanguage("zh", "Chinese (simplified)", (">>cmn_Hans<<", ">>zho_Hans<<", ">>zh<<"),
                   "zho_Hans"),
)}
SUPPORTED_LANGUAGES = tuple(TARGETS)  # offered in the UI's run form
# English: the language the summarizer reads, and so the target of every route's translator.
ENGLISH = "en"
ENGLISH_TARGET = TargetLanguage(ENGLISH, "English", (">>eng<<", ">>en<<"), "eng_Latn")


@dataclass(frozen=True)
class TargetTokens:
    """How a translator is told its target: a token before the input, a forced first token."""

    input_prefix: str | None = None
    forced_bos_token: str | None = None

    def as_settings(self) -> dict[str, str]:
        """The tokens as recorded with a translation's settings (and in its reuse key)."""
        return {name: value for name, value in (("input_prefix", self.input_prefix),
                                                ("forced_bos_token", self.forced_bos_token))
                if value}


class NoTargetToken(ValueError):
    """A multilingual translator for which no target token is configured or known."""


def target_tokens(lang: str, vocabulary: set[str] | dict[str, Any], model_id: str,
                  config_key: str, input_prefix: str | None = None,
                  forced_bos_token: str | None = None) -> TargetTokens:
    """The target tokens of the translator `model_id` into `lang`.

    Tokens set in config win; else they are found from the model's vocabulary: an NLLB or
    M2M100 language code is forced first, a `>>xx<<` token of a multi-target OPUS-MT model is
    put before the input, and a single-target model needs neither.
    """
    if input_prefix or forced_bos_token:
        for token in (input_prefix, forced_bos_token):
            if token and token not in vocabulary:
                raise NoTargetToken(f"translator {model_id!r}: the configured target token "
                                    f"{token!r} is not in its vocabulary")
        return TargetTokens(input_prefix, forced_bos_token)
    target = ENGLISH_TARGET if lang == ENGLISH else TARGETS.get(lang)
    multi_target = any(t.startswith(">>") and t.endswith("<<") for t in vocabulary)
    if target is not None:
        for code in (target.nllb, target.m2m100):
            if code in vocabulary:
                return TargetTokens(forced_bos_token=code)
        if multi_target:
            for token in target.opus_tokens:
                if token in vocabulary:
                    return TargetTokens(input_prefix=token)
    if multi_target:
        raise NoTargetToken(f"translator {model_id!r} is multi-target but has no known token "
                            f"for {lang!r}; set {config_key}.input_prefix (e.g. '>>{lang}<<')")
    return TargetTokens()
