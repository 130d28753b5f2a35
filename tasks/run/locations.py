"""Where a run may read and write: `storage.allowed_sources` and `storage.allowed_dests`.

A pattern is a URI prefix (`s3://news-in/`, `/srv/news/`) in which `{date}` stands for a night
(YYYY-MM-DD) and `*` for any characters within one path segment; it covers what lies under
it, whole segments only (`s3://news-in/` does not cover `s3://news-internal/`). Local paths
are compared resolved, so `..` and symbolic links cannot lead out of an allowed folder, and a
local path never matches an S3 pattern, nor S3 a local one.

With no patterns configured, a run from a deployment (the schedule, an editor's form, an
event) may use only its deployment's own `source` and `dest`; a run from the command line may
use any (the caller's own shell and credentials). For a deployment's run the patterns come
from the deployment's own configuration (its preset or config, and the worker's
environment), never from a config file the run names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from briefs.tasks.core.config import StorageConfig
from briefs.tasks.run.nights import DATE_PATTERN

SEGMENT = r"[^/]*"


def normalized(uri: str) -> str:
    """`uri` as patterns are matched against it: `s3://bucket/prefix/`, or an absolute,
    resolved local path; always ending in `/`."""
    parsed = urlparse(uri)
    if parsed.scheme.lower() == "s3":
        prefix = parsed.path.lstrip("/")
        return f"s3://{parsed.netloc}/{prefix}".rstrip("/") + "/"
    path = parsed.path if parsed.scheme.lower() == "file" else uri
    return str(Path(path).expanduser().resolve()).rstrip("/") + "/"


def _regex(pattern: str) -> re.Pattern[str]:
    """The pattern as a regular expression over normalized URIs: a prefix of whole segments."""
    parts = re.split(r"(\{date\}|\*)", normalized(pattern))
    body = "".join(DATE_PATTERN if p == "{date}" else SEGMENT if p == "*" else re.escape(p)
                   for p in parts)
    return re.compile(body)


def allows(pattern: str, uri: str) -> bool:
    """Whether `uri` lies under `pattern`."""
    return _regex(pattern).match(normalized(uri)) is not None


@dataclass(frozen=True)
class Allowed:
    """Where a run may read (`sources`) and write (`dests`): pattern lists, None for
    anywhere; `configured` says each came from `storage.allowed_*` (else it is a
    deployment's own value)."""

    sources: list[str] | None
    dests: list[str] | None
    configured: tuple[bool, bool] = (False, False)

    @classmethod
    def of(cls, storage: StorageConfig, deployment_parameters: Mapping[str, Any] | None
           ) -> Allowed:
        """The configured patterns, else for a run from a deployment its own `source` and
        `dest` (nothing when it has none); a run from no deployment: anywhere."""
        def patterns(configured: list[str], name: str) -> list[str] | None:
            if configured:
                return list(configured)
            if deployment_parameters is None:
                return None
            own = deployment_parameters.get(name)
            return [str(own)] if own else []

        return cls(patterns(storage.allowed_sources, "source"),
                   patterns(storage.allowed_dests, "dest"),
                   (bool(storage.allowed_sources), bool(storage.allowed_dests)))

    def problems(self, source: str, dest: str) -> list[str]:
        """One line for each of `source` and `dest` outside what is allowed."""
        found = (location_problem("source", source, self.sources, self.configured[0]),
                 location_problem("dest", dest, self.dests, self.configured[1]))
        return [problem for problem in found if problem]


def location_problem(name: str, uri: str, patterns: list[str] | None,
                     configured: bool) -> str | None:
    """One line when `uri` is outside `patterns`, with the way out; None when it is inside."""
    if patterns is None or any(allows(p, uri) for p in patterns):
        return None
    setting = f"storage.allowed_{name}s"
    if configured:
        return (f"{name} {uri} is outside {setting} ({', '.join(patterns)}): give a {name} "
                f"inside them, or have the operator add this one to {setting}")
    verb = "read from" if name == "source" else "write to"
    own = patterns[0] if patterns else "none"
    return (f"{name} {uri} is outside its deployment's own {name} ({own}): a run "
            f"from a deployment may only {verb} there while {setting} is empty; give a "
            f"{name} inside it, or have the operator list this one in {setting}")
