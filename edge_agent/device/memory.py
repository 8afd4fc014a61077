"""Give freed heap back to the OS after bursts (rendering), so an idle node's RSS stays low."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_libc = None


def release_free_memory() -> None:
    global _libc
    gc.collect()
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim(0)  # glibc only; a no-op elsewhere
    except (OSError, AttributeError):
        pass
