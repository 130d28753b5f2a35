"""A local DEST whose disk fills up mid-run: a 64 KiB tmpfs mounted for the test (root is
needed; without it the test skips, and fails in CI). The briefs that do not fit fail alone
with the reason, none is half-written, the run ends Failed saying what to do, and a re-run
once there is space completes the night with the briefs already written reused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from briefs.flows.briefs_flow import briefs
from tests.corpus_sample import summaries
from tests.helpers import corpus_or_skip, missing

pytestmark = pytest.mark.usefixtures("prefect_api")
ARTICLES = 20  # about 3.5 KB of brief each: a 64 KiB disk takes some, not all


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        missing(f"a tmpfs cannot be mounted here (needs root): {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=False)


def table_rows() -> list[dict]:
    """The rows of the run's table artifact (every article's fate), as the UI shows them."""
    from prefect.artifacts import Artifact

    table = Artifact.get("briefs-articles")
    assert table is not None
    data = table.data
    return json.loads(data) if isinstance(data, str) else data


def test_a_full_disk_fails_what_does_not_fit_and_a_rerun_completes_the_night(
        small_disk: Path, tmp_path: Path):
    source, dest = tmp_path / "in", small_disk / "out"
    source.mkdir()
    for row in summaries(corpus_or_skip(), ARTICLES):
        (source / f"{row['id']}.txt").write_text(" ".join(row["article"].split()[:120]))

    state = briefs(str(source), str(dest), languages=["de"], models="tiny", return_state=True)

    assert state.is_failed()
    assert state.message.startswith("the night's digests and manifest could not be written: "
                                    f"{dest}/digests/"), state.message
    assert "No space left on device" in state.message and "run again" in state.message
    first = {p.name: json.loads(p.read_text()) for p in (dest / "briefs").iterdir()}
    assert f"; {len(first)} of {ARTICLES} briefed, {ARTICLES - len(first)} failed: " in (
        state.message)
    assert 0 < len(first) < ARTICLES  # some fitted, then the disk was full
    assert not [p for p in dest.rglob(".*")]  # no staging file left behind
    failed = [r for r in table_rows() if r["status"] == "failed"]
    assert len(failed) == ARTICLES - len(first), failed
    unwritten = [r for r in failed if r["reason"].startswith("the brief could not be written")]
    assert unwritten and all("No space left on device" in r["reason"] for r in unwritten)
    others = len(failed) - len(unwritten)  # random weights: a translation may come out empty

    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    again = briefs(str(source), str(dest), languages=["de"], models="tiny", return_state=True)

    assert again.is_completed(), again.message
    manifest = json.loads((dest / "manifest.json").read_text())
    # The briefs that did not fit are written now; those that did are up to date (skipped).
    assert manifest["counts"] == {"total": ARTICLES, "succeeded": len(unwritten),
                                  "failed": others, "skipped": len(first)}
    briefed = {p.name: json.loads(p.read_text()) for p in (dest / "briefs").iterdir()}
    assert len(briefed) == ARTICLES - others
    assert all(briefed[name] == document for name, document in first.items())  # reused
    assert (dest / "digests" / "de.html").is_file()
