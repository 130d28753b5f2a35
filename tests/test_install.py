"""An installed copy (a wheel, not the checkout) runs: the presets and the tiny models'
training text travel as package data, as they must in the worker image."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO, SEEDS


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("prefect_api")
def test_a_wheel_installed_outside_the_checkout_runs_the_tiny_preset(tmp_path: Path):
    # The wheel is built from a copy of the project's files, so the checkout stays clean.
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    source = tmp_path / "src"
    for name in files:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
                    source], check=True, capture_output=True)
    [wheel] = (tmp_path / "dist").glob("briefs-*.whl")
    # One import package, briefs: nothing named tasks, flows or configs at the top of
    # site-packages, where a user's own tasks.py or flows/ would shadow it (or it theirs).
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"briefs"}, tops
    installed = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", installed, wheel], check=True,
                   capture_output=True)
    shutil.rmtree(source)  # nothing of the source tree is left to fall back on

    # The installed packages come first on the path; the dependencies from this venv; the
    # session's Prefect API (no ephemeral one to start).
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PYTHONPATH": str(installed), "PREFECT_API_URL": PREFECT_API_URL.value()}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [sys.executable, "-c", "import briefs.configs as c, briefs.flows as f, "
         "briefs.tasks.models.tiny as t; print(c.__file__, f.__file__, t.TRAINING_TEXT)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(path.startswith(str(installed)) for path in where), where

    shutil.copytree(SEEDS, elsewhere / "seeds")
    run = subprocess.run([installed / "bin" / "briefs", "run", "seeds", "out", "--models",
                          "tiny", "--languages", "de"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    manifest = json.loads((elsewhere / "out" / "manifest.json").read_text())
    assert manifest["counts"]["succeeded"] == manifest["counts"]["total"] > 0
