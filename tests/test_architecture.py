"""The layout and the import rule (docs/architecture.md): checked, so a violation fails CI."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.helpers import REPO

TASKS = REPO / "tasks"


def contracts() -> list[dict]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"]


def test_the_import_rule_holds():
    lint = subprocess.run([Path(sys.executable).with_name("lint-imports"), "--no-cache"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
    assert f"Contracts: {len(contracts())} kept, 0 broken." in lint.stdout


def test_every_sub_package_of_tasks_is_held_to_the_plain_rule():
    """A new sub-package cannot escape the rule by not being named in it."""
    [plain] = [c for c in contracts() if c["type"] == "forbidden"]
    packages = {f"briefs.tasks.{p.name}" for p in TASKS.iterdir() if (p / "__init__.py").exists()}
    assert set(plain["source_modules"]) == packages
    assert {"prefect", "briefs.tasks.steps", "briefs.flows"} <= set(plain["forbidden_modules"])


def test_tasks_keeps_few_modules_at_its_top_and_small_sub_packages():
    top = [p.name for p in TASKS.glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= 8, top
    for package in (p for p in TASKS.iterdir() if (p / "__init__.py").exists()):
        modules = [m.name for m in package.glob("*.py") if m.name != "__init__.py"]
        assert 2 <= len(modules) <= 8, (package.name, modules)
