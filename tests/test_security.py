"""Security: a run reads only under its SOURCE and writes only under its DEST, whatever the
keys, ids, dates and events it is given; untrusted input that reaches an output (a brief, a
digest, an artifact, a message) is escaped or refused; secrets stay out of what it records.

Other tests cover neighbouring ground: `..` and absolute keys (test_storage), safe article
ids (test_articles), hostile articles through a whole run (test_hostile_input), regexes on
crafted input (test_regex_safety), credentials in logs and outputs (test_crashes).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import html as lxml_html
from markdown_it import MarkdownIt
from prefect import flow

from briefs.flows.artifacts import summary_markdown
from briefs.flows.briefs_flow import arrivals_by_night, briefs
from briefs.tasks.core.config import BriefsConfig, DeliveryConfig, ReviewConfig, load_config
from briefs.tasks.core.records import Article, Failure
from briefs.tasks.delivery import Message, build_messages, deliver, send_email
from briefs.tasks.ingest.articles import RawObject, article_id_for, parse_object
from briefs.tasks.ingest.s3_notifications import created_objects
from briefs.tasks.ingest.selection import select
from briefs.tasks.output.digest import digest_entries
from briefs.tasks.output.documents import digest_html, digest_markdown
from briefs.tasks.output.review import held_briefs, held_markdown
from briefs.tasks.output.storage import (
    LocalStore,
    S3Store,
    StorageError,
    open_store,
    s3_client_config,
)
from briefs.tasks.run import pipeline
from briefs.tasks.run.nights import night_of, run_date
from tests.corpus_sample import summaries
from tests.helpers import Mailbox, brief_locally, corpus_or_skip, run_logs, s3_record
from tests.prefect_stack import free_port

NIGHT = "2026-11-27"


def files_under(folder: Path) -> dict[Path, bytes]:
    """Every file under `folder` (symbolic links as what they point to), with its bytes."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bodies(count: int) -> list[str]:
    """Distinct English articles from the corpus, long enough to be briefed."""
    return [row["article"] for row in summaries(corpus_or_skip(), count)]


# --- keys and ids -----------------------------------------------------------------------

ODD_KEYS = [
    "briefs/%2e%2e/%2e%2e/escape.json",  # percent-encoded dots are names, never decoded
    "%2E%2E%2Fescape.json",
    "..\\..\\escape.json",  # a backslash is part of a POSIX name, not a separator
    "briefs\\..\\..\\escape.json",
    "briefs/" + "k" * 1001 + ".json",  # longer than a file name may be
    "k" * 300 + "/briefs/a.json",
    "briefs/新闻 – نبأ – ünïcode.json",
    "briefs/\u202eevil\u2024\u2024.json",  # right-to-left override, one-dot leaders
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_an_odd_key_is_written_inside_the_destination_or_refused(tmp_path: Path, key: str):
    """A destination key the store is given lands under the destination, as one file of
    that very name, or is refused with a StorageError naming the destination; nothing
    appears anywhere else, and no temporary file is left."""
    out = tmp_path / "out"
    store = LocalStore(out)
    try:
        store.write(key, b"brief", "application/json")
    except StorageError as exc:
        assert str(out) in str(exc)
        assert list(files_under(tmp_path)) == []
    else:
        assert store.read(key) == b"brief"
        assert list(files_under(tmp_path)) == [out / key]
    for path in tmp_path.rglob("*"):
        assert path.resolve().is_relative_to(out.resolve()) or path == out, path


@pytest.mark.parametrize("key", ["a\x00b.json", "briefs/\x00", "briefs/x.json\x00.txt"])
def test_a_key_with_a_nul_byte_is_refused_as_unsafe(tmp_path: Path, key: str):
    """A NUL byte cannot be in a file name: reading, writing or linking such a key fails as
    a storage error that names the key (an article's failure), not as a crash of the batch."""
    store = LocalStore(tmp_path)
    with pytest.raises(StorageError, match="unsafe object key"):
        store.write(key, b"x", "text/plain")
    with pytest.raises(StorageError, match="unsafe object key"):
        store.read(key)
    with pytest.raises(StorageError, match="unsafe object key"):
        store.share_link(key, 60)
    assert list(tmp_path.iterdir()) == []


def test_a_symbolic_link_cannot_lead_a_run_out_of_its_source_or_destination(
        tmp_path: Path, tiny_config: BriefsConfig):
    """A link in the source to a file elsewhere is not read: that article fails with the
    reason, the others are read (a link to a folder elsewhere is not even listed). A folder
    of the destination that links elsewhere is not written through. A link that stays inside
    the folder works as before."""
    [text, other] = bodies(2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Secret memo\n\n" + text)
    source = tmp_path / "in"
    source.mkdir()
    (source / "real.txt").write_text(other)
    (source / "alias.txt").symlink_to(source / "real.txt")
    (source / "leak.txt").symlink_to(outside / "secret.txt")
    (source / "leaked-folder").symlink_to(outside, target_is_directory=True)
    store = LocalStore(source)

    items = pipeline.read_articles(store, store.list(), tiny_config)

    articles = {i.source.key for i in items if isinstance(i, Article)}
    assert articles == {"alias.txt", "real.txt"}
    [failure] = [i for i in items if isinstance(i, Failure)]
    assert failure.uri == str(store.root / "leak.txt")
    assert "leak.txt" in failure.reason and "outside" in failure.reason, failure.reason
    assert not any("Secret memo" in i.text for i in items if isinstance(i, Article))

    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "briefs").symlink_to(outside, target_is_directory=True)
    before = files_under(outside)
    with pytest.raises(StorageError, match="outside"):
        LocalStore(dest).write("briefs/a.json", b"{}", "application/json")
    assert files_under(outside) == before


def test_ids_that_differ_only_in_case_never_collide_on_a_case_insensitive_disk():
    """Two different objects, or two records, whose names differ only in case get ids that
    differ even case-folded (briefs/<article_id>.json on macOS or Windows disks)."""
    body = bodies(1)[0]
    limits = load_config("tiny").limits

    def feed(key: str, records: list[dict]) -> list[str]:
        data = "\n".join(json.dumps({**r, "body": f"{body} ({n})"})
                         for n, r in enumerate(records)).encode()
        items = parse_object(RawObject(key, f"/in/{key}", data), limits)
        assert all(isinstance(i, Article) for i in items), items
        return [i.article_id for i in items]

    ids = [article_id_for(k) for k in ("World/Story.txt", "world/story.txt", "A.TXT", "a.txt",
                                       "a.TXT")]
    ids += feed("feeds/World.jsonl", [{"id": "ABC"}, {"id": "abc"}, {"id": "Abc"}])
    ids += feed("feeds/world.jsonl", [{"id": "ABC"}])
    ids += feed("feeds/urls.jsonl", [{"url": "https://news.example.org/World/Story"},
                                     {"url": "https://news.example.org/world/story"}])
    assert len({i.casefold() for i in ids}) == len(ids), ids
    assert all(i == i.lower() for i in ids)


def test_two_feeds_with_the_same_record_id_are_both_briefed_neither_overwritten(
        tmp_path: Path):
    """Two outlets' feeds both carry `"id": 1`, and two files differ only in case: each is
    briefed into its own brief file, none replaces another."""
    texts = bodies(4)
    objects = {
        "reuters/feed.jsonl": json.dumps({"id": 1, "title": "Reuters", "body": texts[0]}).encode(),
        "afp/feed.jsonl": json.dumps({"id": 1, "title": "AFP", "body": texts[1]}).encode(),
        "Story.txt": texts[2].encode(),
        "story.txt": texts[3].encode(),
    }
    manifest = brief_locally(tmp_path / "in", tmp_path / "out", objects, ["de"])

    assert manifest["counts"]["succeeded"] == 4, manifest["articles"]
    files = sorted((tmp_path / "out" / "briefs").iterdir())
    assert len({p.name.casefold() for p in files}) == len(files) == 4
    keys = {json.loads(p.read_text())["source"]["key"] for p in files}
    assert keys == set(objects)


# --- the run form: date and article_ids ---------------------------------------------------

@pytest.fixture
def night_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Templates `.../in/{date}` and `.../out/{date}` two folders below tmp_path (so that a
    date with `..` would still land in tmp_path, where the test looks), one article in the
    night of NIGHT."""
    base = tmp_path / "a" / "b"
    (base / "in" / NIGHT).mkdir(parents=True)
    (base / "in" / NIGHT / "story.txt").write_text(bodies(1)[0])
    return base / "in" / "{date}", base / "out" / "{date}"


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("date", ["../../etc", f"{NIGHT}/../../x", "2026-13-45",
                                  f"{NIGHT}\n../x", "../in/2026-11-27"])
def test_a_date_that_is_not_a_night_is_refused_in_one_line(tmp_path: Path, night_folders,
                                                           date: str):
    """An editor's date that is not YYYY-MM-DD ends the run Failed with one line that says
    so, before anything is read or written."""
    source, dest = night_folders
    before = files_under(tmp_path)

    state = briefs(source=str(source), dest=str(dest), date=date, languages=["de"],
                   models="tiny", return_state=True)

    assert state.is_failed()
    assert "YYYY-MM-DD" in state.message and "\n" not in state.message, state.message
    assert files_under(tmp_path) == before


@pytest.mark.usefixtures("prefect_api")
def test_an_empty_date_briefs_yesterdays_night_in_its_own_folders(tmp_path: Path,
                                                                  night_folders):
    """An empty date is yesterday in the schedule's timezone: its source folder is read, and
    only its destination folder is written."""
    source, dest = night_folders
    yesterday = run_date(None, load_config("tiny").schedule.timezone)
    night = Path(str(source).replace("{date}", yesterday))
    night.mkdir(parents=True, exist_ok=True)
    (night / "yesterday.txt").write_text(bodies(2)[1])
    before = files_under(tmp_path)

    state = briefs(source=str(source), dest=str(dest), date="", languages=["de"],
                   models="tiny", return_state=True)

    assert state.is_completed(), state.message
    manifest = state.result()
    assert manifest["parameters"]["date"] == yesterday
    assert [e["source"] for e in manifest["articles"]] == [
        str(night.resolve() / "yesterday.txt")]
    out = Path(str(dest).replace("{date}", yesterday)).resolve()
    new = set(files_under(tmp_path)) - set(before)
    assert new and all(p.resolve().is_relative_to(out) for p in new), sorted(new)


@pytest.mark.usefixtures("prefect_api")
def test_article_ids_that_name_files_outside_the_source_are_not_found(tmp_path: Path):
    """Chosen articles are looked up among the source's own objects only: an id that is a
    path out of it (relative, absolute, through `..` of its URI, with a NUL byte) is
    reported not found, and the file it names is never read."""
    texts = bodies(2)
    source = tmp_path / "a" / "night"
    source.mkdir(parents=True)
    (source / "story.txt").write_text(texts[0])
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("Secret memo\n\n" + texts[1])
    (tmp_path / "a" / "outside.txt").write_text("Secret memo\n\n" + texts[1])
    dest = tmp_path / "out"
    requested = ["../../etc/passwd", str(tmp_path / "etc" / "passwd"), "/etc/passwd",
                 "a\x00b", f"{source}/../outside.txt", f"file://{tmp_path}/etc/passwd"]
    before = files_under(tmp_path)

    state = briefs(source=str(source), dest=str(dest), languages=["de"], models="tiny",
                   article_ids=requested, force=True, return_state=True)

    manifest = state.result(raise_on_failure=False)
    entries = {e["article_id"]: e for e in manifest["articles"]}
    assert set(entries) == set(requested)
    for entry in entries.values():
        assert entry["status"] == "failed" and "not found" in entry["reason"], entry
    assert not (dest / "briefs").exists()
    changed = {p for p, data in files_under(tmp_path).items() if before.get(p) != data}
    assert changed and all(p.is_relative_to(dest) for p in changed), sorted(changed)
    assert not any("Secret memo" in data.decode("utf-8", "replace")
                   for p, data in files_under(dest).items())


# --- S3 notifications ---------------------------------------------------------------------

SOURCE_TEMPLATE = "s3://news-in/{date}/"


@pytest.mark.parametrize("uri, template, night", [
    (f"s3://news-in/{NIGHT}/late/x.txt", SOURCE_TEMPLATE, NIGHT),
    (f"s3://news-in/{NIGHT}/x.txt", "s3://news-in/{date}", NIGHT),
    ("s3://news-in/x.txt", "s3://news-in", ""),
    (f"s3://news-internal/{NIGHT}/x.txt", SOURCE_TEMPLATE, None),  # another bucket
    (f"s3://news-in/{NIGHT}x/a.txt", "s3://news-in/{date}", None),  # not the night's folder
    ("s3://news-internal/x.txt", "s3://news-in", None),  # a bucket that only starts alike
    ("s3://news-in/archive/x.txt", "s3://news-in/current", None),
    ("s3://news-in/2026-13-45/x.txt", SOURCE_TEMPLATE, None),  # no such night
    ("s3://news-in/0000-00-00/x.txt", SOURCE_TEMPLATE, None),
])
def test_an_arrival_belongs_to_a_real_night_under_the_whole_source_prefix(
        uri: str, template: str, night: str | None):
    """The night an arrived object is briefed in: a real date in the `{date}` folder of the
    source; None (not briefed) for an object of another bucket, another prefix, a folder
    that only starts like the source's, or a date that is no date."""
    assert night_of(uri, template) == night


def test_an_arrival_is_read_only_as_the_object_listed_under_the_nights_prefix(s3):
    """An event may name a key with `..` (S3 keys are names, not paths): the run briefs it
    only as the object of that very name under the night's prefix; the object it seems to
    point at, outside the prefix, is never read. Not listed there, it is reported."""
    s3.create_bucket(Bucket="news-dots")
    s3.put_object(Bucket="news-dots", Key="secret.txt", Body=b"the bucket's secret")
    s3.put_object(Bucket="news-dots", Key=f"{NIGHT}/story.txt", Body=b"a story")
    event = {"Records": [s3_record(f"{NIGHT}/%2E%2E/secret.txt", bucket="news-dots")]}
    [arrived] = [o.uri for o in created_objects(event)]
    assert arrived == f"s3://news-dots/{NIGHT}/../secret.txt"
    source = f"s3://news-dots/{NIGHT}/"
    store = open_store(source)

    chosen = select([arrived], store.list(), source, None, missing="skipped")
    assert chosen.objects == []
    [gone] = chosen.not_found
    assert (gone.status, gone.article_id) == ("skipped", arrived)
    assert "not found" in gone.reason

    s3.put_object(Bucket="news-dots", Key=f"{NIGHT}/../secret.txt", Body=b"a literal name")
    chosen = select([arrived], store.list(), source, None, missing="skipped")
    assert [o.key for o in chosen.objects] == ["../secret.txt"]
    assert store.read("../secret.txt") == b"a literal name"


@flow
def nights_of_arrivals(uris: list[str]) -> dict[str, list[str]]:
    return arrivals_by_night(uris, SOURCE_TEMPLATE, None, load_config("tiny"))


@pytest.mark.usefixtures("prefect_api")
def test_arrivals_outside_the_nightly_source_are_logged_and_not_briefed():
    """Of a notification naming objects of several buckets and prefixes, only those under
    the nightly source's night folders are briefed; each other one is named in the run's
    log with the reason."""
    good = f"{NIGHT}/story.txt"
    event = {"Records": [s3_record(good), s3_record(good, bucket="news-internal"),
                         s3_record("misc/story.txt"), s3_record("2026-13-45/story.txt"),
                         s3_record(f"{NIGHT}x/story.txt", bucket="other-bucket")]}
    uris = [o.uri for o in created_objects(event)]

    state = nights_of_arrivals(uris, return_state=True)

    assert state.result() == {NIGHT: [f"s3://news-in/{good}"]}
    logs = run_logs(state.state_details.flow_run_id)
    for uri in uris[1:]:
        assert f"{uri} is not under {SOURCE_TEMPLATE}: not briefed by this run" in logs, logs


# --- what untrusted text can do in digests, artifacts and messages --------------------------

TITLE = ("<script>alert('t')</script> [x](javascript:alert(1)) ![i](javascript:alert(2)) "
         "<javascript:alert(3)> <https://evil.example/> Subject: a\r\nBcc: evil@example.org")
SUMMARY = ("Body [z](javascript:alert(4)) <img src=x onerror=alert(5)>\n\n"
           "[ref]: javascript:alert(6)\n\n[ref] &#91;e&#93;(javascript:alert(7))")
URLS = ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)", "file:///etc/passwd", "//evil.example/x",
        "https://news.example.org/a>)[y](javascript:alert(8))",
        'https://news.example.org/b" onmouseover="alert(9)',
        "https://news.example.org/c|x\n[k](javascript:alert(10))"]


def hostile_brief(number: int, url: str) -> dict:
    """A brief document as a hostile source makes it: every text field, the URL and the key
    carry markup, links and line breaks."""
    key = f"feeds/{number}\n[k](javascript:alert(11)) <b>.json"
    return {"article_id": f"hostile-{number}-0123456789",
            "source": {"uri": f"/in/{key}", "key": key, "format": "json", "url": url},
            "title": {"en": TITLE, "de": TITLE}, "summaries": {"en": SUMMARY, "de": SUMMARY},
            "source_language": "en",
            "warnings": [{"code": "random_weights", "detail": TITLE}]}


HOSTILE = [hostile_brief(n, url) for n, url in enumerate(URLS)]


def unsafe_parts(page: str) -> list[str]:
    """What in an HTML page could run script: script elements, event handler attributes,
    links and sources with a scheme other than http(s) (relative links are the digests')."""
    found = []
    for element in lxml_html.fromstring(f"<div>{page}</div>").iter():
        if element.tag in ("script", "iframe", "object", "embed"):
            found.append(f"<{element.tag}>")
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"{name}={value!r}")
            scheme = urlsplit(value.strip()).scheme.lower() if name in ("href", "src") else ""
            if scheme not in ("", "http", "https") or value.strip().startswith("//"):
                found.append(f"{name}={value!r}")
    return found


def links(page: str) -> list[str]:
    return [a.get("href") for a in lxml_html.fromstring(f"<div>{page}</div>").iter("a")]


def rendered(markdown: str) -> str:
    """Markdown as a CommonMark renderer with GFM tables turns it into HTML, raw HTML
    passed through and every link kept (no scheme filter of its own to hide behind)."""
    renderer = MarkdownIt("commonmark").enable("table")
    renderer.validateLink = lambda url: True
    return renderer.render(markdown)


def test_the_html_digest_escapes_text_and_links_only_http_urls():
    """The HTML digest of hostile briefs holds no script, no event handler and no link but
    http(s) ones (and the language switcher's); a safe original URL is still linked."""
    for lang in ("en", "de"):
        page = digest_html(lang, digest_entries(HOSTILE), "run-<b>1</b>", ["en", "de"])
        assert unsafe_parts(page) == []
        assert "<script>alert" not in page
        assert any(h.startswith("https://news.example.org/") for h in links(page))


def test_the_markdown_digest_makes_no_link_from_article_text():
    """Rendered, the Markdown digest of hostile briefs links only the http(s) original URLs
    and the other languages' digests: no title, summary, key or URL makes another link."""
    markdown = digest_markdown("de", digest_entries(HOSTILE), "run-1", ["en", "de"])
    page = rendered(markdown)
    assert unsafe_parts(page) == []
    assert all(h in ("en.md", "de.md") or h.startswith("https://news.example.org/")
               for h in links(page)), links(page)
    assert any(h.startswith("https://news.example.org/") for h in links(page))


def test_the_summary_artifact_makes_no_link_from_article_text():
    """The run's summary artifact (Markdown in the Prefect UI) previews hostile briefs as
    text only."""
    manifest = {"counts": {"total": 9, "succeeded": 9, "failed": 0, "skipped": 0},
                "warnings": {}}
    page = rendered(summary_markdown(manifest, HOSTILE, [], ["de"], 1.0))
    assert unsafe_parts(page) == [] and links(page) == []


def test_the_review_artifact_links_only_the_original_and_keeps_one_row_a_brief():
    """The briefs held for review, shown as a Markdown table: an original URL with `>`, `)`
    or `|` in it, or a source key with a line break, can neither add a link nor a row."""
    held = held_briefs(HOSTILE, ["random_weights"])
    markdown = held_markdown(held, ReviewConfig(hold_on=["random_weights"]), NIGHT)
    page = rendered(markdown)

    assert unsafe_parts(page) == []
    assert all(h.startswith("https://news.example.org/") for h in links(page)), links(page)
    assert len(links(page)) == 3  # the three http(s) URLs of URLS
    rows = lxml_html.fromstring(page).xpath("//tbody/tr")
    assert len(rows) == len(HOSTILE)


def test_a_line_break_in_a_title_never_reaches_an_email_header(tmp_path: Path):
    """The subject comes from the night and counts, never from an article; a subject with
    CR/LF (a header injection) is refused before any mail is sent, and a message sent has
    only its own recipients."""
    from aiosmtpd.controller import Controller
    from prefect_email import EmailServerCredentials

    manifest = {"run_id": "r", "started_at": f"{NIGHT}T02:00:00+00:00",
                "parameters": {"date": NIGHT, "dest": str(tmp_path)},
                "counts": {"total": 9, "succeeded": 9, "failed": 0, "skipped": 0}}
    [message] = build_messages(manifest, ["de"], HOSTILE, LocalStore(tmp_path), 60)
    assert "\r" not in message.subject and "\n" not in message.subject
    assert "Bcc" not in message.subject + message.body

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = EmailServerCredentials(smtp_server="127.0.0.1", smtp_type="INSECURE",
                                      smtp_port=port)
        settings = DeliveryConfig(email_to=["desk@example.org"], email_from="briefs@example.org")
        injected = Message("de", "Briefs a\r\nBcc: evil@example.org", "body", message.link)
        with pytest.raises(ValueError, match="linefeed or carriage return"):
            send_email(smtp, settings, injected)
        send_email(smtp, settings, message)
    finally:
        controller.stop()
    [mail] = box.messages
    assert mail["To"] == "desk@example.org" and mail["Bcc"] is None
    assert mail["Subject"] == message.subject


# --- secrets --------------------------------------------------------------------------------

def test_a_failed_send_keeps_link_signatures_and_webhook_tokens_out_of_records_and_logs(
        caplog: pytest.LogCaptureFixture):
    """A message carries its digest's presigned link (that is its point). When a webhook
    fails with an error that repeats its URL (with the token in its path) and the message,
    neither the token nor the link's signature or key reach the delivery records (the
    manifest's `delivery`) or the log."""
    import boto3

    secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                          aws_access_key_id="AKIDEXAMPLESECURITY",
                          aws_secret_access_key=secret_key, config=s3_client_config())
    store = S3Store("briefs-out", f"{NIGHT}/", client)  # presigning needs no request
    manifest = {"run_id": "r", "started_at": f"{NIGHT}T02:00:00+00:00",
                "parameters": {"date": NIGHT, "dest": store.uri},
                "counts": {"total": 1, "succeeded": 1, "failed": 0, "skipped": 0}}
    [message] = build_messages(manifest, ["en"], [{"summaries": {"en": "x"}}], store, 3600)
    assert "X-Amz-Signature=" in message.body  # not vacuous: the link is signed
    hook = "https://hooks.slack.com/services/T000/B000/SECRET-TOKEN"

    def failing_webhook(sent: Message) -> None:
        raise RuntimeError(f"Client error '400 Bad Request' for url '{hook}'\n"
                           f"payload: {sent.subject}\n{sent.body}")

    with caplog.at_level("DEBUG"):
        records = deliver([message], DeliveryConfig(
            notification_blocks=["slack-webhook/desk"], retries=1, retry_delay_seconds=0),
            load=lambda ref, settings: failing_webhook)

    assert [(r["status"], r["attempts"]) for r in records] == [("failed", 2)]
    recorded = json.dumps(records) + caplog.text
    assert "hooks.slack.com" in recorded  # the host stays, to say where it failed
    for secret in ("SECRET-TOKEN", "X-Amz-Signature", "AKIDEXAMPLESECURITY", secret_key,
                   "X-Amz-Credential"):
        assert secret not in recorded, secret
