"""Tethered DSLR / mirrorless capture through the `gphoto2` command line.

`grab()` fires the shutter with `gphoto2 --capture-image-and-download`, saves the picture in
the hot folder (so the original stays on disk beside every other tethered shot) and returns
it as a Frame. `trigger()` only shoots and downloads: use it when a HotFolderSource watches
that folder. gphoto2 is an apt package (`apt install gphoto2`), not a Python dependency; a
camera set to RAW+JPEG downloads both and the JPEG is used.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from device.sources.base import SourceError, new_frame_id
from device.sources.decode import DEFAULT_MAX_PIXELS, ImageError
from device.sources.files import read_frame
from device.types import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff", ".png")
_SAVED = re.compile(r"^Saving file as (.+?)\s*$", re.MULTILINE)
# libgphoto2's -110 "I/O in progress" and PTP's 0x2019 "Device Busy": the camera is still
# writing the last shot to its card or refocusing; it answers again a moment later.
_BUSY = re.compile(r"-110\b|I/O in progress|Device Busy|PTP_RC_DeviceBusy|0x2019", re.IGNORECASE)


# gphoto2's capturetarget choices on Canon and Nikon bodies: 0 internal RAM (nothing left on
# the card, faster), 1 the memory card (a copy stays on the camera).
CAPTURE_TARGETS = {"ram": 0, "card": 1}


class CameraBusy(SourceError):
    """The camera said busy; trigger() asks again."""


class GPhoto2Source:
    """A camera on USB, driven by gphoto2; one shutter release per `grab()`."""

    def __init__(
        self,
        hot_folder: str | os.PathLike,
        camera: str | None = None,
        port: str | None = None,
        binary: str = "gphoto2",
        timeout_s: float = 30.0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        busy_retries: int = 3,
        busy_wait_s: float = 0.5,
        keep_files: int = 200,
        capture_target: str = "keep",
    ):
        found = shutil.which(binary)
        if found is None:
            raise SourceError(f"{binary} not found: tethered capture needs it (apt install gphoto2)")
        self.binary = found
        self.folder = Path(hot_folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SourceError(f"hot folder {self.folder} cannot be created: {exc.strerror}") from None
        self.camera = camera
        self.port = port
        self.timeout_s = timeout_s
        self.max_pixels = max_pixels
        self.busy_retries, self.busy_wait_s, self.keep_files = busy_retries, busy_wait_s, keep_files
        self.capture_target = capture_target

    def _command(self, *args: str) -> list[str]:
        cmd = [self.binary, "--quiet"]
        if self.camera:
            cmd += ["--camera", self.camera]
        if self.port:
            cmd += ["--port", self.port]
        return cmd + list(args)

    def trigger(self) -> list[Path]:
        """Shoot and download into the hot folder; the saved files (RAW and/or JPEG). A camera
        that answers "busy" (still writing the last shot to its card, -110 / PTP Device Busy)
        is asked again after busy_wait_s, doubling, up to busy_retries times."""
        wait = self.busy_wait_s
        for attempt in range(self.busy_retries + 1):
            try:
                saved = self._trigger_once()
            except CameraBusy as exc:
                if attempt == self.busy_retries:
                    raise SourceError(
                        f"gphoto2 capture failed: camera still busy after {attempt + 1} tries ({exc})"
                    ) from None
                log.info("gphoto2: camera busy (%s), again in %.1f s", exc, wait)
                time.sleep(wait)
                wait *= 2
                continue
            self._clean_up()
            return saved
        raise AssertionError("unreachable")

    def _trigger_once(self) -> list[Path]:
        stem = new_frame_id("gphoto2")
        pattern = str(self.folder / f"{stem}.%C")
        target = CAPTURE_TARGETS.get(self.capture_target)
        first = ["--set-config", f"capturetarget={target}"] if target is not None else []
        cmd = self._command(*first, "--capture-image-and-download", "--filename", pattern, "--force-overwrite")
        try:
            run = subprocess.run(
                cmd, capture_output=True, text=True, timeout=self.timeout_s, env=dict(os.environ, LANG="C")
            )
        except subprocess.TimeoutExpired:
            raise SourceError(
                f"gphoto2 capture took over {self.timeout_s:g} s (camera asleep, or autofocus cannot lock?)"
            ) from None
        saved = [Path(p) for p in _SAVED.findall(run.stdout)]
        if not saved:  # --quiet hides the "Saving file as" line in some versions: look on disk
            saved = sorted(self.folder.glob(f"{stem}.*"))
        if run.returncode != 0 or not saved:
            for partial in self.folder.glob(f"{stem}.*"):  # a half-downloaded file is no shot
                partial.unlink(missing_ok=True)
            text = run.stderr + run.stdout
            if _BUSY.search(text):
                raise CameraBusy(_error_line(text))
            raise SourceError(f"gphoto2 capture failed: {_error_line(text)}")
        log.info("gphoto2: saved %s", ", ".join(p.name for p in saved))
        return saved

    def grab(self) -> Frame:
        files = self.trigger()
        usable = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        if not usable:
            raise SourceError(
                f"camera saved only {', '.join(p.name for p in files)}: set it to RAW+JPEG or JPEG (cutbox does not develop RAW files)"
            )
        try:
            frame = read_frame(usable[0], self.max_pixels, kind="gphoto2")
        except ImageError as exc:
            raise SourceError(f"gphoto2 picture {usable[0].name}: {exc}") from None
        if self.keep_files == 0:
            for path in files:
                path.unlink(missing_ok=True)
        return frame

    def _clean_up(self) -> None:
        """Keep the newest keep_files tethered shots in the folder (each capture's original is
        in the capture store anyway); 0 keeps none once read."""
        if self.keep_files <= 0:
            return
        shots = sorted(
            (p for p in self.folder.glob("gphoto2-*") if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for old in shots[self.keep_files :]:
            old.unlink(missing_ok=True)

    def frames(self) -> Iterator[Frame]:
        while True:
            yield self.grab()

    def close(self) -> None:
        pass  # each gphoto2 call opens and releases the camera itself


def _error_line(text: str) -> str:
    """gphoto2's own error lines in one line, without its debugging boilerplate."""
    keep = []
    lines = [ln.strip() for ln in text.splitlines()]
    for i, ln in enumerate(lines):
        if ln.startswith("*** Error") and i + 1 < len(lines) and lines[i + 1] and not lines[i + 1].startswith("***"):
            keep.append(lines[i + 1])
        elif ln.startswith("*** Error (") or ln.startswith("ERROR:"):
            keep.append(ln.strip("* "))
    detail = "; ".join(dict.fromkeys(keep)) or " ".join(text.split())[:200] or "no output"
    hint = ""
    if "Could not detect any camera" in detail or "-105" in detail:
        hint = " (camera on, USB cable in, not mounted by the desktop's file manager? try `gphoto2 --auto-detect`)"
    elif "-53" in detail or "Could not claim the USB device" in detail:
        hint = " (another program holds the camera: stop gvfs-gphoto2-volume-monitor)"
    return detail + hint
