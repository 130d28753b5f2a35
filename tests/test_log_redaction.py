"""AWS credentials are redacted from the records of the AWS and HTTP loggers, and only there."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from briefs.tasks.core import log_redaction
from briefs.tasks.core.log_redaction import REDACTED, redact

KEY_ID, SECRET, TOKEN = "AKIAFAKEKEYID0000001", "fake/Secret+Key0123456789", "IQoJb3Jp/Z2luX2Vj+=="
SIGNATURE = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

# As botocore, urllib3 and boto3 print them at DEBUG (headers, botocore.auth, a presigned URL).
LINES = [
    f"Sending http request: <AWSPreparedRequest method=GET, headers={{'X-Amz-Security-Token': "
    f"b'{TOKEN}', 'Authorization': b'AWS4-HMAC-SHA256 Credential={KEY_ID}/20261127/us-east-1/"
    f"s3/aws4_request, SignedHeaders=host;x-amz-date, Signature={SIGNATURE}'}}>",
    f"CanonicalRequest:\nGET\n/\n\nhost:s3\nx-amz-security-token:{TOKEN}\n",
    f"Signature:\n{SIGNATURE}",
    f'http://s3:9000 "GET /b/k?X-Amz-Credential={KEY_ID}%2F20261127%2Fus-east-1%2Fs3'
    f"%2Faws4_request&X-Amz-Security-Token={TOKEN}&X-Amz-Signature={SIGNATURE} HTTP/1.1\" 200 5",
    f"Session(aws_access_key_id={KEY_ID}, aws_secret_access_key={SECRET}, "
    f"aws_session_token='{TOKEN}')",
    f"<AccessKeyId>{KEY_ID}</AccessKeyId><SecretAccessKey>{SECRET}</SecretAccessKey>",
    f"headers={{'Authorization': b'AWS {KEY_ID}:{SIGNATURE}'}}",
]


@pytest.mark.parametrize("line", LINES)
def test_redact_removes_key_ids_secrets_tokens_and_signatures(line):
    clean = redact(line)
    assert REDACTED in clean
    for secret in (KEY_ID, SECRET, TOKEN, SIGNATURE):
        assert secret not in clean


def test_redact_keeps_what_is_not_secret():
    line = LINES[0]
    assert "/20261127/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date" in redact(line)
    for harmless in ("Calculating signature using v4 auth.", "Found credentials in environment "
                     "variables.", "Event needs-retry.s3.ListObjectsV2: calling handler"):
        assert redact(harmless) == harmless


class Keep(logging.Handler):
    """A handler that keeps what it is given, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def installed() -> Iterator[None]:
    """log_redaction.install() in this process, undone afterwards."""
    before = logging.getLogRecordFactory()
    log_redaction.install()
    yield
    logging.setLogRecordFactory(before)


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("name", ["botocore.endpoint", "boto3.resources", "s3transfer.tasks",
                                  "urllib3.connectionpool"])
def test_an_aws_logger_record_is_redacted_for_handlers_added_after_install(name):
    logger, keep = logging.getLogger(name), Keep()
    logger.addHandler(keep)  # attached after install(), as Prefect attaches its API handler
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Sending http request: %s", LINES[0])
        try:
            raise ValueError(f"aws_secret_access_key={SECRET}")
        except ValueError:
            logger.debug("failed", exc_info=True)
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
    assert len(keep.lines) == 2 and all(REDACTED in line for line in keep.lines)
    assert not any(s in line for s in (KEY_ID, SECRET, SIGNATURE) for line in keep.lines)


@pytest.mark.usefixtures("installed")
def test_other_loggers_are_untouched_and_install_is_idempotent():
    factory = logging.getLogRecordFactory()
    log_redaction.install()
    assert logging.getLogRecordFactory() is factory
    record = factory("briefs.tasks.steps", logging.INFO, __file__, 1, "key %s", (KEY_ID,), None)
    assert record.getMessage() == f"key {KEY_ID}" and record.args == (KEY_ID,)
