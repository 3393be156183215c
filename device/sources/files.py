"""Files, folders and globs as a frame source (the CLI's `cutout` and offline studios)."""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from device.sources.base import SourceError, new_frame_id
from device.sources.decode import DEFAULT_MAX_PIXELS, ImageError, decode_image_info
from device.types import Frame

log = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("*.jpg", "*.jpeg", "*.png", "*.tif", "*.tiff", "*.webp", "*.bmp")


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Case-insensitive file-name match, skipping hidden and temporary files."""
    low = name.lower()
    if low.startswith((".", "~")):
        return False
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


def expand_paths(
    paths: Sequence[str | os.PathLike], patterns: Iterable[str] = DEFAULT_PATTERNS, recursive: bool = False
) -> list[Path]:
    """Files as given, folders' images (sorted), globs expanded; order kept, duplicates dropped.

    A named file is kept even when it does not look like an image, so it gets its own error
    line later instead of vanishing; a path or glob that matches nothing raises SourceError.
    """
    patterns = tuple(patterns)
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)

    def add_folder(folder: Path) -> None:
        walker = sorted(folder.rglob("*")) if recursive else sorted(folder.iterdir())
        for f in walker:
            if f.is_file() and matches(f.name, patterns):
                add(f)

    for raw in paths:
        text = os.fspath(raw)
        p = Path(text)
        if p.is_dir():
            add_folder(p)
        elif p.exists():
            add(p)
        elif glob.has_magic(text):
            hits = sorted(glob.glob(text, recursive=recursive))
            if not hits:
                raise SourceError(f"no files match {text}")
            for h in hits:
                hp = Path(h)
                if hp.is_dir():
                    add_folder(hp)
                elif matches(hp.name, patterns) or hp.suffix == "":
                    add(hp)
        else:
            raise SourceError(f"no such file or folder: {text}")
    return out


def read_frame(
    path: str | os.PathLike,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    kind: str = "file",
    min_size: tuple[int, int] | None = None,
) -> Frame:
    """One image file -> Frame (raises ImageError with a one-line reason); `min_size` lets a
    JPEG decode at a reduced scale that still covers it (decode_image_info)."""
    path = Path(path)
    t0 = time.perf_counter()
    image, info = decode_image_info(path, max_pixels, min_size)
    info["path"] = str(path)
    info["read_ms"] = (time.perf_counter() - t0) * 1000.0
    return Frame(
        id=new_frame_id(kind),
        image=image,
        timestamp=time.time(),
        source=f"{kind}:{path.name}",  # the name only: meta is shown and published, paths stay on the box
        sku=None,
        info=info,
    )


class FileSource:
    """Frames from a fixed list of files, folders and globs, in order.

    A file that cannot be decoded is reported through `on_error` (default: a warning in the
    log) and skipped, so one bad file never ends the batch; `failed` lists them.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        patterns: Iterable[str] = DEFAULT_PATTERNS,
        recursive: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        on_error: Callable[[Path, ImageError], None] | None = None,
    ):
        self.paths = expand_paths(paths, patterns, recursive)
        self.max_pixels = max_pixels
        self.on_error = on_error or (lambda p, e: log.warning("%s: %s", p, e))
        self.failed: list[tuple[Path, str]] = []
        self._iter: Iterator[Frame] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self.paths)

    def frames(self) -> Iterator[Frame]:
        for path in self.paths:
            if self._closed:
                return
            try:
                yield read_frame(path, self.max_pixels)
            except ImageError as exc:
                self.failed.append((path, str(exc)))
                self.on_error(path, exc)

    def grab(self) -> Frame:
        if self._iter is None:
            self._iter = self.frames()
        try:
            return next(self._iter)
        except StopIteration:
            raise SourceError("no more files") from None

    def close(self) -> None:
        self._closed = True
