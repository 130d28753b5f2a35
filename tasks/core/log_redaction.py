"""Keep AWS credentials out of log records from boto3, botocore, s3transfer and urllib3.

At DEBUG, botocore logs every signed request: the `Authorization` header names the access key
id (`Credential=AKIA.../...`) and carries the signature, a session's `X-Amz-Security-Token`
travels in headers and presigned URLs, and an error can print `aws_secret_access_key=...`.

`install()` wraps the process's log record factory: a record from those loggers is formatted
and redacted the moment it is made, so no handler, filter or formatter ever sees the secret,
whichever handlers Prefect or anyone else attaches later, at any level, in any thread. A filter
would not do: a handler filter is lost with every handler added after it, and a logger filter
does not apply to the child loggers (`botocore.endpoint`, `botocore.auth`) that do the logging.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

REDACTED = "[REDACTED]"
# Loggers (and their children) whose records are redacted.
AWS_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")

_VALUE = r"[^\s,;&'\"<>}\]]+"
_SECRETS = [
    # SigV4 header and presigned URL: Credential=<access key id>/<date>/<region>/<service>/...
    re.compile(r"((?:X-Amz-)?Credential=)[^/%\s,;&'\"]+", re.IGNORECASE),
    # Signature=<hex> (header, URL), `Signature:\n<hex>` (botocore.auth), X-Amz-Signature=...
    re.compile(r"((?:X-Amz-)?Signature\s*[=:]\s*)" + _VALUE, re.IGNORECASE),
    # Any name of a key, secret or token followed by its value: aws_secret_access_key='...',
    # 'X-Amz-Security-Token': b'...', x-amz-security-token:..., <SecretAccessKey>...
    re.compile(r"((?:secret[_-]?access[_-]?key|access[_-]?key[_-]?id|session[_-]?token"
               r"|security[_-]?token)['\"]?\s*[:=>]\s*(?:b?['\"])?)" + _VALUE, re.IGNORECASE),
    # The legacy (SigV2) header: `Authorization: AWS <access key id>:<signature>`.
    re.compile(r"(Authorization['\"]?\s*[:=]\s*(?:b?['\"])?AWS )" + _VALUE, re.IGNORECASE),
]

RecordFactory = Callable[..., logging.LogRecord]


def redact(text: str) -> str:
    """`text` with every AWS access key id, signature, secret key and session token replaced."""
    for pattern in _SECRETS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


def is_aws_logger(name: str) -> bool:
    """Whether records of the logger `name` are redacted."""
    return name.split(".", 1)[0] in AWS_LOGGERS


def redact_record(record: logging.LogRecord) -> None:
    """Replace the record's message (and formatted traceback) with redacted text, in place."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep its parts, redacted, instead of an error
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


def _redacting(factory: RecordFactory) -> RecordFactory:
    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if is_aws_logger(record.name):
            redact_record(record)
        return record

    make_record.redacts_aws_credentials = True  # type: ignore[attr-defined]
    return make_record


def install() -> None:
    """Redact AWS credentials from the records of AWS_LOGGERS in this process (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "redacts_aws_credentials", False):
        logging.setLogRecordFactory(_redacting(factory))
