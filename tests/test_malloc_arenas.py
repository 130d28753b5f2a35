"""The allocator cap that keeps a long night's RSS flat (docs/benchmarks.md#memory): counted in
glibc's own report of its arenas, in a fresh process with eight allocating threads."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import REPO

PROBE = """
import ctypes, sys, tempfile, threading
from briefs.tasks.models.memory import limit_malloc_arenas, release_freed_memory
capped = limit_malloc_arenas(int(sys.argv[1])) if sys.argv[1] != "none" else False
def work():
    for _ in range(200):
        buffers = [ctypes.create_string_buffer(8192) for _ in range(50)]
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
released = release_freed_memory()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile(mode="r") as report:
    stream = ctypes.c_void_p(libc.fopen(report.name.encode(), b"w"))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(capped, released, report.read().count("<heap nr="))
"""


def arenas(cap: str, **env: str) -> tuple[str, str, int]:
    """(capped, released, arenas glibc reports) of a process with eight allocating threads."""
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run([sys.executable, "-c", PROBE, cap], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=60, check=True)
    capped, released, count = done.stdout.split()
    return capped, released, int(count)


def test_the_cap_holds_a_threaded_process_to_its_arenas():
    assert arenas("none")[2] > 2  # glibc's default: an arena per new thread
    assert arenas("2") == ("True", "True", 2)


def test_malloc_arena_max_in_the_environment_wins():
    capped, _, count = arenas("2", MALLOC_ARENA_MAX="3")
    assert capped == "False" and count == 3
