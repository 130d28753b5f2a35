"""The docs: the site builds with `mkdocs build --strict` (what `make docs` runs), the README
stays short, and the pages generated from the code (docs/hooks.py) hold what the code has."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

README_LIMIT = 8192  # bytes: the README is the overview, the docs hold the rest


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=REPO,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return out


def section(html: str, heading_id: str) -> str:
    """The HTML from the heading with this id to the next heading of the same level."""
    start = re.search(rf'<h([1-6]) id="{heading_id}"', html)
    assert start, f"no heading #{heading_id}"
    end = html.find(f"<h{start.group(1)} ", start.end())
    return html[start.start():end if end != -1 else len(html)]


def test_the_readme_is_short_and_links_pages_that_exist():
    readme = (REPO / "README.md").read_bytes()
    assert len(readme) <= README_LIMIT, f"README.md is {len(readme)} bytes, over {README_LIMIT}"
    links = re.findall(r"\]\((docs/[^)#]+)", readme.decode())
    assert links
    assert [link for link in links if not (REPO / link).is_file()] == []


def test_the_configuration_reference_has_every_top_level_key(site: Path):
    from briefs.tasks.core.config import BriefsConfig

    html = (site / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "config-reference" not in html  # the marker was replaced
    reference = section(html, "reference")
    missing = [name for name in BriefsConfig.model_fields
               if f"<td><code>{name}</code></td>" not in reference]
    assert missing == []
    assert "<td><code>batching.max_tokens</code></td>" in reference  # nested keys, dotted


def test_the_guards_page_has_every_warning_code(site: Path):
    from briefs.tasks.quality.warnings import CODES

    html = (site / "guards" / "index.html").read_text(encoding="utf-8")
    table = section(html, "warning-codes")
    missing = [code for code in CODES if f"<td><code>{code}</code></td>" not in table]
    assert missing == []


def test_the_layout_names_every_module(site: Path):
    html = (site / "architecture" / "index.html").read_text(encoding="utf-8")
    modules = [path for folder in ("flows", "tasks", "configs")
               for path in (REPO / folder).rglob("*.py") if path.name != "__init__.py"]
    assert [str(path.relative_to(REPO)) for path in modules
            if f"<td><code>{path.name}</code></td>" not in html] == []


def test_the_pictures_the_browser_tests_save_are_shown(site: Path):
    for page, picture in [("operating", "run-form.png"), ("output", "digest-phone.png")]:
        assert f'src="../img/{picture}"' in (site / page / "index.html").read_text("utf-8")
        assert (site / "img" / picture).is_file()
