"""Where built and converted models are kept, and building one there exactly once."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """Where built and converted models are kept: `BRIEFS_CACHE_DIR`, else ~/.cache/briefs."""
    base = os.environ.get("BRIEFS_CACHE_DIR") or Path.home() / ".cache" / "briefs"
    return Path(base) / kind


def build_once(target: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """`target`, built by `build` into a hidden staging folder and renamed into place whole;
    a folder holding `marker` is done. Another process finishing the same build first wins."""
    if (target / marker).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name[:60]}-", dir=target.parent))
    try:
        build(staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished the same build first
            if not (target / marker).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
