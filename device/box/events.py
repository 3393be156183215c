"""What happened on the box: the last errors, the capture counters, and the listeners (metrics)
that hear of each capture and each failure."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from device.errors import one_line
from device.types import Capture

log = logging.getLogger(__name__)

Listener = Callable[[str, dict], None]


class Events:
    """Thread-safe record of errors and captures; listeners must not raise (if they do, it is logged)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.last_error: dict | None = None
        self.errors: deque[dict] = deque(maxlen=20)
        self.last_capture_id: str | None = None
        self.captures_done = 0

    def add_listener(self, fn: Listener) -> None:
        """fn(event, data) after each capture ("capture") and failure ("error")."""
        self._listeners.append(fn)

    def _emit(self, event: str, data: dict) -> None:
        for fn in list(self._listeners):
            try:
                fn(event, data)
            except Exception:  # a listener is someone else's code: log it, keep capturing
                log.exception("listener failed")

    def error(self, where: str, exc: BaseException | str) -> str:
        """Record a failure (`where`: camera, pipeline, publish, ...); returns its one-line text."""
        text = exc if isinstance(exc, str) else one_line(exc)
        entry = {"where": where, "message": text, "time": time.time()}
        with self._lock:
            self.last_error = entry
            self.errors.append(entry)
        log.warning("%s: %s", where, text)
        self._emit("error", entry)
        return text

    def captured(self, capture: Capture) -> None:
        """Count a stored capture and tell the listeners."""
        with self._lock:
            self.last_capture_id = capture.id
            self.captures_done += 1
        self._emit(
            "capture",
            {
                "id": capture.id,
                "timings_ms": dict(capture.timings_ms),
                "quality": capture.quality,
                "review": capture.review,
            },
        )

    def last(self) -> dict | None:
        with self._lock:
            return dict(self.last_error) if self.last_error else None
