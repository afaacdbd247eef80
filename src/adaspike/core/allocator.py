"""Keep large CPU buffers in the process heap for reuse, instead of fresh memory maps on every allocation.

glibc's malloc serves an allocation above its mmap threshold (adjusted as the program runs, but never above
32 MiB) with a fresh ``mmap`` and unmaps it on free, so every page of it faults when first written, on every
call. Multi-step networks fold time into the batch: a conv layer's [T·B, C, H, W] activations and their
gradients exceed 32 MiB at modest sizes (T = 8, B = 32, 32 × 32 × 32 floats is 32 MiB), and each training step
then spends its time in page faults, serially: on the 2-core test machine the zero fill of one pooling gradient
took 14 ms, against 1.4 ms for eight per-step pieces of the same size served from the heap.

``tune_allocator`` raises glibc's mmap and trim thresholds (``mallopt``) so freed buffers stay in the heap and
are reused, as jemalloc and tcmalloc, which Intel's PyTorch CPU guide recommends, do by design. The cost is that
memory freed after a peak stays with the process (up to the threshold) instead of returning to the system. Reuse
is likely, not certain: a freed chunk with a small allocation after it may be too small for the next aligned
request of exactly its size, which then takes fresh memory (the training step above varied 165–211 ms).

The CPU scan applies it once, on its first call. ``ADASPIKE_MALLOC_TUNING=0`` leaves the allocator alone; a
process without glibc (macOS, musl, Windows) is not touched.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger("adaspike")

THRESHOLD = 1 << 30          # bytes: allocations below 1 GiB come from the heap, and up to 1 GiB of it is kept
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameter numbers (malloc.h)
_applied: bool | None = None


def tune_allocator(threshold: int = THRESHOLD) -> bool:
    """Raise glibc's mmap and trim thresholds to ``threshold`` bytes, once per process; True when applied.

    Off with ``ADASPIKE_MALLOC_TUNING=0``; a no-op without glibc's ``mallopt``."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("ADASPIKE_MALLOC_TUNING", "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, int(threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(threshold)))
    if _applied:
        log.debug("adaspike: glibc mmap/trim thresholds raised to %d MiB", threshold >> 20)
    return _applied


def _glibc_mallopt():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


__all__ = ["THRESHOLD", "tune_allocator"]
