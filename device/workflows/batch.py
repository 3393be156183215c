"""Files in, cut-out files out: the core of `cutbox cutout` and `cutbox demo`.

Each file is decoded, processed and written on its own, so one bad file costs one error
line and the batch goes on. Artifacts land as `DIR/<stem>.<ext>`, the mask as
`DIR/<stem>.mask.png`, written through a temporary name so a crash never leaves half files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from device.errors import one_line
from device.pipeline import Pipeline
from device.sources.base import SourceError
from device.sources.files import expand_paths, read_frame
from device.types import Capture
from device.workflows.reduced_decode import decode_size, decoded_in_full, needs_full_decode

_EXT = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif", "mask": ".mask.png", "meta": ".json"}


@dataclass
class BatchResult:
    """What a batch did: written files per input, and one error line per failed input."""

    written: dict[str, list[Path]] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def artifact_path(out_dir: Path, stem: str, name: str, filename: str) -> Path:
    """`<stem>.mask.png` for the mask, `<stem>.<ext>` for the rest."""
    ext = _EXT.get(name) or (Path(filename).suffix or f".{name}")
    return out_dir / f"{stem}{ext}"


def write_capture(capture: Capture, out_dir: str | os.PathLike, stem: str) -> list[Path]:
    """Write every artifact of a (completed) capture; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for art in capture.artifacts:
        path = artifact_path(out_dir, stem, art.name, art.filename)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(art.data)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def cut_out_files(
    pipeline: Pipeline,
    paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    preset: str | None = None,
    progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
    report: Callable[[str], None] | None = None,
) -> BatchResult:
    """Cut out every image that `paths` (files, folders, globs) names into `out_dir`.

    `progress` wraps the file list (e.g. tqdm); `report` gets one line per failure as it
    happens. Nothing here raises for a bad input: it lands in `BatchResult.failed`.
    """
    result = BatchResult()
    src_cfg = pipeline.config.source
    files: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        try:
            for p in expand_paths([raw], src_cfg.patterns, src_cfg.recursive):
                if p.resolve() not in seen:
                    seen.add(p.resolve())
                    files.append(p)
        except SourceError as exc:
            result.failed.append((os.fspath(raw), str(exc)))
            if report:
                report(f"{os.fspath(raw)}: {exc}")
    used: set[str] = set()
    for path in progress(files) if progress else files:
        stem = path.stem
        n = 2
        while stem in used:
            stem = f"{path.stem}-{n}"
            n += 1
        try:
            capture = cut_out_file(pipeline, path, preset)
            result.written[str(path)] = write_capture(capture, out_dir, stem)
            used.add(stem)
        except Exception as exc:  # one bad file is one line; the batch goes on
            line = one_line(exc)
            result.failed.append((str(path), line))
            if report:
                report(f"{path}: {line}")
    return result


def cut_out_file(pipeline: Pipeline, path: Path, preset: str | None = None) -> Capture:
    """One file to a completed capture, decoded no larger than the preset needs
    (device.workflows.reduced_decode: reduced when that covers the canvas, again in full when
    the product then had to be enlarged)."""
    max_pixels = pipeline.config.source.max_pixels
    preset_cfg = pipeline.preset_config(preset)
    frame = read_frame(path, max_pixels, min_size=decode_size(preset_cfg))
    capture = pipeline.process(frame, preset=preset)
    if needs_full_decode(frame, capture, preset_cfg):
        capture.complete()  # its deferred encodes are queued: let them finish, then cut again
        capture = pipeline.process(decoded_in_full(frame, max_pixels), preset=preset)
    return capture.complete()
