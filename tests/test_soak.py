"""A small soak in `make test`: 100 articles, 10% S3 faults, one SIGKILL and a resume."""

from __future__ import annotations

import pytest

from tests.conftest import corpus_or_skip
from tests.soak import soak

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_small_soak_loses_and_repeats_nothing():
    corpus_or_skip()
    from prefect.settings import PREFECT_API_URL

    report = soak(100, 0.10, env={"PREFECT_API_URL": PREFECT_API_URL.value(),
                                  "BRIEFS_BATCHING__ARTICLES_PER_TASK": "10"})
    print("\n".join(report.lines()))
    assert report.expected == 100 and report.briefed + report.failed == 100
    assert report.failed == sum(report.failure_reasons.values())  # each with its reason
    assert (report.lost, report.duplicates) == (0, 0)
    assert report.faults["503"] > 0 and report.faults["dropped"] > 0
    assert 0 < report.killed_after < 100
