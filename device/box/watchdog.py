"""Liveness: the heartbeat the work loop keeps, and the thread that feeds systemd's watchdog
only while the beats keep coming, so a hung grab or model call gets the unit restarted."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """The part of `device.box.systemd_notify.Notifier` the watchdog uses."""

    @property
    def watchdog_interval_s(self) -> float | None: ...

    def watchdog(self) -> bool: ...


class Heartbeat:
    """The last sign of progress (a frame, a matte, a capture, a spin view, a healthy idle check)."""

    def __init__(self) -> None:
        self._at = time.monotonic()
        self._what = "start"

    def beat(self, what: str) -> None:
        self._at = time.monotonic()
        self._what = what

    def age(self) -> tuple[float, str]:
        """(seconds since the last beat, what it was)."""
        return time.monotonic() - self._at, self._what


class Watchdog:
    """Runs `check_idle` every few seconds and pings systemd only on a recent beat."""

    def __init__(self, heartbeat: Heartbeat, check_idle: Callable[[], bool]):
        self.heartbeat = heartbeat
        self._check_idle = check_idle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def feed(self, notify: Notifier, max_age_s: float) -> bool:
        """Ping systemd's watchdog only if the last beat is younger than `max_age_s`."""
        if self.heartbeat.age()[0] > max_age_s:
            return False
        return notify.watchdog()

    def start(self, notify: Notifier, *, max_age_s: float | None = None, check_every_s: float | None = None) -> bool:
        """Start the feeding thread. `max_age_s` defaults to WatchdogSec (a beat older than
        that means stuck), so a hang is acted on within about twice WatchdogSec. False when
        systemd asked for no watchdog, or the thread already runs."""
        interval = notify.watchdog_interval_s
        if interval is None or self._thread is not None:
            return False
        max_age = max_age_s if max_age_s is not None else interval
        every = check_every_s if check_every_s is not None else max(0.05, min(2.0, interval / 4))

        def run() -> None:
            while not self._stop.wait(every):
                try:
                    self._check_idle()
                except Exception:  # a bug in a check must not stop the loop; no beat, no ping
                    log.exception("idle check failed")
                self.feed(notify, max_age)

        self._thread = threading.Thread(target=run, name="cutbox-watchdog", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
