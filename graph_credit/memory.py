"""Memory around large pieces of work: the cyclic collector paused while they allocate, freed
memory handed back to the operating system after."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """A batch of checks or an import file allocates millions of small objects that live until it
    ends and form no cycles; the cyclic collector would walk them again and again (half the time
    of a batch of 10^4 checks, a quarter of an import of 2 million persons) and find nothing."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def release_free_memory() -> None:
    """glibc keeps freed heap pages (numpy temporaries under its mmap threshold land there);
    ``malloc_trim`` returns them, so a server's resident size falls back after a big batch (a
    no-op where there is no glibc)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
