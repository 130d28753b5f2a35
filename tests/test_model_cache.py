"""Built and converted models in a shared cache: a build killed halfway, a folder copied in
part, two processes building the same model at once; never a half-written model used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from briefs.tasks.models.cache import build_once, is_built

# A build that writes its files slowly, so a test can kill it halfway (the same code path a
# CTranslate2 conversion or a tiny model build takes: only `build` differs).
SLOW_BUILD = """
import sys, time
from pathlib import Path
from briefs.tasks.models.cache import build_once

def build(folder: Path) -> None:
    (folder / "config.json").write_text("{}")
    Path(sys.argv[2]).touch()  # halfway: the test may kill us now
    time.sleep(float(sys.argv[3]))
    (folder / "model.bin").write_bytes(b"weights" * 1000)

build_once(Path(sys.argv[1]), build)
"""


def slow_build(target: Path, halfway: Path, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(target), str(halfway),
                             str(seconds)], start_new_session=True)


def whole(folder: Path) -> None:
    (folder / "config.json").write_text("{}")
    (folder / "model.bin").write_bytes(b"weights" * 1000)


def test_a_build_killed_halfway_leaves_no_model_and_the_next_use_builds_it(tmp_path: Path):
    target, halfway = tmp_path / "cache" / "model-rev", tmp_path / "halfway"
    build = slow_build(target, halfway, 60)
    deadline = time.monotonic() + 60
    while not halfway.exists():
        assert build.poll() is None and time.monotonic() < deadline, "the build did not start"
        time.sleep(0.05)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait(timeout=30)

    assert not target.exists() and not is_built(target)  # nothing half-written in place
    assert build_once(target, whole) == target
    assert is_built(target) and (target / "model.bin").stat().st_size == 7000


def test_a_partial_folder_in_place_is_replaced_not_used(tmp_path: Path):
    """A folder at the target without the completion marker: a copy onto a shared volume cut
    short, or a cache written before builds were marked."""
    target = tmp_path / "model-rev"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / "model.bin").write_bytes(b"trunc")  # cut short

    build_once(target, whole)
    assert is_built(target) and (target / "model.bin").read_bytes() == b"weights" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["model-rev"]  # no staging or stale left


def test_two_processes_building_the_same_model_both_get_the_whole_build(tmp_path: Path):
    target = tmp_path / "cache" / "model-rev"
    builds = [slow_build(target, tmp_path / f"halfway-{i}", 1) for i in range(2)]
    assert [b.wait(timeout=120) for b in builds] == [0, 0]
    assert is_built(target) and (target / "model.bin").stat().st_size == 7000
    assert [p.name for p in target.parent.iterdir()] == ["model-rev"]


def test_a_finished_build_is_not_built_again(tmp_path: Path):
    target = tmp_path / "model-rev"
    build_once(target, whole)
    calls = []
    build_once(target, lambda folder: calls.append(folder))
    assert calls == []
