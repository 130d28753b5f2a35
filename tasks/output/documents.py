"""Output documents: brief JSON, per-language digests (Markdown, escaped HTML), manifest."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any
from urllib.parse import quote

import jinja2

from briefs.tasks.core.config import BriefsConfig
from briefs.tasks.core.records import Article, Brief, Failure
from briefs.tasks.output.digest import (
    DigestEntry,
    DigestItem,
    Night,
    counted,
    entries_in,
    language_name,
    night_facts,
    night_of_entries,
    warning_counts,
)
from briefs.tasks.quality.warnings import as_notice, count_by_code, step_notices


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
        "warnings": [n.as_dict() for n in [*brief.warnings, *step_notices(steps)]],
    }


def models_used(brief: Brief, run_models: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, Any]]:
    """The run's models that made this brief, and its route's: a brief summarized by its
    route's multilingual summarizer does not name the English one."""
    skip = {"summarizer"} if brief.route.get("name") == "summarize" else set()
    return {role: model for role, model in run_models.items() if role not in skip} | brief.models


def digest_markdown(lang: str, entries: Sequence[DigestEntry], run_id: str,
                    languages: Sequence[str] = (), night: Night | None = None) -> str:
    """The digest for `lang` as Markdown: the night (`night`, else what the briefs tell of
    it) and its warnings counted by code at the top, then the run's entries
    (`digest.digest_entries`) that have that language under their outlet, each with its
    warnings on one line, links to the other languages' digests (`languages`: every digest
    language of the run) and the run's id at the foot. Article text is escaped."""
    shown = entries_in(entries, lang)
    lines = _markdown_top(lang, shown, night or night_of_entries(entries), languages)
    for outlet, group in groupby(shown, key=lambda e: e.lead.outlet):
        lines += [f"## {markdown_escape(outlet)}", ""]
        for entry in group:
            lines += _markdown_entry(entry, lang)
    lines += ["---", "", f"Run {markdown_escape(run_id)}", ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))  # one blank line between blocks


def _markdown_top(lang: str, shown: list[DigestEntry], night: Night,
                  languages: Sequence[str]) -> list[str]:
    """The heading: the night, the language and counts, the language links, the warnings."""
    when = night.date_text()
    lines = [f"# {markdown_escape(f'Night of {when}' if when else 'Briefs of the night')}", "",
             " · ".join(markdown_escape(part) for part in [
                 language_name(lang), *night_facts(night, _brief_count(shown), len(shown))]),
             ""]
    if night.source:
        lines += [f"Source: {markdown_escape(night.source)}", ""]
    if len(languages) > 1:
        lines += ["Languages: " + " · ".join(
            f"**{markdown_escape(language_name(code))}**" if code == lang
            else f"[{markdown_escape(language_name(code))}]({quote(code)}.md)"
            for code in languages), ""]
    counts = warning_counts(shown, lang)
    if counts:
        lines += ["Warnings:", ""]
        lines += [f"- {count} × {markdown_escape(code)}: {markdown_escape(meaning)}"
                  for code, count, meaning in counts]
    return [*lines, ""]


def _markdown_entry(entry: DigestEntry, lang: str) -> list[str]:
    """One story: its lead's title, section and date, summary and warnings (on one line),
    then the other outlets that reported it."""
    lead = entry.lead
    lines = [f"### {_markdown_title(lead, lang)}", "", _markdown_meta(lead), "",
             markdown_escape(lead.summary(lang)), ""]
    if lead.warnings(lang):
        lines += [_markdown_warnings(lead.warnings(lang)), ""]
    if not lead.url:
        lines += [f"<sub>{markdown_escape(lead.key)}</sub>", ""]
    if entry.others:
        lines += ["Also reported by:", ""]
        lines += [f"- {markdown_escape(o.outlet)}: {_markdown_title(o, lang)}"
                  + (f" · {markdown_escape(o.date_text())}" if o.published else "")
                  + ("" if o.url else f" <sub>{markdown_escape(o.key)}</sub>")
                  + (f" {_markdown_warnings(o.warnings(lang))}" if o.warnings(lang) else "")
                  for o in entry.others]
    return [*lines, ""]


def _markdown_warnings(warnings: list[str]) -> str:
    """A brief's warnings, compact: `<sub>⚠ 2 warnings: a · b</sub>`."""
    return (f"<sub>⚠ {counted(len(warnings), 'warning')}: "
            + " · ".join(markdown_escape(w) for w in warnings) + "</sub>")


def _brief_count(shown: Sequence[DigestEntry]) -> int:
    return sum(len(e.items) for e in shown)


def _markdown_title(item: DigestItem, lang: str) -> str:
    """An item's title, escaped, linked to the original article when it has a URL."""
    title = markdown_escape(item.title(lang))
    if not item.url:
        return title
    return f"[{title.replace(']', chr(92) + ']')}](<{markdown_url(item.url)}>)"


def _markdown_meta(item: DigestItem) -> str:
    """The section and date of an entry's lead (its outlet is the heading above)."""
    return " · ".join(markdown_escape(part) for part in (item.section, item.date_text()) if part)


_URL_SAFE = "!#$%&'()*+,-./:;=?@[]~_"  # kept in a Markdown link; `<`, `>`, spaces are quoted


def markdown_url(url: str) -> str:
    """A URL as it goes between the `<` and `>` of a Markdown link: `<`, `>`, spaces, line
    breaks and `|` (a table's cell) percent-encoded, so it can end neither the link nor the
    cell, nor start another."""
    return quote(url, safe=_URL_SAFE)


def markdown_escape(text: str) -> str:
    """Neutralise Markdown and raw HTML in article text."""
    return html.escape(text, quote=False).replace("\\", "\\\\").replace("*", "\\*").replace(
        "_", "\\_").replace("#", "\\#").replace("[", "\\[").replace("`", "\\`")


def digest_html(lang: str, entries: Sequence[DigestEntry], run_id: str,
                languages: Sequence[str] = (), night: Night | None = None) -> str:
    """The digest for `lang` as one self-contained HTML page (inline CSS, no scripts, fit for
    a phone): the night (`night`, else what the briefs tell of it) and its warnings counted
    by code at the top, the entries that have that language under their outlet, each title
    linked to the original article and its warnings folded under a marker that opens them,
    a switcher to the other languages' digests (`languages`: every digest language of the
    run) and the run's id at the foot. Every text is escaped (Jinja's autoescape)."""
    shown = entries_in(entries, lang)
    night = night or night_of_entries(entries)
    outlets = [(outlet, [_html_entry(e, lang) for e in group])
               for outlet, group in groupby(shown, key=lambda e: e.lead.outlet)]
    return _DIGEST_PAGE.render(
        lang=lang, name=language_name(lang), run_id=run_id, outlets=outlets,
        night=night, when=night.date_text(),
        facts=night_facts(night, _brief_count(shown), len(shown)),
        codes=warning_counts(shown, lang),
        languages=[(code, language_name(code)) for code in languages or [lang]])


def _html_entry(entry: DigestEntry, lang: str) -> dict[str, Any]:
    def view(item: DigestItem) -> dict[str, Any]:
        warnings = item.warnings(lang)
        return {"id": item.article_id, "title": item.title(lang), "url": item.url,
                "outlet": item.outlet, "section": item.section, "date": item.date_text(),
                "datetime": item.date_iso(), "key": item.key,
                "summary": item.summary(lang), "warnings": warnings,
                "marker": f"⚠ {counted(len(warnings), 'warning')}"}

    return {**view(entry.lead), "others": [view(o) for o in entry.others]}


_DIGEST_PAGE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                                  undefined=jinja2.StrictUndefined).from_string("""\
<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Briefs · {{ name }}{% if night.date %} · {{ night.date }}{% endif %}</title>
<style>
:root { color-scheme: light dark; --muted: #5f6368; --line: #d8dadd; --accent: #1a5fb4;
        --warn: #8a4b00; --warn-bg: #fff4e0; }
@media (prefers-color-scheme: dark) {
  :root { --muted: #a8adb3; --line: #3c4043; --accent: #8ab4f8; --warn: #f6c177;
          --warn-bg: #3a2a10; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 44rem; padding: 0 1rem 3rem; font: 1rem/1.5 system-ui,
       -apple-system, "Segoe UI", Roboto, sans-serif; overflow-wrap: anywhere; }
header { padding-top: .5rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 0; }
.night, .meta, .source, footer { color: var(--muted); font-size: .875rem; margin: .25rem 0; }
.codes { list-style: none; margin: .75rem 0 0; padding: .4rem .6rem; border-radius: .4rem;
         background: var(--warn-bg); color: var(--warn); font-size: .8rem; }
.codes li { margin: .15rem 0; }
.codes code, .warnings code { font-weight: 600; }
nav ul { display: flex; flex-wrap: wrap; gap: .5rem; list-style: none; margin: .75rem 0 0;
         padding: 0; }
nav a { display: inline-block; min-height: 2.5rem; padding: .5rem .9rem; border-radius: 1.25rem;
        border: 1px solid var(--line); color: inherit; text-decoration: none; }
nav a[aria-current="page"] { background: var(--accent); border-color: var(--accent);
                             color: Canvas; font-weight: 600; }
h2 { position: sticky; top: 0; z-index: 1; background: Canvas; font-size: .95rem;
     color: var(--muted); margin: 1.5rem 0 0; padding: .5rem 0 .25rem;
     border-bottom: 2px solid var(--line); }
article { padding: 1rem 0; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.15rem; line-height: 1.3; margin: 0; }
h3 a, .also a { color: var(--accent); }
.summary { margin: .5rem 0; }
details.warnings { margin: .5rem 0; color: var(--warn); font-size: .8rem; }
details.warnings summary { display: inline-block; cursor: pointer; padding: .1rem .5rem;
                           border-radius: .75rem; background: var(--warn-bg); }
details.warnings ul { list-style: none; margin: .35rem 0 0; padding: .4rem .6rem;
                      border-radius: .4rem; background: var(--warn-bg); }
.also details.warnings { display: inline; margin: 0; }
footer { margin-top: 2rem; }
.also { margin: .75rem 0 0; padding-left: .75rem; border-left: 3px solid var(--line); }
.also p { margin: 0; font-size: .8rem; color: var(--muted); }
.also ul { list-style: none; margin: 0; padding: 0; }
.also li { margin: .35rem 0; }
.also .outlet { font-weight: 600; }
</style>
</head>
<body>
<header>
<h1>{% if when %}Night of {% if night.date %}<time datetime="{{ night.date }}">{{ when }}</time>\
{% else %}{{ when }}{% endif %}{% else %}Briefs of the night{% endif %}</h1>
<p class="night">{{ name }}{% for fact in facts %} · {{ fact }}{% endfor %}</p>
{% if night.source %}
<p class="source">Source: {{ night.source }}</p>
{% endif %}
{% if languages|length > 1 %}
<nav aria-label="Languages"><ul>
{% for code, label in languages %}
<li><a href="{{ code }}.html" hreflang="{{ code }}" lang="{{ code }}"\
{% if code == lang %} aria-current="page"{% endif %}>{{ label }}</a></li>
{% endfor %}
</ul></nav>
{% endif %}
{% if codes %}
<ul class="codes" aria-label="Warnings by code">
{% for code, count, meaning in codes %}
<li>{{ count }} × <code>{{ code }}</code>: {{ meaning }}</li>
{% endfor %}
</ul>
{% endif %}
</header>
<main>
{% for outlet, entries in outlets %}
<section>
<h2>{{ outlet }}</h2>
{% for e in entries %}
<article id="{{ e.id }}">
<h3>{% if e.url %}<a href="{{ e.url }}" rel="noopener">{{ e.title }}</a>{% else %}{{ e.title }}\
{% endif %}</h3>
{% if e.section or e.date %}
<p class="meta">{{ e.section or "" }}{{ " · " if e.section and e.date }}{% if e.date %}\
<time{% if e.datetime %} datetime="{{ e.datetime }}"{% endif %}>{{ e.date }}</time>{% endif %}</p>
{% endif %}
<p class="summary">{{ e.summary }}</p>
{% if not e.url %}
<p class="source"><small>{{ e.key }}</small></p>
{% endif %}
{% if e.warnings %}
<details class="warnings">
<summary>{{ e.marker }}</summary>
<ul>
{% for w in e.warnings %}
<li>{{ w }}</li>
{% endfor %}
</ul>
</details>
{% endif %}
{% if e.others %}
<div class="also">
<p>Also reported by</p>
<ul>
{% for o in e.others %}
<li id="{{ o.id }}"><span class="outlet">{{ o.outlet }}</span>: \
{% if o.url %}<a href="{{ o.url }}" rel="noopener">{{ o.title }}</a>{% else %}{{ o.title }} \
<small class="source">{{ o.key }}</small>{% endif %}
{% if o.date %} · <time{% if o.datetime %} datetime="{{ o.datetime }}"{% endif %}>{{ o.date }}\
</time>{% endif %}
{% if o.warnings %} <details class="warnings"><summary>{{ o.marker }}</summary><ul>\
{% for w in o.warnings %}<li>{{ w }}</li>{% endfor %}</ul></details>{% endif %}
</li>
{% endfor %}
</ul>
</div>
{% endif %}
</article>
{% endfor %}
</section>
{% else %}
<p>No briefs in {{ name }} in this run.</p>
{% endfor %}
</main>
<footer><p>Run <code>{{ run_id }}</code></p></footer>
</body>
</html>
""")


def manifest_document(run_id: str, started_at: str, parameters: dict[str, Any],
                      written: list[dict[str, Any]], unbriefed: list[Failure],
                      timings: dict[str, float]) -> dict[str, Any]:
    """The run's manifest: parameters, counts (of articles, and of warnings by code),
    timings, one entry per article or object."""
    entries = [{"article_id": b["article_id"], "source": b["source"]["uri"],
                "status": "succeeded", **_reused_steps(b, run_id), **_warning_codes(b)}
               for b in written]
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
        "warnings": count_by_code([w for b in written for w in b.get("warnings", [])]),
        "timings": timings,
        "articles": entries,
    }


def _warning_codes(brief: dict[str, Any]) -> dict[str, list[str]]:
    """`{"warnings": [codes]}` of a brief with warnings, for its manifest entry."""
    codes = sorted({as_notice(w).code for w in brief.get("warnings", [])})
    return {"warnings": codes} if codes else {}


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
