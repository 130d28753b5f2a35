"""Delivery: after a night's run, a short message per digest language through Prefect blocks.

Each block named in `delivery.notification_blocks` ('<block-type>/<name>') gets one message
per digest language: the subject gives the date and counts, the body the run's counts and
a link to `digests/<lang>.html` (a presigned S3 URL valid `delivery.link_expiry_seconds`,
or the file:// URI of a local folder). Two kinds of block:

- any Prefect notification block (slack-webhook, custom-webhook, ms-teams-webhook, ...):
  `block.notify(body, subject)`, with its failures raised (Apprise blocks otherwise only
  log them);
- `email-server-credentials` (prefect-email's SMTP block): an e-mail to `delivery.email_to`.

A failed send is tried again `delivery.retries` times, `delivery.retry_delay_seconds` apart
(tenacity), then recorded as failed. `deliver` never raises for a failed delivery.
"""

from __future__ import annotations

import inspect
import logging
import re
import smtplib
import ssl
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import tenacity

from briefs.tasks.core.config import DeliveryConfig
from briefs.tasks.output.storage import Store

log = logging.getLogger(__name__)

EMAIL_BLOCK_TYPE = "email-server-credentials"
SMTP_TIMEOUT_SECONDS = 30.0  # per connect and per answer: a dead mail server cannot hold a run
_URL_KEPT = r"\1\2/..."  # scheme and host
# Scheme and userinfo bounded: unbounded, a long run of "a." made every position rescan the rest.
_URL = re.compile(r"\b([a-z][a-z0-9+.-]{0,31}://)(?:[^@/\s'\"]{0,256}@)?([^/\s'\"?#]+)[^\s'\"]*",
                  re.I)


@dataclass(frozen=True)
class Message:
    """One language's message: what every block sends."""

    language: str
    subject: str
    body: str
    link: str


Send = Callable[[Message], None]


def language_counts(briefs: list[dict[str, Any]]) -> Counter[str]:
    """Briefs per language, as the digests hold them (brief documents, written or reused)."""
    return Counter(lang for brief in briefs for lang in brief.get("summaries", {}))


def build_message(manifest: dict[str, Any], language: str, briefed: int, link: str) -> Message:
    """The message for one language: date and counts in the subject, the run's counts, the
    digest's link and where the manifest lies in the body."""
    counts = manifest["counts"]
    parameters = manifest.get("parameters", {})
    date = parameters.get("date") or manifest["started_at"][:10]
    dest = parameters.get("dest", "")
    body = "\n".join([
        f"Briefs of {date} in {language}: {briefed} in the digest.",
        f"The run {manifest['run_id']}: {counts['total']} articles, {counts['succeeded']} "
        f"briefed now, {counts['skipped']} skipped (unchanged or unsupported), "
        f"{counts['failed']} failed.",
        f"Digest: {link}",
        f"Manifest (every article's status and reason): {dest.rstrip('/')}/manifest.json",
    ])
    return Message(language, f"Briefs {date} ({language}): {briefed} briefed, "
                             f"{counts['failed']} failed", body, link)


def build_messages(manifest: dict[str, Any], languages: list[str],
                   briefs: list[dict[str, Any]], store: Store,
                   link_expiry_seconds: int) -> list[Message]:
    """One message per digest language, each with its digest's link (the HTML digest)."""
    counts = language_counts(briefs)
    messages = []
    for lang in languages:
        key = f"digests/{lang}.html"
        try:
            link = store.share_link(key, link_expiry_seconds)
        except Exception as exc:  # no link: say where the digest is
            log.warning("no shareable link to %s: %s", store.uri_of(key), exc)
            link = store.uri_of(key)
        messages.append(build_message(manifest, lang, counts[lang], link))
    return messages


def deliver(messages: list[Message], settings: DeliveryConfig,
            load: Callable[[str, DeliveryConfig], Send] | None = None) -> list[dict[str, Any]]:
    """Send every message through every block of `settings.notification_blocks`.

    Returns a record per (block, language): `block`, `language`, `status` ("sent" or
    "failed"), `attempts`, and `error` when it failed. A block that cannot be loaded fails
    each of its messages with 0 attempts. Never raises for a failed delivery.
    """
    load = load or load_sender
    ends = time.monotonic() + settings.max_seconds
    records: list[dict[str, Any]] = []
    for ref in settings.notification_blocks:
        if time.monotonic() >= ends:
            records += [_not_sent(ref, m, settings) for m in messages]
            continue
        try:
            send = load(ref, settings)
        except Exception as exc:
            error = f"the block could not be loaded: {describe(exc)}"
            log.warning("delivery through %s: %s", ref, error)
            records += [{"block": ref, "language": m.language, "status": "failed",
                         "attempts": 0, "error": error} for m in messages]
            continue
        records += [send_with_retries(send, ref, m, settings, ends)
                    if time.monotonic() < ends else _not_sent(ref, m, settings)
                    for m in messages]
    return records


def _not_sent(ref: str, message: Message, settings: DeliveryConfig) -> dict[str, Any]:
    return {"block": ref, "language": message.language, "status": "failed", "attempts": 0,
            "error": f"not sent: delivery.max_seconds ({settings.max_seconds:g}) had passed"}


def send_with_retries(send: Send, ref: str, message: Message, settings: DeliveryConfig,
                      ends: float | None = None) -> dict[str, Any]:
    """Send one message, trying again `settings.retries` times while no retry would start
    after `ends` (a `time.monotonic()`); the record of how it went."""
    record: dict[str, Any] = {"block": ref, "language": message.language, "attempts": 0}

    def attempt() -> None:
        record["attempts"] += 1
        send(message)

    stop = tenacity.stop_after_attempt(settings.retries + 1)
    if ends is not None:
        stop |= tenacity.stop_before_delay(max(ends - time.monotonic(), 0))
    retrying = tenacity.Retrying(
        stop=stop,
        wait=tenacity.wait_fixed(settings.retry_delay_seconds),
        before_sleep=lambda state: log.warning(
            "delivery of %s through %s, attempt %d failed: %s; trying again in %.0f s",
            message.language, ref, state.attempt_number, describe(state.outcome.exception()),
            settings.retry_delay_seconds),
        reraise=True)
    try:
        retrying(attempt)
    except Exception as exc:
        log.warning("delivery of %s through %s failed after %d attempts: %s",
                    message.language, ref, record["attempts"], describe(exc))
        return {**record, "status": "failed", "error": describe(exc)}
    return {**record, "status": "sent"}


def describe(exc: BaseException) -> str:
    """An error for the manifest and the log: URLs cut to scheme and host (a webhook URL's
    path or query may hold its token), credentials in them dropped."""
    return f"{type(exc).__name__}: {_URL.sub(_URL_KEPT, str(exc))}"


def load_sender(ref: str, settings: DeliveryConfig) -> Send:
    """Load the block `ref` ('<block-type>/<name>') from the Prefect API: a sender of
    messages through it."""
    from prefect.blocks.core import Block

    if ref.split("/")[0] == EMAIL_BLOCK_TYPE:
        import prefect_email  # noqa: F401 (registers its block types, should plugins be off)
    block = Block.load(ref)
    if block.get_block_type_slug() == EMAIL_BLOCK_TYPE:
        return lambda message: send_email(block, settings, message)
    if not callable(getattr(block, "notify", None)):
        raise TypeError(f"{ref} is a {type(block).__name__} block, which cannot notify; "
                        f"name a notification block or an {EMAIL_BLOCK_TYPE} block")
    return lambda message: notify(block, message)


def notify(block: Any, message: Message) -> None:
    """`block.notify(body, subject)`, raising when the block fails to send."""
    raising = getattr(block, "raise_on_failure", None)
    with raising() if callable(raising) else nullcontext():
        sent = block.notify(message.body, message.subject)
        if inspect.isawaitable(sent):  # an async block, or called where a loop runs
            from prefect.utilities.asyncutils import run_coro_as_sync

            run_coro_as_sync(sent)


def send_email(credentials: Any, settings: DeliveryConfig, message: Message) -> None:
    """E-mail the message to `settings.email_to` through an EmailServerCredentials block."""
    sender = settings.email_from or credentials.username
    if not settings.email_to or not sender:
        raise ValueError("an e-mail needs delivery.email_to and a sender (delivery.email_from "
                         "or the block's username)")
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = ", ".join(settings.email_to)
    email.set_content(message.body)
    with smtp_connection(credentials) as server:
        server.send_message(email)


def smtp_connection(credentials: Any, timeout: float = SMTP_TIMEOUT_SECONDS) -> smtplib.SMTP:
    """A connection as prefect-email's `EmailServerCredentials.get_server` makes it (SSL,
    STARTTLS or INSECURE, login when the block has a username), with a timeout."""
    from prefect_email.credentials import SMTPServer, SMTPType

    host = credentials.smtp_server
    host = host.value if isinstance(host, SMTPServer) else host
    smtp_type = SMTPType[credentials.smtp_type] if isinstance(credentials.smtp_type, str) \
        else credentials.smtp_type
    port = credentials.smtp_port or smtp_type.value
    context = ssl.create_default_context()
    if not credentials.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if smtp_type == SMTPType.SSL:
        server = smtplib.SMTP_SSL(host, port, context=context, timeout=timeout)
    else:
        server = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if smtp_type == SMTPType.STARTTLS:
            server.starttls(context=context)
        if credentials.username:
            if smtp_type == SMTPType.INSECURE:
                log.warning("SMTP login to %s without TLS: the password travels in clear", host)
            server.login(credentials.username, credentials.password.get_secret_value())
    except BaseException:
        server.close()
        raise
    return server
