"""Handing freed memory back to the operating system after a large piece of work."""

from __future__ import annotations


def release_free_memory() -> None:
    """glibc keeps freed heap pages (numpy temporaries under its mmap threshold land there);
    ``malloc_trim`` returns them, so a server's resident size falls back after a big batch (a
    no-op where there is no glibc)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
