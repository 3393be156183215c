"""Outbox payloads as files, written once: temp file, fsync, rename, one fsync of the folder.

A payload kept as an SQLite BLOB is written to the card several times (the WAL, then the
checkpoint into the database file, plus the freelist churn when it is deleted). A file is
written once; the outbox row names it. Files are named per message (never shared), so deleting
one version of a capture never touches another's bytes. A file no row names (a crash between
the write and the commit, or between the commit of a delete and the unlink) is removed by
`sweep()` when the outbox opens.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable (the folder entry itself, not only the file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PayloadFiles:
    """One folder of payload files beside the outbox database."""

    def __init__(self, folder: Path):
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, payloads: list[bytes]) -> list[str]:
        """Write each payload durably; returns their names (in order). On any failure nothing is left."""
        names: list[str] = []
        batch = secrets.token_hex(8)
        try:
            for i, data in enumerate(payloads):
                name = f"{batch}-{i:03d}"
                tmp = self.dir / f".{name}.part"
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.dir / name)
                names.append(name)
            fsync_dir(self.dir)
        except BaseException:
            for name in names:
                (self.dir / name).unlink(missing_ok=True)
            for part in self.dir.glob(f".{batch}-*.part"):
                part.unlink(missing_ok=True)
            raise
        return names

    def read(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()

    def remove(self, names: list[str]) -> None:
        """Unlink after the rows that named them are gone (a crash before this leaves orphans for `sweep`)."""
        for name in names:
            if name:
                (self.dir / name).unlink(missing_ok=True)

    def sweep(self, referenced: set[str]) -> int:
        """Remove files no outbox row names; returns how many."""
        gone = 0
        for entry in os.scandir(self.dir):
            if entry.name not in referenced:
                os.unlink(entry.path)
                gone += 1
        if gone:
            log.info("outbox: removed %d payload files no message names (an interrupted write or delete)", gone)
        return gone
