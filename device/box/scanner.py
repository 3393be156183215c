"""The barcode scanner as the running box uses it: read in a thread from its own input
device (grabbed, so the codes never type into a console), each code handed to the box, and a
scanner that is unplugged or not there yet is a state shown in the status, opened again on a
doubling schedule (the same one a lost camera uses)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from device.box.camera_retry import RetrySchedule
from device.config import ScannerConfig
from device.workflows.sku import KeyboardScanner, SkuError

log = logging.getLogger(__name__)

READ_SLICE_S = 0.25  # how often the reader looks at the stop flag


class ScannerLink:
    """Reads `[scanner]`'s device while the box runs; `on_code(sku)` gets every valid code."""

    def __init__(
        self,
        config: Callable[[], ScannerConfig],
        on_code: Callable[[str], None],
        opener: Callable[..., KeyboardScanner] = KeyboardScanner,
    ):
        self._config = config
        self._on_code = on_code
        self._opener = opener
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scanner: KeyboardScanner | None = None
        self.error: str | None = None
        self.last_sku: str | None = None
        self.last_scan_at: float | None = None
        self.scans = 0

    def start(self) -> bool:
        if not self._config().enabled or self._thread is not None:
            return False
        self._thread = threading.Thread(target=self._run, name="cutbox-scanner", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2 * READ_SLICE_S + 1)
        self._close()

    def _close(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            try:
                scanner.close()
            except OSError:
                pass

    def _run(self) -> None:
        cfg = self._config()
        retry = RetrySchedule(1.0, cfg.retry_max_s)
        while not self._stop.is_set():
            if self._scanner is None:
                try:
                    self._scanner = self._opener(cfg.device, grab=cfg.grab)
                    self.error = None
                    retry.succeeded()
                    log.info("scanner: reading %s%s", cfg.device, " (grabbed)" if cfg.grab else "")
                except SkuError as exc:
                    self.error = str(exc)
                    wait = retry.failed()
                    if retry.failures == 1:
                        log.warning("scanner: %s; trying again every %.0f-%.0f s", exc, wait, cfg.retry_max_s)
                    self._stop.wait(wait)
                    continue
            self._read_one()

    def _read_one(self) -> None:
        scanner = self._scanner
        if scanner is None:  # closed meanwhile: the loop opens it again
            return
        try:
            code = scanner.read(timeout_s=READ_SLICE_S)
        except SkuError as exc:  # a code that cannot be an SKU: say so, keep reading
            self.error = f"last scan refused: {exc}"
            log.warning("scanner: %s", exc)
            return
        except OSError as exc:  # unplugged (ENODEV) or gone
            self.error = f"scanner {self._config().device} lost: {exc.strerror or exc}"
            log.warning("scanner: %s", self.error)
            self._close()
            return
        if code is None:
            return
        self.last_sku, self.last_scan_at, self.error = code, time.time(), None
        self.scans += 1
        try:
            self._on_code(code)
        except Exception as exc:  # a failed capture is the box's error, not the scanner's
            log.warning("scanner: %s for %s failed: %s", self._config().action, code, exc)

    def status(self) -> dict:
        cfg = self._config()
        return {
            "enabled": cfg.enabled,
            "ok": cfg.enabled and self._scanner is not None and self.error is None,
            "device": cfg.device,
            "grabbed": bool(cfg.enabled and cfg.grab and self._scanner is not None),
            "action": cfg.action,
            "error": self.error,
            "last_sku": self.last_sku,
            "last_scan_at": self.last_scan_at,
            "scans": self.scans,
        }
