"""Talk to systemd's service manager (sd_notify) with the standard library only.

`cutbox.service` is Type=notify with WatchdogSec: systemd waits for READY=1 before it calls
the service started, and restarts it when WATCHDOG=1 stops arriving. Feed the watchdog from
the loop that does the real work (after each frame), never from a side thread, so a stuck
camera or model stops the pings and gets the service restarted. Outside systemd
($NOTIFY_SOCKET unset) every call is a cheap no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """One notify socket; `ready()`, `status(text)`, `watchdog()`, `stopping()`."""

    def __init__(self, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        addr = env.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):  # abstract namespace socket
            addr = "\0" + addr[1:]
        self.address = addr or None
        self.watchdog_interval_s = _watchdog_interval(env)
        self._last_ping = 0.0
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send `KEY=value` lines in one datagram; False (logged once per failure) when it cannot."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode("utf-8"), self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify to %r failed: %s", self.address, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text.splitlines()[0] if text else ''}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self, force: bool = False) -> bool:
        """Ping the watchdog, at most twice per WatchdogSec (cheap to call after every frame)."""
        if self.address is None or self.watchdog_interval_s is None:
            return False
        now = time.monotonic()
        if not force and now - self._last_ping < self.watchdog_interval_s / 2:
            return False
        self._last_ping = now
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_interval(env) -> float | None:
    """WatchdogSec in seconds when systemd asked this very process for pings, else None."""
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None


_default: Notifier | None = None


def notifier() -> Notifier:
    """The process-wide notifier (reads the environment once)."""
    global _default
    if _default is None:
        _default = Notifier()
    return _default
