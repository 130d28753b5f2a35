"""Input objects built from the shared corpus (real news text nobody here wrote)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def summaries(corpus: Path, count: int, skip: int = 0) -> list[dict]:
    with (corpus / "summaries.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for _, line in zip(range(skip + count), lines, strict=False)]
    return rows[skip:]


def html_pages(corpus: Path, count: int) -> list[Path]:
    return sorted((corpus / "html" / "newspaper-tests" / "html").glob("*.html"))[:count]


def mixed_objects(corpus: Path, per_format: dict[str, int]) -> dict[str, bytes]:
    """Key → bytes for articles in txt, md, json, jsonl.gz and html, as producers drop them."""
    objects: dict[str, bytes] = {}
    rows = summaries(corpus, sum(v for k, v in per_format.items() if k != "html"))
    cursor = 0

    def take(n: int) -> list[dict]:
        nonlocal cursor
        cursor += n
        return rows[cursor - n:cursor]

    for row in take(per_format.get("txt", 0)):
        objects[f"txt/{row['id']}.txt"] = row["article"].encode()
    for row in take(per_format.get("md", 0)):
        objects[f"md/{row['id']}.md"] = f"# Story {row['id']}\n\n{row['article']}".encode()
    for row in take(per_format.get("json", 0)):
        objects[f"json/{row['id']}.json"] = json.dumps(
            {"id": row["id"], "title": f"Story {row['id']}", "body": row["article"]}).encode()
    jsonl = take(per_format.get("jsonl", 0))
    if jsonl:
        lines = "\n".join(json.dumps({"id": r["id"], "text": r["article"]}) for r in jsonl)
        objects["bulk/feed.jsonl.gz"] = gzip.compress(lines.encode())
    for page in html_pages(corpus, per_format.get("html", 0)):
        objects[f"html/{page.name}"] = page.read_bytes()
    return objects


def article_count(objects: dict[str, bytes]) -> int:
    total = 0
    for key, data in objects.items():
        if key.endswith(".jsonl.gz"):
            total += len(gzip.decompress(data).decode().splitlines())
        else:
            total += 1
    return total
