"""A test whose prerequisite is missing (the shared corpus, Chromium) skips on a workstation and
fails in CI, so CI cannot go green without it; the session's temporary files go with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

TINY_TEST = """
from tests.helpers import corpus_or_skip


def test_reads_the_corpus():
    corpus_or_skip()
"""


def run_tiny_test(tmp_path: Path, ci: str | None) -> tuple[subprocess.CompletedProcess, Path]:
    """pytest on a one-test file that needs a corpus that is not there; its own TMPDIR."""
    (tmp_path / "test_tiny.py").write_text(TINY_TEST)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(temp),
           "BRIEFS_CORPUS": str(tmp_path / "no-corpus-here")}
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf",
                           "test_tiny.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    return done, temp


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("ci", "exit_code", "outcome"), [
    (None, 0, "1 skipped"), ("", 0, "1 skipped"), ("true", 1, "1 failed")])
def test_a_missing_corpus_skips_locally_and_fails_in_ci(tmp_path, ci, exit_code, outcome):
    done, temp = run_tiny_test(tmp_path, ci)
    report = done.stdout + done.stderr
    assert done.returncode == exit_code, report
    assert outcome in report and "the shared test corpus is absent" in report
    assert str(tmp_path / "no-corpus-here") in report  # says where it looked
    assert list(temp.iterdir()) == []  # its PREFECT_HOME was removed at exit
