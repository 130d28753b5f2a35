"""The records that travel through a run: articles, failures, briefs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from briefs.tasks.quality.warnings import Notice


@dataclass(frozen=True)
class Source:
    """Where an article came from: enough to find it again and to know it is unchanged."""

    uri: str
    key: str
    format: str
    sha256: str
    etag: str | None = None
    line: int | None = None  # 1-based, JSONL only

    def as_dict(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass
class Article:
    article_id: str
    source: Source
    title: str
    text: str
    language: str | None = None  # detected ISO 639-1 code
    language_confidence: float = 0.0  # the detector's confidence in it
    declared_language: str | None = None
    url: str | None = None
    published: str | None = None
    warnings: list[Notice] = field(default_factory=list)
    parse_ms: int = 0


@dataclass(frozen=True)
class Failure:
    """An article (or input object) that got no brief, and the reason a person can act on."""

    article_id: str
    uri: str
    reason: str
    status: str = "failed"  # or "skipped"

    @classmethod
    def of(cls, article: Article, reason: str) -> Failure:
        """The failure of one article, and why."""
        return cls(article.article_id, article.source.uri, reason)

    def manifest_entry(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "source": self.uri, "status": self.status,
                "reason": self.reason}


@dataclass
class Brief:
    article: Article
    summary: str = ""
    chunks: int = 0
    titles: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, int] = field(default_factory=dict)
    warnings: list[Notice] = field(default_factory=list)
    generation: dict[str, dict[str, Any]] = field(default_factory=dict)  # step → settings used
    # step → {"key", and once written "run_id", "created_at"}; translations under "translations"
    steps: dict[str, Any] = field(default_factory=dict)
    route: dict[str, Any] = field(default_factory=dict)  # direct, pivot or summarize; its models
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # the route's models

    @property
    def article_id(self) -> str:
        return self.article.article_id

    def note_random_weights(self, model: Any) -> None:
        """Say in the brief itself when a model's (a `LoadedModel`) output cannot be trusted."""
        notice = Notice("random_weights", f"{model.model_id} has random weights: its output "
                        "is gibberish, for tests only")
        if model.random_weights and notice not in self.warnings:
            self.warnings.append(notice)
