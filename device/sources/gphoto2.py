"""Tethered DSLR / mirrorless capture through gphoto2, one camera session for all shots.

The source keeps one `gphoto2 --shell` process (device/sources/gphoto2_shell.py) open: the
camera is detected, opened and configured once (capture target, the `set_config` values),
and each `grab()` is one `capture-image-and-download` in it. `trigger()` only shoots and
downloads: use it when a HotFolderSource watches that folder. A camera that says busy is
asked again with backoff in the same session; any other failure closes the session, and the
next shot opens a new one (the camera was unplugged, switched off, or claimed by another
program). gphoto2 is an apt package (`apt install gphoto2`), not a Python dependency; a
camera set to RAW+JPEG downloads both and the JPEG is used.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from device.sources.base import SourceError, new_frame_id
from device.sources.decode import DEFAULT_MAX_PIXELS, ImageError
from device.sources.files import read_frame
from device.sources.gphoto2_shell import Reply, SessionClosed, ShellSession
from device.types import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff", ".png")
# libgphoto2's -110 "I/O in progress" and PTP's 0x2019 "Device Busy": the camera is still
# writing the last shot to its card or refocusing; it answers again a moment later.
_BUSY = re.compile(r"-110\b|I/O in progress|Device Busy|PTP_RC_DeviceBusy|0x2019", re.IGNORECASE)
PART_PREFIX = ".gphoto2-part-"


# gphoto2's capturetarget choices on Canon and Nikon bodies: 0 internal RAM (nothing left on
# the card, faster), 1 the memory card (a copy stays on the camera).
CAPTURE_TARGETS = {"ram": 0, "card": 1}


class CameraBusy(SourceError):
    """The camera said busy; trigger() asks again."""


class GPhoto2Source:
    """A camera on USB, driven through one gphoto2 session; one shutter release per `grab()`."""

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
        autofocus: str = "camera",
        set_config: Mapping[str, str] | None = None,
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
        for stale in self.folder.glob(PART_PREFIX + "*"):  # a download cut short by a crash
            shutil.rmtree(stale, ignore_errors=True)
        self.camera = camera
        self.port = port
        self.timeout_s = timeout_s
        self.max_pixels = max_pixels
        self.busy_retries, self.busy_wait_s, self.keep_files = busy_retries, busy_wait_s, keep_files
        self.capture_target = capture_target
        self.autofocus = autofocus
        self.set_config = dict(set_config or {})
        self._session: ShellSession | None = None
        self._lock = threading.RLock()  # close() runs inside a failed shot too

    def _command(self) -> list[str]:
        cmd = [self.binary, "--quiet"]
        if self.camera:
            cmd += ["--camera", self.camera]
        if self.port:
            cmd += ["--port", self.port]
        return cmd

    @property
    def session_pid(self) -> int | None:
        """The gphoto2 process holding the camera now (None: no session open)."""
        return self._session.pid if self._session is not None and self._session.alive else None

    def _open_session(self) -> ShellSession:
        """The open session, or a new one with the capture target and set_config applied."""
        if self._session is not None and self._session.alive:
            return self._session
        session = ShellSession(self._command(), self.folder, self.timeout_s)
        try:
            session.open()
        except SourceError as exc:
            raise SourceError(f"gphoto2 capture failed: {exc}") from None
        settings = dict(self.set_config)
        target = CAPTURE_TARGETS.get(self.capture_target)
        if target is not None:
            settings = {"capturetarget": str(target), **settings}
        for key, value in settings.items():
            reply = session.run(f"set-config {key}={value}")
            if not reply.ok:
                session.close()
                raise SourceError(f"gphoto2: the camera refused {key}={value}: {_reply_error(reply)}")
        self._session = session
        return session

    def trigger(self) -> list[Path]:
        """Shoot and download into the hot folder; the saved files (RAW and/or JPEG). A camera
        that answers "busy" (still writing the last shot to its card, -110 / PTP Device Busy)
        is asked again after busy_wait_s, doubling, up to busy_retries times."""
        wait = self.busy_wait_s
        with self._lock:
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
        """One shot, downloaded into a fresh part folder (never over an older file, never
        half a file left behind), then moved beside the other tethered shots."""
        try:
            session = self._open_session()
        except SessionClosed as exc:
            raise SourceError(f"gphoto2 capture failed: {exc}") from None
        stem = new_frame_id("gphoto2")
        part = self.folder / f"{PART_PREFIX}{stem}"
        part.mkdir()
        try:
            moved = session.run(f"lcd {part.name}")
            if not moved.ok:
                raise SourceError(f"gphoto2 cannot write into {part}: {_reply_error(moved)}")
            try:
                reply = self._shoot(session)
            finally:
                if session.alive:
                    session.run("lcd ..")
            saved = [part / name for name in reply.saved() if (part / name).is_file()]
            if not reply.ok or not saved:
                text = _reply_error(reply) if not reply.ok else "the camera saved no file"
                if _BUSY.search(text + reply.details):
                    raise CameraBusy(text)
                self.close()  # a fresh session for the next shot: unplugged, asleep, claimed
                raise SourceError(f"gphoto2 capture failed: {text}")
            out = []
            for i, path in enumerate(saved):
                target = self.folder / f"{stem}{'' if i == 0 else f'-{i}'}{path.suffix.lower()}"
                path.replace(target)
                out.append(target)
        except SessionClosed as exc:
            self.close()
            raise SourceError(f"gphoto2 capture failed: {exc}") from None
        finally:
            shutil.rmtree(part, ignore_errors=True)
        log.info("gphoto2: saved %s", ", ".join(p.name for p in out))
        return out

    def _shoot(self, session: ShellSession) -> Reply:
        if self.autofocus == "each-shot":
            focused = session.run("set-config autofocusdrive=1")
            if not focused.ok:
                return focused
        return session.run("capture-image-and-download")

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
        """Leave the shell (`exit` releases the camera for other programs). A shot in progress
        in another thread gets a few seconds to finish; then the shell is killed."""
        locked = self._lock.acquire(timeout=2)
        try:
            session, self._session = self._session, None
            if session is not None:
                session.close(kill=not locked)
        finally:
            if locked:
                self._lock.release()


def _reply_error(reply: Reply) -> str:
    """gphoto2's reason for a failed command: its stderr lines, else the `*** Error` line."""
    detail = error_line(reply.details) if reply.details.strip() else ""
    own = f"Error ({reply.code}: '{reply.message}')" if reply.code is not None else ""
    return "; ".join(x for x in (detail, own) if x) or error_line(reply.output)


def error_line(text: str) -> str:
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
