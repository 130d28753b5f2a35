"""The run's configuration: YAML presets in configs/, validated, overridable by env and flags.

Precedence, highest first: CLI flags, `BRIEFS_*` environment variables (nested keys joined
with `__`, e.g. `BRIEFS_BATCHING__MAX_TOKENS=4096`), the YAML file, the field defaults.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

# The presets ship as package data: found the same in a checkout and in an installed copy.
CONFIGS_DIR = Path(str(resources.files("briefs.configs")))
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the reason.

    `problems` holds one line per mistake (the message joins them), each naming where the
    value came from: the file and key, or the environment variable."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


def language_codes(value: list[str]) -> list[str]:
    """Check ISO 639 codes and drop repeats, keeping order."""
    for code in value:
        if not LANGUAGE_CODE.match(code):
            raise ValueError(f"{code!r} is not an ISO 639 language code such as 'de'")
    return list(dict.fromkeys(value))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(Strict):
    """A model: a Hugging Face hub id or a local folder, with an optional pinned revision."""

    id: str = Field(min_length=1, description="a Hugging Face hub id (`org/name`) or a local "
                    "folder")
    revision: str | None = Field(None, description="a commit, branch or tag of the hub repo; "
                                 "empty: the newest")


class TranslatorRef(ModelRef):
    """A translator, and how it is told its target language when it has several: left empty,
    both are found from its vocabulary (see tasks/generation/targets.py)."""

    input_prefix: str | None = Field(None, description="a token put before the input, e.g. "
                                     "'>>cmn_Hans<<' for Helsinki-NLP/opus-mt-en-zh")
    forced_bos_token: str | None = Field(None, description="a token forced as the first output "
                                         "token, e.g. 'zho_Hans' for NLLB-200")


class ModelsConfig(Strict):
    """The models of a run: one summarizer, a translator per target language."""

    summarizer: ModelRef
    translators: dict[str, TranslatorRef] = Field(
        description="'default' (its id may hold {lang}) and per-language overrides"
    )

    @field_validator("translators")
    @classmethod
    def _has_default(cls, value: dict[str, TranslatorRef]) -> dict[str, TranslatorRef]:
        if "default" not in value:
            raise ValueError("needs a 'default' entry, e.g. {id: 'Helsinki-NLP/opus-mt-en-{lang}'}")
        return value

    def translator(self, lang: str) -> TranslatorRef:
        """The translator for English → `lang`, with {lang} filled in."""
        ref = self.translators.get(lang, self.translators["default"])
        return ref.model_copy(update={"id": ref.id.replace("{lang}", lang)})


class SourceRoute(Strict):
    """How articles in one source language are briefed.

    pivot: `translator` turns the article into English, the summarizer summarizes it.
    summarize: `summarizer` (multilingual) summarizes in the source language; `translator`
    turns that summary into English, from which the targets are translated.
    """

    route: Literal["pivot", "summarize"] = Field("pivot", description="pivot: into English, "
                                                  "then summarize; summarize: in the source "
                                                  "language, then into English")
    translator: TranslatorRef = Field(description="into English; its id may hold {src}")
    summarizer: ModelRef | None = Field(None, description="route summarize: a multilingual "
                                        "summarizer (e.g. an mT5 fine-tuned on XL-Sum)")

    @model_validator(mode="after")
    def _summarizer_if_summarize(self) -> SourceRoute:
        if self.route == "summarize" and self.summarizer is None:
            raise ValueError("route 'summarize' needs a summarizer")
        if self.route == "pivot" and self.summarizer is not None:
            raise ValueError("route 'pivot' summarizes in English with models.summarizer; "
                             "a summarizer here needs route 'summarize'")
        return self

    def for_language(self, src: str) -> SourceRoute:
        """This route with {src} filled in."""
        def filled(ref: ModelRef | None) -> ModelRef | None:
            return ref and ref.model_copy(update={"id": ref.id.replace("{src}", src)})

        return self.model_copy(update={"translator": filled(self.translator),
                                       "summarizer": filled(self.summarizer)})


class SourcesConfig(Strict):
    """Source languages: detection, and a route for each language the summarizer cannot read."""

    routes: dict[str, SourceRoute] = Field(
        default_factory=dict, description="per source language (ISO 639-1), and 'default' for "
        "any other; a language with neither fails with the key that would add it")
    min_confidence: float = Field(0.5, ge=0, le=1, description="a detected language less "
                                  "certain than this is a warning in the brief (and a declared "
                                  "language wins)")

    @field_validator("routes")
    @classmethod
    def _route_languages(cls, value: dict[str, SourceRoute]) -> dict[str, SourceRoute]:
        language_codes([lang for lang in value if lang != "default"])
        if "en" in value:
            raise ValueError("English is summarized directly by models.summarizer; no route")
        return value

    def route(self, src: str) -> SourceRoute | None:
        """The route for articles in `src`, with {src} filled in; None when none is set."""
        route = self.routes.get(src, self.routes.get("default"))
        return route.for_language(src) if route else None


class GlossaryConfig(Strict):
    """Terms every translation must carry through: enforced by masking, then checked."""

    keep: list[str] = Field(default_factory=list, description="never translated: names, "
                            "agencies (e.g. 'KCNA', 'Kim Jong-un')")
    fixed: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="target language → {English term: its fixed "
        "translation}")

    @field_validator("fixed")
    @classmethod
    def _fixed_languages(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        language_codes(list(value))
        return value


class TranslationGeneration(Strict):
    """`generate` settings; a setting left out (null) takes the model's generation config."""

    num_beams: int | None = Field(None, ge=1, description="beam search width; 1 is greedy")
    min_new_tokens: int | None = Field(None, ge=0, description="the fewest tokens generated")
    max_new_tokens: int | None = Field(None, ge=1, description="the most tokens generated; an "
                                       "output cut there gets the max_new_tokens warning")


class SummaryGeneration(TranslationGeneration):
    """`generate` settings of summaries; null takes the model's generation config."""

    no_repeat_ngram_size: int | None = Field(None, ge=0, description="no n-gram of this size "
                                             "twice in one summary; 0: off")
    length_penalty: float | None = Field(None, description="above 1 favours longer beams, "
                                         "below 1 shorter ones")


class GenerationConfig(Strict):
    """`generate` settings of summaries and of translations."""

    summary: SummaryGeneration = SummaryGeneration()
    translation: TranslationGeneration = TranslationGeneration()


@dataclass(frozen=True)
class CallBudget:
    """What one `generate` call may hold: padded input tokens, and sequences decoded at once
    (inputs × beams; None: no bound)."""

    tokens: int
    sequences: int | None = None


# What a generate call holds when batching.max_tokens / max_sequences are empty.
CPU_CALL, CUDA_CALL = CallBudget(tokens=8192, sequences=56), CallBudget(32768, 1024)


class BatchingConfig(Strict):
    """How articles are grouped: into task runs, and into generate calls."""

    max_tokens: int | None = Field(
        None, ge=64, description="padded input tokens per generate call; empty: "
        f"{CPU_CALL.tokens} on CPU, {CUDA_CALL.tokens} on CUDA")
    max_sequences: int | None = Field(
        None, ge=1, description="sequences decoded at once per generate call (inputs × "
        f"beams); empty: {CPU_CALL.sequences} on CPU, where a larger call is slower per "
        "sequence (its decoder buffers outgrow glibc's 32 MB mmap threshold and are faulted "
        f"in afresh at every step), {CUDA_CALL.sequences} on CUDA")
    articles_per_task: int = Field(96, ge=1, description="input objects per Prefect task run "
                                   "(their summaries and titles share translation calls)")

    def budget_for(self, device: str) -> CallBudget:
        """What one `generate` call may hold on `device`."""
        default = CUDA_CALL if device.startswith("cuda") else CPU_CALL
        return CallBudget(self.max_tokens or default.tokens,
                          self.max_sequences or default.sequences)


class LimitsConfig(Strict):
    """Sizes past which an input is refused, with its reason, instead of read."""

    max_article_bytes: int = Field(2_000_000, ge=1, description="one article (a JSONL line), "
                                   "also once inflated")
    max_object_bytes: int = Field(200_000_000, ge=1, description="one input object (a JSONL "
                                  "feed), as stored and once inflated")
    max_feed_lines: int = Field(100_000, ge=1, description="lines of one JSONL feed (each "
                                "line an article)")
    max_inflate_ratio: int = Field(100, ge=1, description="inflated / compressed size of a .gz")
    min_article_words: int = Field(10, ge=1, description="shorter texts are not summarized")


class RuntimeConfig(Strict):
    """Where and how models run; none of it changes what a brief says, except the engine and
    compute type, which are recorded in every brief and in its reuse keys."""

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="auto: the first CUDA device when there is one, else cpu")
    engine: Literal["auto", "transformers", "ctranslate2"] = Field(
        "auto", description="auto: CTranslate2 where it is installed (the ct2 extra) and "
        "converts the model's architecture (models.engines.CT2_ARCHITECTURES), else transformers")
    compute_type: Literal["auto", "float32", "int8", "int8_float32", "float16", "bfloat16",
                          "int8_float16"] = Field(
        "auto", description="auto: the fastest measured for the device (CTranslate2), float32 "
        "on CPU and float16/bfloat16 on CUDA (transformers)")
    malloc_arenas: int | None = Field(
        2, ge=1, description="glibc malloc arenas of the process that loads the models (each "
        "thread's own arena keeps what it freed, so RSS climbs with the threads); empty: "
        "glibc's default of 8 per core; a MALLOC_ARENA_MAX in the environment wins")


class StorageConfig(Strict):
    """How S3 is reached: credentials and timeouts."""

    aws_credentials_block: str | None = Field(
        None, description="name of a Prefect AwsCredentials block for S3 (endpoint in its "
        "aws_client_parameters); empty means boto3's own chain")
    read_timeout_seconds: float = Field(
        60, gt=0, description="S3: seconds to wait for an answer before botocore retries")
    connect_timeout_seconds: float = Field(
        10, gt=0, description="S3: seconds to wait for a connection before botocore retries")
    allowed_sources: list[str] = Field(
        default_factory=list, description="URI prefixes a run may read from (`{date}` is any "
        "night, `*` any characters within a segment), e.g. [\"s3://news-in/{date}/\"]; "
        "checked before the run starts; empty: a deployment's run only its deployment's own "
        "source, a command-line run any")
    allowed_dests: list[str] = Field(
        default_factory=list, description="URI prefixes a run may write to, as "
        "allowed_sources; empty: a deployment's run only its deployment's own dest, a "
        "command-line run any")


class AlertsConfig(Strict):
    """The nightly alert, and how many failed articles a run may have."""

    notification_block: str | None = Field(
        None, description="'<block-type>/<name>' of a Prefect notification block, e.g. "
        "'custom-webhook/briefs-alerts'; the nightly alert automation sends it")
    max_failed_share: float = Field(
        0.05, ge=0, le=1, description="above this share of failed articles the run ends "
        "Failed (and alerts); at or below it the run completes and emits briefs.run.partial")
    min_objects: int = Field(
        1, ge=0, description="a night with fewer objects under its source fails at once (the "
        "pre-flight check), naming where it looked; 0 lets an empty night complete")


class TimeoutsConfig(Strict):
    """Time limits, so one hung step cannot hold every later night (one run at a time)."""

    run_seconds: int = Field(6 * 3600, ge=1, description="the whole run; batches not started "
                             "by then fail with this reason and the run ends TimedOut")
    load_models_seconds: int = Field(1800, ge=1, description="loading (or downloading) models")
    generate_seconds: int = Field(3600, ge=1, description="one summarize or translate task "
                                  "run (one batch)")


class ScaleConfig(Strict):
    """Fan-out of one night over child runs of the shard deployment, run by work pool workers."""

    shard_articles: int = Field(200, ge=1, description="input objects per shard")
    shard_bytes: int = Field(2_000_000_000, ge=1, description="stored bytes per shard at most "
                             "(an object larger than this is a shard of its own)")
    max_in_flight: int = Field(4, ge=1, description="shard runs running or waiting at once")
    shard_retries: int = Field(2, ge=0, description="a shard run that crashed, failed or "
                               "stalled is submitted again this many times")
    shard_start_timeout_seconds: int = Field(1800, ge=1, description="a shard run no worker "
                                             "started this long after it was submitted is "
                                             "cancelled and submitted again")
    shard_timeout_seconds: int = Field(7200, ge=1, description="a shard run not finished this "
                                       "long after it started is cancelled and submitted again")
    shard_deployment: str = Field("briefs-shard/shard", pattern=r"^[^/]+/[^/]+$",
                                  description="'<flow>/<deployment>' that runs one shard (the "
                                  "warm workers' one keeps the models loaded: "
                                  "docs/scaling.md#warm-workers)")
    shards: int | None = Field(None, ge=1, description="cut every run into this many shards, "
                               "wherever it runs (`briefs run --shards N`); empty: a run from a "
                               "deployment fans out when it has more than shard_articles objects")


class WindowConfig(Strict):
    """The night's window (docs/operating.md#the-window): when its briefs must be written."""

    finish_by: str | None = Field(
        None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM in the schedule's "
        "timezone on the morning after the night, e.g. 06:00: the run forecasts its finish "
        "against it before it starts and as objects finish, sizes its fan-out to fit, and "
        "emits briefs.run.late when a forecast misses; empty: no window")


class ScheduleConfig(Strict):
    """The nightly schedule (the nightly deployment's, flows/deployments.py); its timezone is
    also the one a run's `{date}` (yesterday) is taken in."""

    cron: str = Field("0 2 * * *", description="when the nightly run starts (cron, local time)")
    timezone: str = Field("Europe/Berlin", description="IANA name of the schedule's timezone")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as "
                             "'Europe/Berlin'") from None
        return value


class GuardsConfig(Strict):
    """Output guards (tasks/quality/guards.py): each finding is a warning in the brief, by code."""

    fail_on: list[str] = Field(default_factory=list, description="warning codes that fail the "
                               "article instead (see docs/guards.md), e.g. [empty_output, "
                               "repetition]")

    @field_validator("fail_on")
    @classmethod
    def _known_codes(cls, value: list[str]) -> list[str]:
        from briefs.tasks.quality.codes import known_codes  # the registry of codes

        return known_codes(value)


class DeliveryConfig(Strict):
    """After a night's run, a short message per language through Prefect notification blocks."""

    notification_blocks: list[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")]] = Field(
        default_factory=list, description="'<block-type>/<name>' of Prefect notification "
        "blocks (email-server-credentials for SMTP e-mail, slack-webhook, apprise, "
        "custom-webhook...); empty: no delivery")
    link_expiry_seconds: int = Field(7 * 24 * 3600, ge=60, le=7 * 24 * 3600, description=(
        "lifetime of the presigned S3 link to each digest (SigV4 allows a week at most)"))
    retries: int = Field(3, ge=0, description="a failed delivery is tried again this many "
                         "times, then recorded in the manifest; it never fails the briefs")
    retry_delay_seconds: float = Field(10, ge=0, description="the wait before a failed "
                                       "message is sent again")
    max_seconds: float = Field(300, gt=0, description="delivery's time in all: a message not "
                               "sent by then is recorded as failed, so a dead server cannot "
                               "hold the run's end (SMTP waits 30 s per operation)")
    email_to: list[str] = Field(default_factory=list, description="recipients of the e-mail "
                                "sent through each email-server-credentials block")
    email_from: str | None = Field(None, description="the e-mail's sender; empty: the "
                                   "block's username")

    @model_validator(mode="after")
    def _recipients_for_email(self) -> DeliveryConfig:
        if not self.email_to and any(ref.split("/")[0] == "email-server-credentials"
                                     for ref in self.notification_blocks):
            raise ValueError("an email-server-credentials block needs delivery.email_to "
                             "(the recipients)")
        return self


class ReviewConfig(Strict):
    """Review hold (docs/delivery.md#review-hold): a night whose briefs carry any of these
    warning codes waits, paused, for an editor to approve or drop them before delivery."""

    hold_on: list[str] = Field(default_factory=list, description="warning codes that hold "
                               "the night's delivery for review (see docs/guards.md), e.g. "
                               "[unsupported_numbers, wrong_language]: the run pauses after "
                               "writing its digests, and the Prefect UI lists the briefs with "
                               "these codes to be delivered or dropped; empty: no review "
                               "(nor is there one without delivery.notification_blocks)")
    timeout_seconds: int = Field(4 * 3600, ge=1, description="how long a held run waits for "
                                 "the review; then review.on_timeout decides")
    on_timeout: Literal["deliver", "hold"] = Field(
        "deliver", description="when nobody reviewed in time: deliver (everything, held "
        "briefs included) or hold (deliver nothing; the manifest records it)")

    @field_validator("hold_on")
    @classmethod
    def _known_codes(cls, value: list[str]) -> list[str]:
        from briefs.tasks.quality.codes import known_codes  # the registry of codes

        return list(dict.fromkeys(known_codes(value)))


class BriefsConfig(BaseSettings):
    """Everything a run depends on; its hash goes into every brief."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="BRIEFS_", env_nested_delimiter="__",
    )

    languages: Annotated[list[str], NoDecode] = Field(
        ["de", "fr", "es"], min_length=1, description="target languages of every brief")
    models: ModelsConfig
    generation: GenerationConfig = GenerationConfig()
    batching: BatchingConfig = BatchingConfig()
    limits: LimitsConfig = LimitsConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    alerts: AlertsConfig = AlertsConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    storage: StorageConfig = StorageConfig()
    scale: ScaleConfig = ScaleConfig()
    sources: SourcesConfig = SourcesConfig()
    glossary: GlossaryConfig = GlossaryConfig()
    guards: GuardsConfig = GuardsConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    review: ReviewConfig = ReviewConfig()
    window: WindowConfig = WindowConfig()

    @field_validator("languages", mode="before")
    @classmethod
    def _split_languages(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        return language_codes(value)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # environment beats the YAML file

    def config_hash(self) -> str:
        """Stable hash of the effective configuration, but for `scale`, `delivery`,
        `review` and `window` (how a run is spread over workers, who hears of it, what waits
        for an editor and when it must end change no brief)."""
        canonical = json.dumps(self.model_dump(mode="json",
                                               exclude={"scale", "delivery", "review",
                                                        "window"}),
                               sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def preset_path(name: str) -> Path:
    """The YAML file of a preset (`default`, `tiny`); a name that looks like a path and is
    no folder is said to be a missing model folder, not an unknown preset."""
    candidate = CONFIGS_DIR / f"{name}.yaml"
    if candidate.is_file():
        return candidate
    known = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
    if "/" in name or "\\" in name or name.startswith((".", "~")):
        folder = Path(name).expanduser().resolve()
        raise ConfigError(f"--models {name}: no such model folder ({folder}); give a folder "
                          f"holding a model's config.json, or a preset: {known}")
    raise ConfigError(f"unknown model preset {name!r}; presets: {known} (or a local model "
                      "folder)")


def config_path(models: str | None = None, config_file: str | Path | None = None) -> Path:
    """The YAML file a run's configuration comes from: `config_file`, else the preset."""
    if config_file:
        return Path(config_file)
    return preset_path(models if models and not Path(models).is_dir() else "default")


def environment_variable(loc: tuple[str, ...]) -> str | None:
    """The `BRIEFS_*` variable that set the value at `loc` (or a mapping above it), if any:
    it beats the file, so a bad value there came from it."""
    names = {name.upper(): name for name in os.environ}
    for depth in range(len(loc), 0, -1):
        wanted = "BRIEFS_" + "__".join(loc[:depth]).upper()
        if wanted in names:
            return names[wanted]
    return None


def value_origin(loc: tuple[str, ...], path: Path) -> str:
    """Where the value at `loc` came from: its environment variable, else the file."""
    return environment_variable(loc) or str(path)


def _model_at(loc: tuple[str, ...]) -> type[BaseModel] | None:
    """The settings model that holds the key at the end of `loc` (None: not a model)."""
    current: Any = BriefsConfig
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]  # `part` is a key of the mapping
        else:
            return None
        while get_origin(current) in (Union, UnionType):  # an optional model
            current = next(a for a in get_args(current) if a is not type(None))
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _problem(error: Any, path: Path) -> str:
    """One validation error as a line: where the value came from, its key, what is wrong."""
    loc = tuple(str(part) for part in error["loc"])
    key, message = ".".join(loc) or "(top)", error["msg"]
    variable = environment_variable(loc)
    if error["type"] == "extra_forbidden" and loc:
        model = _model_at(loc[:-1])
        close = difflib.get_close_matches(loc[-1], list(model.model_fields) if model else [],
                                          n=1)
        message = "not a setting"
        if close:
            fixed = ".".join((*loc[:-1], close[0]))
            message += (f"; did you mean BRIEFS_{fixed.replace('.', '__').upper()}?"
                        if variable else f"; did you mean {fixed}?")
    if variable:
        return f"invalid environment variable {variable}: {key}: {message}"
    return f"invalid configuration {path}: {key}: {message}"


def load_config(
    models: str | None = None, config_file: str | Path | None = None,
    languages: list[str] | None = None,
) -> BriefsConfig:
    """Load a preset or file, apply environment and flag overrides, and validate.

    `models` is a preset name (`default`, `tiny`) or a model folder used as summarizer and,
    unless the file says otherwise, left alone for translators.
    """
    path = config_path(models, config_file)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if models and Path(models).is_dir():
        raw.setdefault("models", {})["summarizer"] = {"id": str(Path(models).resolve())}
    try:
        config = BriefsConfig(**raw)
        if languages:  # flags beat the environment
            config = config.model_copy(update={"languages": language_codes(languages)})
        return config
    except ValidationError as exc:
        problems = [_problem(error, path) for error in exc.errors()]
        raise ConfigError("; ".join(problems), problems) from None
    except SettingsError as exc:
        raise ConfigError(f"invalid BRIEFS_* environment variable: {exc}") from None
    except ValueError as exc:  # a bad language flag
        raise ConfigError(f"languages: {exc}") from None
