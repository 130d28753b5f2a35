"""Hostile input through the whole flow: each bad article fails alone with a reason, the good
ones are briefed, every input appears in the manifest, and every output stays valid and safe."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from briefs.flows.briefs_flow import briefs
from briefs.tasks.core.config import CONFIGS_DIR
from tests.corpus_sample import summaries
from tests.helpers import corpus_or_skip

pytestmark = pytest.mark.usefixtures("prefect_api")
MAX_ARTICLE_BYTES = 100_000


def english(corpus: Path, index: int) -> str:
    return summaries(corpus, 1, skip=index)[0]["article"]


def cases(corpus: Path) -> dict[str, tuple[bytes, str, str]]:
    """Input key → (bytes, expected status, expected words in the reason)."""
    text = english(corpus, 0)
    german = ("Die Bundesregierung hat am Montag in Berlin einen neuen Plan für die Energiepreise "
              "vorgestellt. Der Minister sagte, die Preise würden im nächsten Jahr sinken.")
    latvian = ("Rīgas dome otrdien apstiprināja jauno budžetu. Opozīcija asi kritizēja lēmumu, "
               "bet mērs sacīja, ka cenas nākamgad kritīsies.")
    scripts = (b"<html><head><script>var a = 1;</script></head>"
               b"<body><script>go()</script></body></html>")
    navigation = (b"<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
                  b"<footer>Contact</footer></body></html>")
    return {
        "empty.txt": (b"", "failed", "empty article"),
        "blank.txt": (b"  \n\t  \n", "failed", "empty article"),
        "one-word.txt": (b"Hello", "failed", "only 1 words"),
        "binary.txt": (bytes(range(256)) * 64, "failed", "binary"),
        "nul-bytes.txt": (text[:500].encode() + b"\x00\x00" + text[500:900].encode(), "failed",
                          "NUL bytes"),
        "latin-1.txt": (("Café owners in Zürich\n\n" + english(corpus, 1)).encode("latin-1",
                                                                                  "replace"),
                        "succeeded", ""),
        "utf-16.txt": (english(corpus, 2).encode("utf-16"), "succeeded", ""),
        "crlf.txt": (english(corpus, 3).replace("\n", "\r\n").encode(), "succeeded", ""),
        "malformed.json": (b'{"title": "x", "body": ', "failed", "malformed JSON"),
        "no-body.json": (json.dumps({"title": "No body"}).encode(), "failed", "no body field"),
        "number-body.json": (json.dumps({"body": 42}).encode(), "failed", "must be a string"),
        "top-level-array.json": (json.dumps([{"body": text}]).encode(), "failed",
                                 "must be an object"),
        "scripts-only.html": (scripts, "failed", "no main text"),
        "navigation-only.html": (navigation, "failed", "no main text"),
        "too-large.txt": ((text + "\n") .encode() * (MAX_ARTICLE_BYTES // len(text) + 1),
                          "failed", "limits.max_article_bytes"),
        "bomb.jsonl.gz": (gzip.compress(b"a" * 50_000_000), "failed", "gzip bomb"),
        "big-inflated.txt.gz": (gzip.compress(text.encode() * 40), "failed",
                                "inflates to more than the 100000-byte limit"),
        "german.txt": (german.encode(), "succeeded", ""),  # by its route, pivot through English
        "latvian.txt": (latvian.encode(), "failed",
                        "source language 'lv' has no route: add sources.routes.lv"),
        "hostile.json": (json.dumps({
            "title": "<script>alert('t')</script> <img src=x onerror=alert(1)>",
            "body": "<b>bold</b> <script>alert('b')</script> " + english(corpus, 4)}).encode(),
            "succeeded", ""),
        "surrogates.json": (json.dumps({"title": "Lone \ud800 surrogate",
                                        "body": english(corpus, 5) + " \udfff"}).encode(),
                            "succeeded", ""),
        "with space/an article.txt": (english(corpus, 6).encode(), "succeeded", ""),
        "ünïcode/新闻.md": (("# Nachrichten\n\n" + english(corpus, 7)).encode(), "succeeded", ""),
        "copies/first.txt": (english(corpus, 8).encode(), "succeeded", ""),
        "copies/second.txt": (english(corpus, 8).encode(), "skipped", "duplicate of"),
    }


@pytest.fixture(scope="module")
def small_limits(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny-small-limits.yaml"
    preset = yaml.safe_load((CONFIGS_DIR / "tiny.yaml").read_text())
    preset["limits"] = {"max_article_bytes": MAX_ARTICLE_BYTES}
    route = preset["sources"]["routes"].pop("default")  # a route for German only
    route["translator"]["id"] = route["translator"]["id"].replace("{src}", "de")
    preset["sources"]["routes"]["de"] = route
    path.write_text(yaml.safe_dump(preset))
    return path


def test_every_bad_input_fails_alone_with_a_reason(tmp_path, small_limits):
    corpus = corpus_or_skip()
    expected = cases(corpus)
    jsonl_lines = [json.dumps({"title": "Good one", "body": english(corpus, 9)}), "{broken",
                   json.dumps({"title": "Good two", "text": english(corpus, 10)})]
    source, dest = tmp_path / "in", tmp_path / "out"
    for key, (data, _, _) in expected.items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(data)
    (source / "feed.jsonl").write_text("\n".join(jsonl_lines))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.rglob("*")
              if p.is_file()}

    state = briefs(str(source), str(dest), languages=["de"], config=str(small_limits),
                   return_state=True)

    assert state.is_failed() and "failed" in state.message  # some failed: exit status 2
    manifest = json.loads((dest / "manifest.json").read_text())
    entries = {e["source"].removeprefix(str(source) + "/"): e for e in manifest["articles"]}
    for key, (_, status, reason) in expected.items():
        assert entries[key]["status"] == status, (key, entries[key])
        assert reason in entries[key].get("reason", ""), (key, entries[key])
    assert entries["feed.jsonl#L1"]["status"] == entries["feed.jsonl#L3"]["status"] == "succeeded"
    assert "line 2: malformed JSON" in entries["feed.jsonl#L2"]["reason"]
    first_copy = entries["copies/first.txt"]["article_id"]
    assert first_copy in entries["copies/second.txt"]["reason"]
    assert manifest["counts"]["total"] == len(expected) + 3 == len(entries)

    outputs = [p for p in dest.rglob("*") if p.is_file()]
    for path in outputs:
        assert path.resolve().is_relative_to(dest.resolve())
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))  # every JSON output is valid
    briefed = {json.loads(p.read_text())["source"]["key"] for p in (dest / "briefs").iterdir()}
    assert briefed == {k for k, (_, s, _) in expected.items() if s == "succeeded"} | {
        "feed.jsonl"}
    for digest in (dest / "digests").glob("*.html"):
        page = digest.read_text()
        assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in (dest / "digests/en.html"
                                                                  ).read_text()
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.rglob("*")
             if p.is_file()}
    assert after == before  # inputs are never modified or deleted


def test_odd_s3_keys_give_safe_names_inside_a_local_destination(s3, tmp_path):
    corpus = corpus_or_skip()
    s3.create_bucket(Bucket="odd-keys")
    keys = ["night/../escape.txt", "night/with spaces and ; & = .txt",
            "night/ünïcode – 新闻 – نبأ.txt", "night/" + "x" * 990 + ".txt",
            "night/../../../../etc/passwd.json"]
    for index, key in enumerate(keys):
        body = english(corpus, 20 + index)
        data = json.dumps({"body": body}).encode() if key.endswith(".json") else body.encode()
        s3.put_object(Bucket="odd-keys", Key=key, Body=data)
    dest = tmp_path / "dest"

    state = briefs("s3://odd-keys/", str(dest), languages=["de"], models="tiny",
                   return_state=True)

    assert state.is_completed(), state.message
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["counts"]["succeeded"] == len(keys)
    assert {json.loads(p.read_text())["source"]["key"] for p in (dest / "briefs").iterdir()} == (
        set(keys))
    for path in tmp_path.rglob("*"):
        assert path.resolve().is_relative_to(dest.resolve()) or path == dest
        assert len(path.name) <= 100
