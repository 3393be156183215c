"""Retention deletes only what the catalog receipted, by age or over the size cap, oldest first;
status says how full the disk is, how many captures today, how big the store is."""

from __future__ import annotations

import time

import numpy as np

from device.box.retention import Retention
from device.box.store import CaptureStore
from device.comms.mqtt import capture_messages
from device.comms.outbox import Outbox
from device.config import StorageConfig
from device.types import Artifact, Capture, Frame
from tests.mqtt_harness import make_capture as mqtt_capture

DAY = 86400.0


def _capture(i: int, size: int = 20_000) -> Capture:
    """A capture whose id sorts by i (as real ids sort by time)."""
    frame = Frame(id=f"f{i}", image=np.full((32, 32, 3), i, np.uint8), timestamp=0.0, source="test")
    data = np.random.default_rng(i).integers(0, 256, size, dtype=np.uint8).tobytes()
    return Capture(
        id=f"20250101T0000{i:02d}000Z-ab",
        frame=frame,
        artifacts=[Artifact("jpeg", "c.jpg", "image/jpeg", data)],
        timings_ms={},
        model="m",
        preset="p",
    )


def _setup(tmp_path, n: int, age_days: float = 0.0):
    store = CaptureStore(tmp_path / "captures")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    ids = []
    for i in range(n):
        cap = _capture(i)
        store.save(cap)
        store.update_meta(cap.id, created=time.time() - age_days * DAY)
        outbox.put(cap.id, capture_messages(cap, "booth-1"))
        ids.append(cap.id)
    return store, outbox, ids


def _receipt(outbox: Outbox, capture_ids) -> None:
    """What the catalog's receipts do: name the sha256 of the meta it stored."""
    outbox.ack([m.seq for m in outbox.pending(0, 1000)])
    for cid in capture_ids:
        (meta_sha,) = outbox._db.execute("SELECT meta_sha256 FROM captures WHERE capture_id=?", (cid,)).fetchone()
        assert outbox.receipt(cid, meta_sha)


def test_old_captures_go_only_once_the_catalog_receipted_them(tmp_path):
    store, outbox, ids = _setup(tmp_path, 4, age_days=40)
    _receipt(outbox, [ids[0], ids[2]])
    retention = Retention(store, StorageConfig(retention_days=30), outbox.receipted, outbox.forget_receipts)
    assert retention.sweep() == [ids[0], ids[2]]
    assert store.ids() == sorted([ids[1], ids[3]], reverse=True)  # never confirmed: kept however old
    assert outbox.receipted(ids) == set()  # the receipt rows went with them
    assert retention.status()["deleted_by_retention"] == 2


def test_young_receipted_captures_stay_unless_the_store_is_over_its_cap(tmp_path):
    store, outbox, ids = _setup(tmp_path, 5)
    _receipt(outbox, ids[:4])
    keep_all = Retention(store, StorageConfig(retention_days=30), outbox.receipted, outbox.forget_receipts)
    assert keep_all.sweep() == [] and len(store.ids()) == 5
    size = keep_all.status()["captures_bytes"] / 5
    capped = Retention(
        store,
        StorageConfig(retention_days=30, max_captures_gb=2.5 * size / 1e9),
        outbox.receipted,
        outbox.forget_receipts,
    )
    assert capped.sweep() == ids[:3]  # oldest first until under 2.5 captures' worth
    assert capped.status()["captures_bytes"] <= 2.5 * size


def test_a_capture_queued_again_after_its_receipt_is_not_receipted_any_more(tmp_path):
    store, outbox, ids = _setup(tmp_path, 1, age_days=40)
    _receipt(outbox, ids)
    assert outbox.receipted(ids) == {ids[0]}
    corrected = _capture(0)
    corrected.meta["corrections"] = 1
    outbox.put(ids[0], capture_messages(corrected, "booth-1"))  # a correction goes out again
    assert outbox.receipted(ids) == set()
    assert Retention(store, StorageConfig(retention_days=30), outbox.receipted).sweep() == []


def test_without_receipts_nothing_is_deleted(tmp_path):
    store, _, ids = _setup(tmp_path, 3, age_days=400)
    assert Retention(store, StorageConfig(retention_days=1, max_captures_gb=0.000001)).sweep() == []
    assert len(store.ids()) == 3


def test_status_counts_captures_today_disk_use_and_store_size(tmp_path):
    store = CaptureStore(tmp_path / "captures")
    store.save(mqtt_capture(1, station_prefix=time.strftime("%Y%m%dT000000000Z", time.gmtime())))
    store.save(_capture(2))  # 2025: not today
    st = Retention(store, StorageConfig(min_free_mb=1)).status()
    assert st["captures"] == 2 and st["captures_today"] == 1
    assert st["total_bytes"] > st["free_bytes"] > 0 and st["captures_bytes"] > 20_000
    assert st["low"] is False and st["min_free_bytes"] == 1_000_000
