"""A full data disk refuses new captures with a clear error, keeps what is stored and queued
intact (the outbox's SQLite passes its integrity check), and takes captures again once space
is back. On a real tiny filesystem: a tmpfs mounted for the test (root), else the free-space
floor pointed at the real disk."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

from device.box.store import CaptureStore
from device.comms.mqtt import capture_messages
from device.comms.outbox import Outbox, OutboxError
from device.errors import DiskFull
from device.types import Artifact, Capture, Frame

MB = 1_000_000


def _capture(i: int, size: int = 300_000) -> Capture:
    frame = Frame(id=f"f{i}", image=np.zeros((16, 16, 3), np.uint8), timestamp=0.0, source="test")
    data = np.random.default_rng(i).integers(0, 256, size, dtype=np.uint8).tobytes()  # incompressible
    return Capture(
        id=f"cap-{i:04d}",
        frame=frame,
        artifacts=[Artifact("jpeg", "c.jpg", "image/jpeg", data)],
        timings_ms={},
        model="m",
        preset="p",
    )


def _intact(outbox_path: Path) -> None:
    db = sqlite3.connect(outbox_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def _no_leftovers(store: CaptureStore) -> None:
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".")] == []  # no half-written capture


def test_the_free_space_floor_refuses_a_capture_with_a_clear_message_and_writes_nothing(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    store = CaptureStore(tmp_path / "captures", min_free_bytes=free + 100 * MB)
    with pytest.raises(DiskFull, match=r"disk nearly full: .* MB free .* must stay free; capture refused"):
        store.save(_capture(1))
    assert store.ids() == []
    _no_leftovers(store)
    outbox = Outbox(tmp_path / "outbox.sqlite", min_free_bytes=free + 100 * MB)
    with pytest.raises(OutboxError, match="disk nearly full"):
        outbox.put("cap-0001", capture_messages(_capture(1), "booth-1"))
    assert outbox.stats()["depth"] == 0
    store.min_free_bytes = outbox.min_free_bytes = 1 * MB  # space is back
    store.save(_capture(1))
    assert outbox.put("cap-0001", capture_messages(_capture(1), "booth-1"))


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (the threshold test above runs everywhere)")
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if run.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_tiny_disk_fills_captures_are_refused_cleanly_and_accepted_again_when_space_returns(tiny_disk):
    store = CaptureStore(tiny_disk / "captures", min_free_bytes=1 * MB)
    outbox = Outbox(tiny_disk / "outbox.sqlite", min_free_bytes=1 * MB)
    saved = []
    with pytest.raises(DiskFull, match="disk nearly full"):
        for i in range(100):
            store.save(_capture(i))
            outbox.put(f"cap-{i:04d}", capture_messages(_capture(i), "booth-1"))
            saved.append(i)
    assert 2 <= len(saved) < 20
    assert shutil.disk_usage(tiny_disk).free >= 0.5 * MB  # refused before the disk was full
    _no_leftovers(store)
    _intact(tiny_disk / "outbox.sqlite")
    assert outbox.stats()["depth"] == len(saved)
    for i in saved:  # everything stored before is whole
        assert store.capture(f"cap-{i:04d}").artifacts[0].data == _capture(i).artifacts[0].data

    # with no floor at all the disk really fills: ENOSPC mid-write still leaves nothing half-written
    store.min_free_bytes = outbox.min_free_bytes = 0
    filler = tiny_disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    with pytest.raises(DiskFull, match="disk full while writing capture"):
        store.save(_capture(90))
    with pytest.raises(OutboxError):
        outbox.put("cap-0090", capture_messages(_capture(90), "booth-1"))
    _no_leftovers(store)
    _intact(tiny_disk / "outbox.sqlite")
    assert outbox.stats()["depth"] == len(saved) and "cap-0090" not in store.ids()

    filler.unlink()  # space returns (the filler goes, retention deletes receipted captures): captures are taken again
    for i in saved[:3]:
        store.delete(f"cap-{i:04d}")
    store.min_free_bytes = outbox.min_free_bytes = 1 * MB
    store.save(_capture(91))
    assert outbox.put("cap-0091", capture_messages(_capture(91), "booth-1"))
    _intact(tiny_disk / "outbox.sqlite")
    outbox.close()


def test_the_service_refuses_captures_on_a_full_disk_says_so_and_takes_them_again(tiny_disk, tmp_path):
    from device.api.app import http_status
    from device.service import CutboxService
    from tests.box_config import box_config, copy_samples

    photos = copy_samples(tmp_path / "photos", ["cap.jpg"])
    cfg = box_config(tmp_path, photos, station={"data_dir": str(tiny_disk / "data")}, storage={"min_free_mb": 2})
    svc = CutboxService(cfg).start()
    filler = tiny_disk / "filler"
    try:
        svc.capture(sku="before")
        filler.write_bytes(b"\0" * int(shutil.disk_usage(tiny_disk).free - 2.3 * MB))
        with pytest.raises(DiskFull, match="disk nearly full") as refused:
            for _ in range(20):
                svc.capture(sku="fills")
        assert http_status(refused.value) == (503, "service")  # what the API answers
        st = svc.status()
        assert [a["level"] for a in st["alerts"] if a["kind"] == "disk"] in (["warning"], ["error"])
        assert st["storage"]["free_bytes"] > 1 * MB  # refused with room to spare: nothing half written
        _no_leftovers(svc.store)
        filler.unlink()  # space is back
        svc.capture(sku="after")
        assert not [a for a in svc.status()["alerts"] if a["kind"] == "disk"]
        assert {svc.store.meta(i)["sku"] for i in svc.store.ids()} >= {"before", "after"}
    finally:
        svc.stop()
