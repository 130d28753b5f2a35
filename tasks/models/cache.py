"""Where built and converted models are kept, and building one there exactly once."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """Where built and converted models are kept: `BRIEFS_CACHE_DIR`, else ~/.cache/briefs."""
    base = os.environ.get("BRIEFS_CACHE_DIR") or Path.home() / ".cache" / "briefs"
    return Path(base) / kind


COMPLETE = ".briefs-complete"  # written into a build's folder last, before it is renamed


def is_built(target: Path) -> bool:
    """Whether `target` is a whole build: its completion marker is there."""
    return (target / COMPLETE).exists()


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target`, built by `build` into a hidden staging folder, marked complete and renamed
    into place whole. A process killed mid-build leaves only its staging folder; a folder at
    `target` without the marker (a copy cut short) is replaced; another process finishing the
    same build first wins."""
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name[:60]}-", dir=target.parent))
    try:
        build(staging)
        (staging / COMPLETE).touch()
        _move_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`, first moving aside a partial folder found there."""
    for _ in range(3):
        try:
            staging.rename(target)
            return
        except OSError:
            if is_built(target):  # another process finished the same build first
                return
            stale = target.with_name(f".{target.name[:60]}-partial-{uuid.uuid4().hex[:8]}")
            with contextlib.suppress(FileNotFoundError):  # another process moved it first
                target.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
    raise OSError(f"cannot put the build of {target} into place")
