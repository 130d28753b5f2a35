"""The night a run covers: `{date}` in source and dest URIs, yesterday by default."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

DATE_FORMAT = "%Y-%m-%d"
DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"  # a night in a URI, as `{date}` is filled


def run_date(given: str | None, timezone: str, now: dt.datetime | None = None) -> str:
    """`given` (YYYY-MM-DD) checked, or yesterday in `timezone` as seen at `now`."""
    if given:
        try:
            return dt.datetime.strptime(given, DATE_FORMAT).date().isoformat()
        except ValueError:
            raise ValueError(f"date {given!r} is not a date in the form YYYY-MM-DD") from None
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(timezone))
    return (moment.date() - dt.timedelta(days=1)).isoformat()


def fill_date(uri: str, day: str) -> str:
    """Put the run's date into a URI template such as `s3://news-in/{date}/`."""
    return uri.replace("{date}", day)


def night_of(uri: str, template: str) -> str | None:
    """The night (YYYY-MM-DD) whose folder under the URI template holds `uri`; "" when the
    template has no `{date}` and holds it; None when it is not under the template (whole
    path segments: `s3://news-in` does not hold `s3://news-internal/x`) or the folder's
    date is no date (`2026-13-45`)."""
    if "{date}" not in template:
        return "" if _under(uri, template) else None
    after = template.partition("{date}")[2]
    found = re.match(re.escape(source_prefix(template)) + f"({DATE_PATTERN})"
                     + re.escape(after), uri)
    if not found or not _under(uri, fill_date(template, found[1])):
        return None
    try:
        dt.date.fromisoformat(found[1])
    except ValueError:
        return None
    return found[1]


def _under(uri: str, folder: str) -> bool:
    """Whether `uri` lies in `folder` (a URI prefix taken as whole path segments)."""
    return uri.startswith(folder if folder.endswith("/") else folder + "/")


def source_prefix(template: str) -> str:
    """The part of a URI template before `{date}`: where every night's objects are."""
    return template.partition("{date}")[0]
