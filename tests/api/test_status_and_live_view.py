"""Health, status banners, Prometheus metrics, the MJPEG live view, and a camera that fails."""

from __future__ import annotations

import io
import shutil

from PIL import Image

from tests.api.conftest import spin_folder


def test_health_live_and_ready(box):
    with box.client(token=None) as c:
        assert c.get("/health/live").json() == {"status": "ok"}
        r = c.get("/health/ready")
        assert r.status_code == 200 and r.json()["ready"] is True


def test_metrics_report_stage_latency_and_queue_depths(box):
    with box.client() as c:
        c.post("/api/capture").raise_for_status()
        text = c.get("/metrics").text
    assert 'cutbox_stage_seconds_bucket{le="0.05",stage="segment"}' in text
    assert 'cutbox_stage_seconds_count{stage="total"}' in text
    assert "cutbox_review_queue_depth " in text and "cutbox_outbox_depth " in text
    assert "cutbox_camera_ok 1.0" in text
    assert "cutbox_captures_total{review=" in text


def test_the_live_view_is_an_mjpeg_stream_at_a_bounded_rate(box):
    with box.client() as c:
        c.post("/api/capture").raise_for_status()  # a files source shows the last frame taken
        import time

        t0 = time.monotonic()
        r = c.get("/api/preview.mjpeg", params={"frames": 3})
        elapsed = time.monotonic() - t0
    assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
    parts = [p for p in r.content.split(b"--cutboxframe\r\n") if p]
    assert len(parts) == 3
    head, _, body = parts[0].partition(b"\r\n\r\n")
    assert b"image/jpeg" in head
    assert Image.open(io.BytesIO(body.rstrip(b"\r\n"))).width <= box.service.config.api.preview_width
    assert elapsed >= 2 / box.service.config.api.preview_fps * 0.9  # no faster than preview_fps


def test_a_vanished_camera_folder_is_reported_and_the_box_recovers(fresh_box):
    with fresh_box.client() as c:
        assert c.post("/api/capture").status_code == 200
        hidden = fresh_box.photos.with_name("photos-away")
        shutil.move(fresh_box.photos, hidden)
        st = c.get("/api/status").json()
        assert st["camera"]["ok"] is False
        assert any(a["kind"] == "camera" and "Camera lost" in a["message"] for a in st["alerts"])
        # Keep capturing until the source runs past its remembered file list.
        codes = {c.post("/api/capture").status_code for _ in range(8)}
        assert 503 in codes
        r = c.post("/api/capture")
        assert r.status_code == 503 and r.json()["kind"] == "camera"
        assert c.get("/health/live").status_code == 200
        shutil.move(hidden, fresh_box.photos)
        assert c.post("/api/capture").status_code == 200
        import time

        time.sleep(1.1)  # the folder probe runs at most once a second
        st = c.get("/api/status").json()
        assert st["camera"]["ok"] is True and not [a for a in st["alerts"] if a["kind"] == "camera"]


def test_calibrate_averages_frames_into_a_plate(fresh_box):
    # A fixed camera gives frames of one size: point the source at copies of one photo.
    same = fresh_box.photos.with_name("same")
    same.mkdir()
    for i in range(4):
        shutil.copy(fresh_box.photos / "cap.jpg", same / f"cap{i}.jpg")
    with fresh_box.client() as c:
        c.put("/api/config", json={"source": {"path": str(same)}}).raise_for_status()
        r = c.post("/api/calibrate", json={"frames": 3})
        assert r.status_code == 200, r.text
        plate = r.json()
        assert plate["frames"] == 3 and (plate["width"], plate["height"]) == Image.open(same / "cap0.jpg").size
        assert (fresh_box.data / "plate" / "plate.png").is_file()
        # the next capture of that booth runs the plate model and says in its meta how it was cut
        # out: the frame is the plate itself, so a "product" the plate model finds there is the
        # unchanged booth, and the frame goes to generic mode with that reason
        shot = c.post("/api/capture")
        assert shot.status_code == 200, shot.text
        meta = shot.json()["meta"]
        assert meta["segment_mode"] == "plate" or "unchanged plate" in meta["plate_fit"], meta
        # Mixed sizes cannot make a plate: a clear error, not a crash.
        c.put("/api/config", json={"source": {"path": str(fresh_box.photos)}}).raise_for_status()
        r = c.post("/api/calibrate", json={"frames": 3})
        assert r.status_code == 409 and "changed size" in r.json()["detail"]


def test_a_spin_stores_one_scored_capture_per_step(fresh_box):
    same = spin_folder(fresh_box, 3)
    with fresh_box.client() as c:
        c.put("/api/config", json={"source": {"path": str(same)}, "turntable": {"settle_s": 0}}).raise_for_status()
        r = c.post("/api/spin", json={"steps": 3, "sku": "SHOE-1"})
        assert r.status_code == 200, r.text
        caps = r.json()["captures"]
        assert len(caps) == 3 and all(m["sku"] == "SHOE-1" and m["quality"] is not None for m in caps)
        assert sorted(m["meta"]["angle"] for m in caps) == [0.0, 120.0, 240.0]
        assert len({m["meta"]["spin_id"] for m in caps}) == 1
        assert all((fresh_box.data / "captures" / m["id"] / "alpha.png").is_file() for m in caps)
