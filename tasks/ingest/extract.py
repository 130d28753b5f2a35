"""What the pipeline sees of an input file: `briefs extract` prints it, for people debugging
a source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from briefs.tasks.core.config import LimitsConfig
from briefs.tasks.core.records import Article
from briefs.tasks.ingest.articles import RawObject, parse_object
from briefs.tasks.ingest.source_language import describe


def extract_file(path: Path, limits: LimitsConfig, min_confidence: float
                 ) -> list[dict[str, Any]]:
    """One record per article in the file (a JSONL feed has several), parsed and described
    exactly as a run does it; an article that fails has `error` with the reason instead."""
    raw = RawObject(path.name, path.resolve().as_uri(), path.read_bytes())
    records = []
    for item in parse_object(raw, limits):
        if not isinstance(item, Article):
            records.append({"path": str(path), "source": item.uri, "error": item.reason})
            continue
        describe(item, min_confidence)
        records.append({"path": str(path), "title": item.title, "text": item.text,
                        "language": item.language, "url": item.url,
                        "published": item.published, "source": item.source.uri,
                        "language_confidence": item.language_confidence,
                        "warnings": [n.as_dict() for n in item.warnings]})
    return records
