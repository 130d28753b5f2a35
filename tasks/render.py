"""Output documents: brief JSON, per-language digests (Markdown, escaped HTML), manifest."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from tasks.config import BriefsConfig
from tasks.languages import ENGLISH
from tasks.records import Article, Brief, Failure


def to_json_bytes(document: Any) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def source_record(article: Article) -> dict[str, Any]:
    """Where a brief's article came from, as recorded in the brief."""
    source = article.source.as_dict()
    if article.url:
        source["url"] = article.url
    if article.published:
        source["published"] = article.published
    return source


def brief_document(brief: Brief, config: BriefsConfig, models: dict[str, dict[str, Any]],
                   run_id: str) -> dict[str, Any]:
    """The JSON written to `briefs/<article_id>.json`.

    `steps` holds each step's reuse key and the run that made it: steps made now get
    `run_id` and the time; steps reused from an earlier brief keep theirs.
    """
    article = brief.article
    created_at = now_iso()
    made_now = {"run_id": run_id, "created_at": created_at}
    steps: dict[str, Any] = {"summary": {**made_now, **brief.steps.get("summary", {})}}
    steps["translations"] = {lang: {**made_now, **step}
                             for lang, step in brief.steps.get("translations", {}).items()}
    return {
        "article_id": article.article_id,
        "source": source_record(article),
        "title": brief.titles,
        "source_language": article.language,
        "route": brief.route,
        "summaries": brief.summaries,
        "chunks": brief.chunks,
        "truncated": False,  # inputs are chunked, never cut; an input that cannot fit fails
        "models": models_used(brief, models),
        "generation": brief.generation,
        "steps": steps,
        "config_hash": config.config_hash(),
        "created_at": created_at,
        "timings_ms": brief.timings_ms,
        "warnings": [*brief.warnings, *glossary_warnings(steps)],
    }


def models_used(brief: Brief, run_models: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, Any]]:
    """The run's models that made this brief, and its route's: a brief summarised by its
    route's multilingual summariser does not name the English one."""
    skip = {"summarizer"} if brief.route.get("name") == "summarise" else set()
    return {role: model for role, model in run_models.items() if role not in skip} | brief.models


def glossary_warnings(steps: dict[str, Any]) -> list[str]:
    """A warning per glossary term a step lost: the pivot into English (the summary step)
    and each translation. Kept with the steps, so a reused step keeps its warnings."""
    lost = [(ENGLISH, term) for term in steps.get("summary", {}).get("lost_terms", [])]
    lost += [(lang, term) for lang, step in steps.get("translations", {}).items()
             for term in step.get("lost_terms", [])]
    return [f"glossary: {term!r} did not come through the translation into {lang!r}"
            for lang, term in lost]


def digest_markdown(lang: str, briefs: list[dict[str, Any]], run_id: str) -> str:
    """Every brief of the run (brief documents) in one language, as Markdown."""
    lines = [f"# Briefs ({lang})", "", f"Run {run_id}, {len(briefs)} briefs.", ""]
    for brief in briefs:
        title = brief["title"].get(lang, "").replace("\n", " ")
        source = markdown_escape(brief["source"]["uri"])
        lines += [f"## {markdown_escape(title)}", "",
                  markdown_escape(brief["summaries"].get(lang, "")), "",
                  f"<sub>{brief['article_id']} · {source}</sub>", ""]
    return "\n".join(lines)


def markdown_escape(text: str) -> str:
    """Neutralise Markdown and raw HTML in article text."""
    return html.escape(text, quote=False).replace("\\", "\\\\").replace("*", "\\*").replace(
        "_", "\\_").replace("#", "\\#").replace("[", "\\[").replace("`", "\\`")


def digest_html(lang: str, briefs: list[dict[str, Any]], run_id: str) -> str:
    """Every brief of the run in one language, as a standalone HTML page; all text escaped."""
    esc = html.escape
    items = "\n".join(
        f'<article id="{esc(b["article_id"])}"><h2>{esc(b["title"].get(lang, ""))}</h2>\n'
        f"<p>{esc(b['summaries'].get(lang, ''))}</p>\n"
        f"<p class=\"source\">{esc(b['source']['uri'])}</p></article>"
        for b in briefs
    )
    return (f'<!doctype html>\n<html lang="{esc(lang)}"><head><meta charset="utf-8">'
            f"<title>Briefs ({esc(lang)})</title></head>\n<body>\n<h1>Briefs ({esc(lang)})</h1>\n"
            f"<p>Run {esc(run_id)}, {len(briefs)} briefs.</p>\n{items}\n</body></html>\n")


def manifest_document(run_id: str, started_at: str, parameters: dict[str, Any],
                      written: list[dict[str, Any]], unbriefed: list[Failure],
                      timings: dict[str, float]) -> dict[str, Any]:
    """The run's manifest: parameters, counts, timings, one entry per article or object."""
    entries = [{"article_id": b["article_id"], "source": b["source"]["uri"],
                "status": "succeeded", **_reused_steps(b, run_id)} for b in written]
    entries += [f.manifest_entry() for f in unbriefed]
    entries.sort(key=lambda e: e["source"])
    statuses = [e["status"] for e in entries]
    return {
        "run_id": run_id,
        "started_at": started_at,
        "ended_at": now_iso(),
        "parameters": parameters,
        "counts": {"total": len(entries), "succeeded": statuses.count("succeeded"),
                   "failed": statuses.count("failed"), "skipped": statuses.count("skipped")},
        "timings": timings,
        "articles": entries,
    }


def step_runs(brief: dict[str, Any]) -> dict[str, str | None]:
    """Step ("summary" or a language) → the run that made it, as a brief records them."""
    steps = brief.get("steps") or {}
    made = {"summary": (steps.get("summary") or {}).get("run_id")}
    made.update({lang: step.get("run_id") if isinstance(step, dict) else None
                 for lang, step in (steps.get("translations") or {}).items()})
    return made


def _reused_steps(brief: dict[str, Any], run_id: str) -> dict[str, list[str]]:
    """`{"reused": [...]}` naming the steps an earlier run made (summary, languages), if any."""
    reused = [step for step, made_by in step_runs(brief).items() if made_by != run_id]
    return {"reused": reused} if reused else {}
