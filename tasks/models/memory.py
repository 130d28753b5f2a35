"""The process's allocator: glibc's malloc arenas, which decide how much freed memory a long
run keeps (docs/benchmarks.md#memory)."""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import sys

M_ARENA_MAX = -8  # mallopt's parameter for the number of arenas (glibc's malloc.h)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)


def limit_malloc_arenas(arenas: int | None) -> bool:
    """Cap glibc's malloc arenas of this process at `arenas`; True when the cap was set.

    glibc gives each new thread an arena of its own, up to 8 per core, and an arena keeps
    what was freed in it: with Prefect's task threads and the engines' own, a night's RSS
    climbs by a gigabyte. None, a MALLOC_ARENA_MAX in the environment (glibc read it at
    start) or a C library without `mallopt` leave the allocator as it is."""
    if arenas is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    return bool(mallopt and mallopt(M_ARENA_MAX, arenas))


def release_freed_memory() -> bool:
    """Give the memory freed in every arena back to the system (glibc's `malloc_trim`), as a
    long run does after each group: arenas made before the cap keep what they freed otherwise.
    False where the C library has no `malloc_trim`."""
    trim = getattr(_libc(), "malloc_trim", None)
    return bool(trim and trim(0))


def free_unreachable() -> None:
    """Free now what only reference cycles still hold (a torch model sits in some), not at
    Python's next full collection, and give it back to the system."""
    gc.collect()
    release_freed_memory()


def release_gpu_cache() -> None:
    """Hand the blocks torch's CUDA allocator keeps cached back to the driver (a process that
    released models); nothing where torch has not used CUDA."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
