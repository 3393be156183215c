"""Retention of the box's captures, and the storage part of its status.

The store on the box is a working copy: the catalog keeps the record. So retention deletes a
capture only once the catalog has receipted it (the outbox remembers which), and then when it
is older than `[storage] retention_days` or while the store is over `max_captures_gb`, oldest
first. A capture the catalog never confirmed is never deleted, however old. Without MQTT there
are no receipts, and nothing is deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from device.box.disk import disk_usage, folder_bytes
from device.box.store import CaptureStore, NotFound
from device.config import StorageConfig

log = logging.getLogger(__name__)

Receipted = Callable[[list[str]], set[str]]


def _created(store: CaptureStore, capture_id: str) -> float | None:
    try:
        return float(store.meta(capture_id).get("created") or 0) or None
    except (NotFound, TypeError, ValueError):
        return None


class Retention:
    """`sweep()` once, or `start()` a thread that sweeps every `retention_interval_s`."""

    def __init__(
        self,
        store: CaptureStore,
        cfg: StorageConfig,
        receipted: Receipted | None = None,
        forget: Callable[[list[str]], None] | None = None,
    ):
        self.store = store
        self.cfg = cfg
        self.receipted = receipted
        self.forget = forget
        self.deleted = 0
        self.last_sweep: float | None = None
        self.last_error: str | None = None
        self._sizes: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _size(self, capture_id: str) -> int:
        if capture_id not in self._sizes:
            try:
                self._sizes[capture_id] = folder_bytes(self.store.root / capture_id)
            except OSError:
                return 0
        return self._sizes[capture_id]

    def sweep(self, now: float | None = None) -> list[str]:
        """Delete what the rules allow; returns the deleted capture ids (oldest first)."""
        now = time.time() if now is None else now
        ids = sorted(self.store.ids())  # capture ids start with the UTC time: oldest first
        self._sizes = {i: s for i, s in self._sizes.items() if i in set(ids)}
        total = sum(self._size(i) for i in ids)
        cap = int(self.cfg.max_captures_gb * 1e9)
        max_age = self.cfg.retention_days * 86400
        done = self.receipted(ids) if self.receipted is not None else set()
        deleted = []
        for capture_id in ids:
            over_cap = cap > 0 and total > cap
            created = _created(self.store, capture_id)
            too_old = max_age > 0 and created is not None and now - created > max_age
            if not (over_cap or too_old) or capture_id not in done:
                continue  # young enough and under the cap, or not confirmed by the catalog: kept
            total -= self.store.delete(capture_id)
            self._sizes.pop(capture_id, None)
            deleted.append(capture_id)
        if deleted:
            if self.forget is not None:
                self.forget(deleted)
            self.deleted += len(deleted)
            log.info("retention: deleted %d receipted captures (%s .. %s)", len(deleted), deleted[0], deleted[-1])
        self.last_sweep = now
        return deleted

    def status(self) -> dict:
        """Disk use, the store's size and count, captures today (UTC) and retention's state."""
        ids = self.store.ids()
        today = datetime.now(UTC).strftime("%Y%m%d")
        try:
            disk = disk_usage(self.store.root)
        except OSError as exc:
            disk = {"error": str(exc)}
        return {
            **disk,
            "min_free_bytes": self.cfg.min_free_mb * 1_000_000,
            "low": disk.get("free_bytes", 0) < self.cfg.min_free_mb * 1_000_000,
            "captures": len(ids),
            "captures_bytes": sum(self._size(i) for i in ids),
            "captures_today": sum(1 for i in ids if i.startswith(today)),
            "retention_days": self.cfg.retention_days,
            "max_captures_gb": self.cfg.max_captures_gb,
            "deleted_by_retention": self.deleted,
            "last_retention": self.last_sweep,
            "retention_error": self.last_error,
        }

    # ---- background ------------------------------------------------------------------------------
    def start(self) -> Retention:
        if self.cfg.retention_days <= 0 and self.cfg.max_captures_gb <= 0:
            return self
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0 if self.last_sweep is None else self.cfg.retention_interval_s):
            try:
                self.sweep()
                self.last_error = None
            except Exception as exc:  # a sweep that fails is retried next time and shown in status
                self.last_error = str(exc)
                log.exception("retention sweep failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def local_status(config) -> dict:
    """`cutbox status`: the box's storage and outbox read from disk, whether or not the box runs
    (so it answers while the broker, or the service, is down)."""
    from device.comms.outbox import read_stats

    data_dir = Path(config.station.data_dir)
    mqtt = config.mqtt
    outbox = read_stats(
        mqtt.outbox_path or data_dir / "outbox.sqlite",
        mqtt.outbox_max_captures,
        mqtt.outbox_max_mb * 1_000_000,
        mqtt.outbox_full_policy,
    )
    store = CaptureStore(data_dir / "captures")
    return {"station": config.station.id, "storage": Retention(store, config.storage).status(), "outbox": outbox}
