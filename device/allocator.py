"""Keep freed frame buffers in the heap instead of handing them back to the kernel.

Every frame allocates and frees the same few large arrays (a 9 MB camera frame, a 12 MB
2000x2000 canvas, masks). glibc serves blocks that large with mmap and unmaps them on free,
so each frame pays thousands of page faults (the kernel zeroing fresh pages), a large share of
the frame's time. Raising the mmap and trim thresholds lets malloc reuse those blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit; larger blocks still use mmap
_TRIM_THRESHOLD = 256 * 1024 * 1024


def keep_frame_buffers() -> bool:
    """Tune glibc malloc for frame-sized buffers; False (and nothing changed) on other libcs."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.debug("no glibc mallopt here: allocator left as it is")
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    log.debug("malloc thresholds %s", "raised" if ok else "refused")
    return ok
