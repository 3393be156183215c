"""Frame sources: files/folders/globs, a hot folder, a UVC camera, picamera2 (main + lores),
a tethered DSLR through gphoto2.

`open_source(cfg)` builds the one `source.kind` names from the `SOURCES` registry; all give `Frame`s through the
`FrameSource` interface.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from device.config import SourceConfig
from device.registry import Registry
from device.sources.base import FrameSource, SourceError
from device.sources.decode import ImageError, decode_image

__all__ = ["SOURCES", "FrameSource", "ImageError", "SourceError", "decode_image", "open_source"]


SOURCES: Registry[FrameSource] = Registry("source.kind")


def open_source(
    cfg: SourceConfig, paths: Sequence[str | os.PathLike] | None = None, data_dir: str | os.PathLike | None = None
) -> FrameSource:
    """The source `cfg.kind` names; `paths` (files kind) overrides `cfg.path`; `data_dir`
    (station.data_dir) holds a tethered camera's downloads unless `source.gphoto2.folder` says."""
    return SOURCES.open(cfg.kind, cfg, paths, data_dir)


@SOURCES.register("files")
def _files(cfg: SourceConfig, paths: Sequence[str | os.PathLike] | None, data_dir: str | os.PathLike | None):
    from device.sources.files import FileSource

    given = list(paths) if paths else ([cfg.path] if cfg.path else [])
    if not given:
        raise SourceError("source.kind = files needs source.path or paths on the command line")
    return FileSource(given, cfg.patterns, cfg.recursive, cfg.max_pixels)


@SOURCES.register("hotfolder")
def _hotfolder(cfg: SourceConfig, paths: Sequence[str | os.PathLike] | None, data_dir: str | os.PathLike | None):
    from device.sources.hotfolder import HotFolderSource

    if cfg.path is None:
        raise SourceError("source.kind = hotfolder needs source.path (the folder to watch)")
    return HotFolderSource(
        cfg.path, cfg.patterns, cfg.poll_interval_s, cfg.stable_polls, cfg.processed_dir, cfg.max_pixels
    )


@SOURCES.register("uvc")
def _uvc(cfg: SourceConfig, paths: Sequence[str | os.PathLike] | None, data_dir: str | os.PathLike | None):
    from device.sources.uvc import UvcSource

    uvc = cfg.uvc
    return UvcSource(uvc.device, uvc.width, uvc.height, uvc.fourcc, uvc.fps)


@SOURCES.register("picamera2")
def _picamera2(cfg: SourceConfig, paths: Sequence[str | os.PathLike] | None, data_dir: str | os.PathLike | None):
    from device.sources.pi_camera import Picamera2Source

    return Picamera2Source(cfg.picamera2.main, cfg.picamera2.lores, cfg.picamera2.camera, controls=cfg.camera)


@SOURCES.register("gphoto2")
def _gphoto2(cfg: SourceConfig, paths: Sequence[str | os.PathLike] | None, data_dir: str | os.PathLike | None):
    from device.sources.gphoto2 import GPhoto2Source

    tether = cfg.gphoto2
    folder = tether.folder or Path(data_dir or "cutbox-data") / "tethered"
    return GPhoto2Source(
        folder,
        camera=tether.camera,
        port=tether.port,
        timeout_s=tether.timeout_s,
        max_pixels=cfg.max_pixels,
        busy_retries=tether.busy_retries,
        keep_files=tether.keep_files,
        capture_target=tether.capture_target,
        autofocus=tether.autofocus,
        set_config=tether.set_config,
    )
