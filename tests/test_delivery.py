"""Delivery: the digests reach their readers through Prefect blocks, here an SMTP server
(aiosmtpd) and a webhook receiver on loopback; a failed delivery is retried, then recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from briefs.tasks.core.config import ConfigError, DeliveryConfig, load_config
from briefs.tasks.delivery import build_messages, deliver, describe
from briefs.tasks.output.storage import open_store
from tests.helpers import (
    HOOK_BLOCK,
    SEEDS,
    SMTP_BLOCK,
    Mailbox,
    configure_delivery,
    flow_run_state_names,
    save_delivery_blocks,
)
from tests.prefect_stack import free_port

pytestmark = pytest.mark.usefixtures("prefect_api")
RUN_DATE = "2026-11-27"
HOOK, SMTP = HOOK_BLOCK, SMTP_BLOCK


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def run_night(tmp_path: Path):
    """The flow on one seed article, English and German digests into a local folder."""
    from briefs.flows.briefs_flow import briefs

    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    seed = sorted(SEEDS.glob("*.txt"))[0]
    (source / seed.name).write_bytes(seed.read_bytes())
    state = briefs(str(source), str(dest), date=RUN_DATE, languages=["de"], models="tiny",
                   return_state=True)
    return state, dest


def test_a_night_is_delivered_by_email_and_webhook(tmp_path, monkeypatch, webhook, mailbox):
    box, smtp_port = mailbox
    save_delivery_blocks(webhook.url, smtp_port)
    configure_delivery(monkeypatch)
    # A review hold on a code no brief of this night carries: nothing held, no pause.
    monkeypatch.setenv("BRIEFS_REVIEW__HOLD_ON", '["glossary_lost"]')
    state, dest = run_night(tmp_path)
    assert state.is_completed(), state.message
    assert "Paused" not in flow_run_state_names(state.state_details.flow_run_id)

    subjects = {f"Briefs {RUN_DATE} (en): 1 briefed, 0 failed",
                f"Briefs {RUN_DATE} (de): 1 briefed, 0 failed"}
    assert sorted(m["To"] for m in box.messages) == ["desk@example.org"] * 2
    assert {m["Subject"] for m in box.messages} == subjects
    assert {p["subject"] for p in webhook.posts} == subjects
    for lang in ("en", "de"):
        link = (dest / "digests" / f"{lang}.html").resolve().as_uri()
        mail = next(m for m in box.messages if f"({lang})" in m["Subject"])
        post = next(p for p in webhook.posts if f"({lang})" in p["subject"])
        for body in (mail.get_content(), post["body"]):
            assert f"Digest: {link}" in body
            assert "1 articles, 1 briefed now, 0 skipped (unchanged or unsupported), 0 failed" \
                in body
    manifest = json.loads((dest / "manifest.json").read_text())
    kept = json.loads((dest / "runs" / manifest["run_id"] / "manifest.json").read_text())
    assert "review" not in manifest
    assert manifest["delivery"] == kept["delivery"] == [
        {"block": block, "language": lang, "attempts": 1, "status": "sent"}
        for block in (HOOK, SMTP) for lang in ("en", "de")]


def test_a_failed_delivery_is_retried_recorded_and_the_run_completes(tmp_path, monkeypatch,
                                                                      webhook):
    webhook.status = 500
    save_delivery_blocks(webhook.url, free_port())  # nothing listens there: refused
    configure_delivery(monkeypatch, retries=2)
    state, dest = run_night(tmp_path)
    assert state.is_completed(), state.message

    assert len(webhook.posts) == 2 * 3  # two languages, three attempts each
    records = json.loads((dest / "manifest.json").read_text())["delivery"]
    assert [(r["block"], r["language"], r["status"], r["attempts"]) for r in records] == [
        (block, lang, "failed", 3) for block in (HOOK, SMTP) for lang in ("en", "de")]
    assert records[0]["error"].startswith("HTTPStatusError: Server error '500")
    assert "SECRET-TOKEN" not in json.dumps(records)  # a webhook URL's path stays out
    assert "ConnectionRefusedError" in records[-1]["error"]


def test_an_s3_digest_link_is_presigned_and_opens(s3, webhook):
    """The message for an S3 destination links a presigned URL of the digest, with the
    configured lifetime, that a reader's browser can GET."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    s3.create_bucket(Bucket="briefs-delivery")
    store = open_store("s3://briefs-delivery/2026-11-27/")
    page = "<!doctype html><html lang=\"de\"><p>Kurzfassung</p></html>\n"
    store.write("digests/de.html", page.encode(), "text/html; charset=utf-8")
    manifest = {"run_id": "r1", "started_at": f"{RUN_DATE}T02:00:00+00:00",
                "parameters": {"date": RUN_DATE, "dest": store.uri},
                "counts": {"total": 3, "succeeded": 2, "failed": 1, "skipped": 0}}
    briefs = [{"summaries": {"en": "x", "de": "y"}}, {"summaries": {"en": "z", "de": "w"}}]
    messages = build_messages(manifest, ["de"], briefs, store, 3600)
    CustomWebhookNotificationBlock(
        name="briefs", url=webhook.url, json_data={"subject": "{{subject}}", "body": "{{body}}"},
    ).save("briefs-test-s3-hook", overwrite=True)

    records = deliver(messages, DeliveryConfig(
        notification_blocks=["custom-webhook/briefs-test-s3-hook"]))
    assert [r["status"] for r in records] == ["sent"]
    [post] = webhook.posts
    assert post["subject"] == f"Briefs {RUN_DATE} (de): 2 briefed, 1 failed"
    link = post["body"].split("Digest: ", 1)[1].split()[0]
    assert link.startswith(f"{s3.meta.endpoint_url}/briefs-delivery/2026-11-27/digests/de.html?")
    query = parse_qs(urlparse(link).query)  # SigV4 (buckets made since 2020 refuse SigV2)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["3600"]
    answer = httpx.get(link, timeout=10)  # moto checks no signature; AWS checks the lifetime
    assert answer.status_code == 200 and answer.text == page


def test_an_apprise_block_fails_loudly_and_is_retried(webhook):
    """Apprise blocks (Slack, Teams...) only log a failed send unless told to raise: a 500
    is a failed attempt, not a message sent. A non-Slack URL in a slack-webhook block goes
    through Apprise as any Apprise URL does (here json://)."""
    from prefect.blocks.notifications import SlackWebhook

    SlackWebhook(url=webhook.url.replace("http://", "json://")).save("briefs-test-apprise",
                                                                       overwrite=True)
    manifest = {"run_id": "r", "started_at": RUN_DATE, "parameters": {},
                "counts": {"total": 1, "succeeded": 1, "failed": 0, "skipped": 0}}
    messages = build_messages(manifest, ["de"], [{"summaries": {"de": "x"}}],
                              open_store("/nonexistent-briefs"), 60)
    settings = DeliveryConfig(notification_blocks=["slack-webhook/briefs-test-apprise"],
                              retries=1, retry_delay_seconds=0)
    webhook.status = 500
    [failed] = deliver(messages, settings)
    assert (failed["status"], failed["attempts"], len(webhook.posts)) == ("failed", 2, 2)
    assert "SECRET-TOKEN" not in failed["error"]
    webhook.status = 200
    [sent] = deliver(messages, settings)
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    assert webhook.posts[-1]["title"] == f"Briefs {RUN_DATE} (de): 1 briefed, 0 failed"
    assert "Digest: file:///nonexistent-briefs/digests/de.html" in webhook.posts[-1]["message"]


def test_a_block_that_cannot_be_loaded_is_recorded_without_attempts():
    messages = build_messages({"run_id": "r", "started_at": RUN_DATE, "parameters": {},
                               "counts": {"total": 0, "succeeded": 0, "failed": 0,
                                          "skipped": 0}},
                              ["de"], [], open_store("/nonexistent-briefs"), 60)
    [record] = deliver(messages, DeliveryConfig(
        notification_blocks=["custom-webhook/no-such-block"], retry_delay_seconds=0))
    assert record["status"] == "failed" and record["attempts"] == 0
    assert record["error"].startswith("the block could not be loaded")


def test_e_mail_needs_recipients_and_errors_hide_url_secrets(monkeypatch):
    monkeypatch.setenv("BRIEFS_DELIVERY__NOTIFICATION_BLOCKS", json.dumps([HOOK, SMTP]))
    with pytest.raises(ConfigError, match="delivery.email_to"):
        load_config("tiny")
    error = describe(RuntimeError("POST https://hooks.slack.com/services/T0/B0/XYZ?a=1 and "
                                  "mailto://user:pass@smtp.example.org:587/?to=x failed"))
    assert error == ("RuntimeError: POST https://hooks.slack.com/... and "
                     "mailto://smtp.example.org:587/... failed")


def test_delivery_stops_at_its_time_limit_and_records_what_was_not_sent():
    """A server that never answers in time cannot hold the run's end: retries stop at
    delivery.max_seconds, and the messages after it are recorded as not sent."""
    manifest = {"run_id": "r", "started_at": RUN_DATE, "parameters": {},
                "counts": {"total": 1, "succeeded": 1, "failed": 0, "skipped": 0}}
    messages = build_messages(manifest, ["en", "de", "fr"], [{"summaries": {"de": "x"}}],
                              open_store("/nonexistent-briefs"), 60)
    settings = DeliveryConfig(notification_blocks=["custom-webhook/slow"], retries=10,
                              retry_delay_seconds=0.2, max_seconds=0.5)

    def slow_server(message) -> None:
        time.sleep(0.3)
        raise TimeoutError("the server did not answer")

    started = time.monotonic()
    records = deliver(messages, settings, load=lambda ref, settings: slow_server)

    assert time.monotonic() - started < 2  # not 3 languages × 11 attempts × 0.5 s
    assert [r["status"] for r in records] == ["failed"] * 3
    assert records[0]["attempts"] >= 1 and sum(r["attempts"] for r in records) <= 3
    assert records[-1] == {"block": "custom-webhook/slow", "language": "fr",
                           "status": "failed", "attempts": 0,
                           "error": "not sent: delivery.max_seconds (0.5) had passed"}
