"""What the box is busy with (a spin, a calibration), how far it got, and a way to stop it.

A spin of 24 views takes a while; the page shows "view 7/24" and a Cancel button, and an
MQTT `cmd/cancel` does the same. Cancelling is cooperative: the running job checks between
views and stops there, so the camera and the turntable are never left mid-move.
"""

from __future__ import annotations

import threading
import time

from device.errors import Conflict


class Cancelled(Conflict):
    """The job was cancelled on request; nothing of it was kept."""


class Progress:
    """The one running job's progress; thread-safe (the job runs in a worker thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: dict | None = None
        self._cancel = threading.Event()

    def begin(self, kind: str, total: int) -> None:
        with self._lock:
            self._cancel.clear()
            self._job = {"kind": kind, "done": 0, "total": total, "stage": "starting", "started": time.time()}

    def step(self, done: int, stage: str) -> None:
        """Record progress, then stop here (raise `Cancelled`) if a cancel was asked for."""
        with self._lock:
            if self._job is not None:
                self._job.update(done=done, stage=stage)
        if self._cancel.is_set():
            raise Cancelled(f"{self._job['kind'] if self._job else 'job'} cancelled after {stage}")

    def end(self) -> None:
        with self._lock:
            self._job = None
            self._cancel.clear()

    def cancel(self) -> dict:
        """Ask the running job to stop at its next step; says whether there was one."""
        with self._lock:
            if self._job is None:
                return {"cancelling": False, "job": None}
            self._cancel.set()
            return {"cancelling": True, "job": dict(self._job, cancelling=True)}

    def snapshot(self) -> dict | None:
        with self._lock:
            return dict(self._job, cancelling=self._cancel.is_set()) if self._job is not None else None
