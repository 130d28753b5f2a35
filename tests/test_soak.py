"""A small soak in `make test`: 100 articles, every S3 fault kind at 10%, one SIGKILL and a
resume; every article is briefed exactly once and the worker's memory stays flat."""

from __future__ import annotations

import pytest

from tests.fault_proxy import FAULT_KINDS
from tests.helpers import corpus_or_skip
from tests.soak import GROWTH_ALLOWED, Memory, Report, soak

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_small_soak_briefs_every_article_once_with_flat_memory():
    corpus_or_skip()
    from prefect.settings import PREFECT_API_URL

    report = soak(100, 0.10, PREFECT_API_URL.value(), articles_per_task=10)
    print("\n".join(report.lines()))

    assert report.expected == 100
    assert (report.briefed, report.not_briefed) == (100, []), report.not_briefed
    assert (report.lost, report.briefed_twice) == ([], {})
    assert all(report.faults[kind] > 0 for kind in FAULT_KINDS), report.faults
    assert 0 < report.killed_after < 100
    growth = report.memory.growth()
    assert growth is not None and growth <= GROWTH_ALLOWED, report.memory.line()
    assert report.problems() == []


def test_memory_growth_compares_the_end_with_the_start_of_steady_state():
    rising = Memory([(float(t), 500_000 + 10_000 * t) for t in range(40)], steady_at=10.0)
    assert rising.baseline_kib() == 500_000 + 10_000 * 24  # peak of the first half, t 10..24
    assert rising.late_kib() == 500_000 + 10_000 * 39  # peak of the last quarter
    assert rising.problem() == "memory: worker RSS grew 20.3%, more than 10%"
    loading = Memory([(0.0, 100_000), *((float(t), 600_000) for t in range(1, 20))],
                     steady_at=5.0)  # models loading before steady state do not count
    assert loading.growth() == 0 and loading.problem() is None
    assert Memory([(0.0, 1)] * 20).problem().endswith("growth not measured")  # never steady


def test_a_report_names_every_failed_check():
    report = Report(3, briefed=2, not_briefed=[("s3://in/a.txt", "failed", "why")],
                    briefed_twice={"out/briefs/b.json": 1}, killed_after=1,
                    faults=dict.fromkeys(FAULT_KINDS, 1),
                    memory=Memory([(float(t), 1000) for t in range(10)], steady_at=0.0))
    assert report.problems() == ["briefed 2 of 3; 1 not briefed",
                                 "1 briefed twice: out/briefs/b.json"]
    assert "  failed: s3://in/a.txt: why" in report.lines()
