"""The box's data disk: how much is free, and whether a write may go ahead.

An SD card that fills up takes the box down with it (SQLite cannot commit, a capture is half
written), so every writer asks first and refuses with a message an operator can act on while a
floor of free space is still left.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def free_space_problem(path: str | os.PathLike, min_free_bytes: int, need: int = 0) -> str | None:
    """Why `need` more bytes may not be written under `path` (None when they may)."""
    if min_free_bytes <= 0:
        return None
    free = shutil.disk_usage(path).free
    if free - need >= min_free_bytes:
        return None
    return (
        f"disk nearly full: {free / 1e6:.1f} MB free on the data disk ({path}), at least "
        f"{min_free_bytes / 1e6:.1f} MB must stay free; capture refused, nothing stored was touched "
        "(let the catalog receipt and retention delete old captures, or lower [storage] min_free_mb)"
    )


def folder_bytes(folder: Path) -> int:
    """Bytes of the files in one capture folder (flat: the store writes no subfolders)."""
    total = 0
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            total += entry.stat(follow_symlinks=False).st_size
    return total


def disk_usage(path: str | os.PathLike) -> dict:
    """Total, used and free bytes of the filesystem holding `path`."""
    u = shutil.disk_usage(path)
    return {"total_bytes": u.total, "used_bytes": u.used, "free_bytes": u.free}
