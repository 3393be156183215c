"""The barcode scanner wired into the running box: a FIFO carries the byte stream a Linux
input device delivers (struct input_event), as in tests/test_sku.py; the box reads it in its
own thread, shows the scan in /status, takes the shot when `action = "capture"`, and a
scanner that is not plugged in is a state with a reason, not a crash."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from device.config import CutboxConfig
from device.service import CutboxService
from tests.paths import SAMPLES
from tests.test_sku import key_events


def box(tmp_path: Path, **scanner) -> CutboxService:
    photos = tmp_path / "photos"
    photos.mkdir(exist_ok=True)
    shutil.copy(SAMPLES / "shoes.jpg", photos / "shoes.jpg")
    cfg = CutboxConfig.model_validate(
        {
            "station": {"data_dir": str(tmp_path / "data")},
            "source": {"kind": "files", "path": str(photos)},
            "api": {"token": "t" * 20},
            "scanner": {"enabled": True, "grab": False, **scanner},
        }
    )
    return CutboxService(cfg).start()


def wait_for(predicate, seconds: float = 20.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def scan(fifo: Path, text: str) -> threading.Thread:
    def write():
        with open(fifo, "wb") as f:
            f.write(key_events(text))

    t = threading.Thread(target=write)
    t.start()
    return t


def test_a_scan_sets_the_sku_shown_in_status(tmp_path):
    fifo = tmp_path / "event-kbd"
    os.mkfifo(fifo)
    svc = box(tmp_path, device=str(fifo))
    try:
        assert wait_for(lambda: svc.status()["scanner"]["ok"])
        scan(fifo, "Shirt-42_B").join(5)
        assert wait_for(lambda: svc.status()["scanner"]["last_sku"] == "Shirt-42_B")
        st = svc.status()["scanner"]
        assert st["scans"] == 1 and st["action"] == "sku" and st["error"] is None
        assert svc.store.ids() == []  # "sku": no shot taken
    finally:
        svc.stop()


def test_action_capture_takes_the_shot_with_the_scanned_sku(tmp_path):
    fifo = tmp_path / "event-kbd"
    os.mkfifo(fifo)
    svc = box(tmp_path, device=str(fifo), action="capture")
    try:
        scan(fifo, "5901234123457").join(5)
        assert wait_for(lambda: len(svc.store.ids()) == 1, 60)
        assert svc.store.meta(svc.store.ids()[0])["sku"] == "5901234123457"
    finally:
        svc.stop()


def test_a_code_that_cannot_be_an_sku_is_refused_and_reading_goes_on(tmp_path):
    fifo = tmp_path / "event-kbd"
    os.mkfifo(fifo)
    svc = box(tmp_path, device=str(fifo))
    try:
        scan(fifo, "-bad code").join(5)
        assert wait_for(lambda: (svc.status()["scanner"]["error"] or "").startswith("last scan refused"))
        scan(fifo, "GOOD-1").join(5)
        assert wait_for(lambda: svc.status()["scanner"]["last_sku"] == "GOOD-1")
    finally:
        svc.stop()


def test_a_scanner_that_is_not_plugged_in_is_a_state(tmp_path):
    svc = box(tmp_path, device=str(tmp_path / "no-scanner"), retry_max_s=0.5)
    try:
        assert wait_for(lambda: svc.status()["scanner"]["error"] is not None)
        st = svc.status()["scanner"]
        assert st["ok"] is False and "not found (plug it in" in st["error"]
        assert svc.capture().id  # the box works without it
        os.mkfifo(tmp_path / "no-scanner")  # plugged in
        assert wait_for(lambda: svc.status()["scanner"]["ok"], 10)
    finally:
        svc.stop()


def test_off_by_default(tmp_path):
    cfg = CutboxConfig.model_validate({"station": {"data_dir": str(tmp_path)}})
    svc = CutboxService(cfg)
    assert svc.scanner.start() is False
    assert svc.status()["scanner"]["enabled"] is False
