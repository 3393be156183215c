"""A folder that tethering software (Capture One, darktable, gphoto2 hooks) writes into.

Tethering tools write a file over hundreds of milliseconds, so a file is taken only once
it is completely written: its size and mtime must stay unchanged for `stable_polls` scans
in a row and it must decode completely. A file that fails to decode is reported once and
retried only if it changes again (a writer that paused mid-file gets its file taken when it
finishes). Each file is taken once (or moved to `processed_dir`).

`min_size` (the canvas the capture's preset fills) lets a JPEG decode at a DCT reduction
that still covers it; the frame's `info["path"]` says where the file is after a move, so
the box can decode it again in full when that was too small
(device.workflows.reduced_decode). The decode still reads the whole file: a cut-short one
fails as before.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from device.sources.base import SourceError
from device.sources.decode import DEFAULT_MAX_PIXELS, ImageError
from device.sources.files import DEFAULT_PATTERNS, matches, read_frame
from device.types import Frame

log = logging.getLogger(__name__)

Signature = tuple[int, int]  # (size, mtime_ns)


class HotFolderSource:
    """Polls `folder`; `poll()` is one scan (returns the frames that became ready)."""

    def __init__(
        self,
        folder: str | os.PathLike,
        patterns: Iterable[str] = DEFAULT_PATTERNS,
        poll_interval_s: float = 0.25,
        stable_polls: int = 2,
        processed_dir: str | os.PathLike | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        on_error: Callable[[Path, ImageError], None] | None = None,
    ):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"hot folder does not exist: {self.folder} (create it or fix source.path)")
        self.patterns = tuple(patterns)
        self.poll_interval_s = poll_interval_s
        self.stable_polls = stable_polls
        self.processed_dir = Path(processed_dir) if processed_dir else None
        if self.processed_dir:
            self.processed_dir.mkdir(parents=True, exist_ok=True)
        self.max_pixels = max_pixels
        self.on_error = on_error or (lambda p, e: log.warning("hotfolder %s: %s (retried if the file changes)", p, e))
        self._watch: dict[Path, tuple[Signature, int]] = {}  # path -> (signature, unchanged polls)
        self._done: dict[Path, Signature] = {}  # taken or failed, at this signature
        self._stop = threading.Event()
        self.decode_attempts = 0

    def poll(self, min_size: tuple[int, int] | None = None) -> list[Frame]:
        """One scan of the folder: frames for files that are now completely written, JPEGs
        decoded at the largest reduction that covers `min_size` (in full when None)."""
        ready: list[Frame] = []
        present: set[Path] = set()
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except FileNotFoundError:
            raise SourceError(f"hot folder disappeared: {self.folder}") from None
        for entry in entries:
            if not matches(entry.name, self.patterns):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:
                continue
            path = Path(entry.path)
            present.add(path)
            sig = (st.st_size, st.st_mtime_ns)
            if self._done.get(path) == sig:
                continue
            old = self._watch.get(path)
            count = old[1] + 1 if old is not None and old[0] == sig else 0
            self._watch[path] = (sig, count)
            if st.st_size == 0 or count < self.stable_polls:
                continue
            del self._watch[path]
            self._done[path] = sig
            self.decode_attempts += 1
            try:
                frame = read_frame(path, self.max_pixels, kind="hotfolder", min_size=min_size)
            except ImageError as exc:
                self.on_error(path, exc)
                continue
            frame.info["signature"] = sig
            if self.processed_dir:
                frame.info["path"] = str(self._move(path))
            ready.append(frame)
        for gone in set(self._watch) - present:
            del self._watch[gone]
        for gone in set(self._done) - present:
            del self._done[gone]
        return ready

    def _move(self, path: Path) -> Path:
        """Move a taken file into `processed_dir`; where it is now (still `path` if it failed)."""
        assert self.processed_dir is not None  # only called when files are moved
        target = self.processed_dir / path.name
        n = 1
        while target.exists():
            target = self.processed_dir / f"{path.stem}-{n}{path.suffix}"
            n += 1
        try:
            shutil.move(str(path), target)
        except OSError as exc:
            log.warning("hotfolder: cannot move %s to %s: %s", path, target, exc)
            return path
        return target

    def frames(self) -> Iterator[Frame]:
        """Frames as files complete, until close()."""
        while not self._stop.is_set():
            yield from self.poll()
            self._stop.wait(self.poll_interval_s)

    def grab(self, timeout: float | None = None, min_size: tuple[int, int] | None = None) -> Frame:
        """The next completed file (decoded to cover `min_size`, see poll); SourceError after
        `timeout` seconds or on close(). Files already decoded by an earlier scan keep their size."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pending: list[Frame] = getattr(self, "_backlog", [])
        while not pending:
            if self._stop.is_set():
                raise SourceError("hot folder closed")
            pending = self.poll(min_size)
            if pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise SourceError(f"no complete file arrived in {self.folder} within {timeout:g} s")
            self._stop.wait(self.poll_interval_s)
        frame, self._backlog = pending[0], pending[1:]
        return frame

    def close(self) -> None:
        self._stop.set()
