"""The core service behind the API, the CLI's `serve` and MQTT commands: thread-safe captures,
a failing camera reported instead of raised out of the service, and `cutbox serve` itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from device.errors import NotFound
from device.service import CameraError, CutboxService, redact
from tests.box_config import box_config, free_port
from tests.paths import REPO, SAMPLES, STUDENT_MODEL


@pytest.fixture()
def service(tmp_path):
    svc = CutboxService(box_config(tmp_path)).start()
    yield svc
    svc.stop()


def test_concurrent_captures_from_several_threads_all_land(service):
    results, errors = [], []

    def shoot():
        try:
            results.append(service.capture().id)
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=shoot) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(set(results)) == 4
    assert sorted(results) == sorted(service.store.ids())
    assert service.status()["captures"] == 4


def test_the_files_source_starts_over_when_it_runs_out(service):
    ids = [service.capture().id for _ in range(len(list(SAMPLES.glob("*.jpg"))) + 2)]
    assert len(ids) == len(set(ids)) and service.status()["camera"]["ok"]


def test_a_failing_camera_is_reported_not_raised_from_status(tmp_path):
    cfg = box_config(tmp_path, source={"kind": "uvc", "uvc": {"device": 57}})  # no such /dev/video57
    svc = CutboxService(cfg).start()
    try:
        st = svc.status()
        assert st["camera"]["ok"] is False and any(a["kind"] == "camera" for a in st["alerts"])
        with pytest.raises(CameraError):
            svc.capture()
        assert svc.status()["last_error"]["where"] == "camera"
        assert svc.ready()  # the model is fine; the page stays up to show the problem
    finally:
        svc.stop()


def test_a_missing_model_leaves_the_service_up_but_not_ready(tmp_path):
    cfg = box_config(tmp_path, segment={"model": str(tmp_path / "nope.tflite")})
    svc = CutboxService(cfg).start()
    try:
        assert not svc.ready()
        assert any(a["kind"] == "pipeline" for a in svc.status()["alerts"])
    finally:
        svc.stop()


def test_set_preset_checks_the_name(service):
    assert service.set_preset("marketplace-white")["current"] == "marketplace-white"
    with pytest.raises(NotFound, match="transparent-png"):
        service.set_preset("nope")


def test_secrets_are_redacted():
    view = redact({"api": {"token": "secret", "port": 1}, "mqtt": {"password": None}})
    assert view == {"api": {"token": "***", "port": 1}, "mqtt": {"password": None}}


@pytest.mark.slow
def test_cutbox_serve_runs_the_page_and_api(tmp_path):
    cfg = tmp_path / "cutbox.toml"
    port = free_port()
    (tmp_path / "token").write_text("serve-token-0123456789\n")
    cfg.write_text(
        f'[station]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[source]\nkind = "files"\npath = "{SAMPLES}"\n'
        f'[segment]\nmodel = "{STUDENT_MODEL}"\n'
        f'[api]\nhost = "127.0.0.1"\nport = {port}\ntoken_file = "{tmp_path / "token"}"\n'
    )
    import socket

    notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_sock.bind(str(tmp_path / "notify.sock"))
    env = dict(os.environ, PYTHONPATH=str(REPO), NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="2000000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "serve", "--config", str(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stdout.read() if proc.poll() is not None else "timeout"
            )
            time.sleep(0.2)
        assert "cutbox" in httpx.get(url + "/").text
        assert httpx.post(url + "/api/capture").status_code == 401
        r = httpx.post(url + "/api/capture", headers={"Authorization": "Bearer serve-token-0123456789"}, timeout=60)
        assert r.status_code == 200, r.text
        meta = r.json()["meta"]  # what the catalog gets over MQTT
        assert meta["backend"] == "cpu" and "no Coral found" in meta["backend_reason"]
        st = httpx.get(url + "/api/status", headers={"Authorization": "Bearer serve-token-0123456789"}).json()
        assert st["pipeline"]["model"].startswith("cutbox-student") and st["pipeline"]["backend"] == "cpu"
        assert st["pipeline"]["backend_reason"].startswith("no Coral found")
        # systemd hears READY=1, then WATCHDOG=1 from the service's beats (idle checks, the capture)
        said = [d for _, d in _datagrams(notify_sock, 3.0)]
        assert said[0].startswith(b"READY=1") and b"WATCHDOG=1" in said
    finally:
        notify_sock.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so systemd sees the usual exit.
    assert proc.returncode in (0, -signal.SIGTERM)
    # the journal says where the model runs and why, at INFO, without -v
    journal = proc.stdout.read()
    assert "INFO device.segment.litert: segment: cutbox-student" in journal and "on cpu (no Coral found" in journal


def test_every_view_of_a_spin_is_scored_and_flagged_for_review(tmp_path):
    photos = tmp_path / "spin"
    photos.mkdir()
    for i in range(2):
        shutil.copy(SAMPLES / "shoes.jpg", photos / f"shoes{i}.jpg")
    cfg = box_config(tmp_path, source={"path": str(photos)}, turntable={"settle_s": 0}, api={"review_threshold": 1.0})
    svc = CutboxService(cfg).start()
    try:
        caps = svc.spin(steps=2, sku="SHOE-1")
        assert len(caps) == 2
        for cap in caps:
            assert cap.quality is not None and 0.5 < cap.quality <= 1.0  # a real matte of a real shoe
            assert cap.meta["quality"]["coverage"] > 0.05 and cap.timings_ms["quality"] > 0
            assert cap.review is True  # threshold 1.0: every shot goes to a person
        assert sorted(m["id"] for m in svc.review_queue()) == sorted(c.id for c in caps)
        single = svc.capture()
        assert single.quality is not None and single.review
    finally:
        svc.stop()


def _datagrams(sock, seconds: float) -> list[tuple[float, bytes]]:
    """What arrives on the notify socket within `seconds`, with arrival times."""
    got, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append((time.monotonic(), sock.recv(512)))
        except TimeoutError:
            break
    return got


def test_hot_folder_jpegs_decode_no_larger_than_the_preset_needs(tmp_path):
    """A hot-folder JPEG is decoded at the DCT reduction that still covers the preset's canvas;
    a product too small in it for that is cut again from the file decoded in full (found in
    processed_dir), so the output never loses resolution; a native-size preset decodes in full."""
    import cv2
    import numpy as np

    from device.config import CutboxConfig
    from device.devtools.bench import bench_frame

    hot, done = tmp_path / "hot", tmp_path / "done"
    hot.mkdir()
    presets = {n: p.model_dump(mode="json") for n, p in CutboxConfig().compose.presets.items()}
    presets["small"] = {"width": 240, "height": 240, "formats": ["jpeg", "mask", "meta"]}  # see tests/test_batch.py
    cfg = box_config(
        tmp_path,
        source={
            "kind": "hotfolder",
            "path": str(hot),
            "poll_interval_s": 0.02,
            "stable_polls": 1,
            "processed_dir": str(done),
        },
        compose={"presets": presets},
    )
    near = bench_frame()  # 2304x1296, the product two thirds of its height
    small = cv2.resize(near, (near.shape[1] // 5, near.shape[0] // 5), interpolation=cv2.INTER_AREA)
    far = np.empty_like(near)
    far[:] = small[:4, :4].reshape(-1, 3).mean(axis=0).astype(np.uint8)  # the frame's own backdrop
    far[500 : 500 + small.shape[0], 900 : 900 + small.shape[1]] = small
    svc = CutboxService(cfg).start()
    try:
        sizes = {}
        for name, rgb, preset in (("near", near, "small"), ("far", far, "small"), ("native", near, "transparent-png")):
            cv2.imwrite(str(hot / f"{name}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            cap = svc.capture(preset=preset)
            assert cap.frame.source == f"hotfolder:{name}.jpg" and (done / f"{name}.jpg").is_file()
            sizes[name] = (cap.frame.size, cap.frame.info.get("reduced", 1), svc.store.frame(cap.id).size)
            if preset == "small":
                jpeg = cv2.imdecode(np.frombuffer(cap.artifact("jpeg").data, np.uint8), cv2.IMREAD_COLOR)
                assert jpeg.shape[:2] == (240, 240)
        svc.settings.update({"source": {"reduced_decode": False}})  # full-size frames kept for re-exports
        cv2.imwrite(str(hot / "kept.jpg"), cv2.cvtColor(near, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert svc.capture(preset="small").frame.size == (2304, 1296)
    finally:
        svc.stop()
    assert sizes["near"] == ((576, 324), 4, (576, 324))  # stored for corrections as decoded
    assert sizes["far"] == ((2304, 1296), 1, (2304, 1296))  # the product had to grow: full decode
    assert sizes["native"] == ((2304, 1296), 1, (2304, 1296))


@pytest.mark.slow
def test_watchdog_is_fed_only_while_the_work_loop_beats(tmp_path):
    """Real NOTIFY_SOCKET: pings while idle and healthy, none while a capture hangs in the
    camera grab (an empty hot folder) or the source is gone, pings again when work resumes."""
    import socket

    from device.box.systemd_notify import Notifier

    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = box_config(tmp_path, source={"kind": "hotfolder", "path": str(hot), "poll_interval_s": 0.05})
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    notify = Notifier(
        {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "200000"}
    )  # ping every >= 0.1 s
    svc = CutboxService(cfg).start()
    try:
        assert svc.start_watchdog(notify, max_age_s=0.5, check_every_s=0.05)
        idle = _datagrams(sock, 0.6)
        assert len(idle) >= 3 and {d for _, d in idle} == {b"WATCHDOG=1"}

        result = {}
        shooter = threading.Thread(target=lambda: result.update(cap=svc.capture()))
        hung_at = time.monotonic()
        shooter.start()  # blocks in the grab: nothing arrives in the hot folder
        stuck = _datagrams(sock, 1.5)
        assert [t - hung_at for t, _ in stuck if t > hung_at + 0.7] == [], "pinged while the grab hung"
        assert svc.heartbeat()[0] > 0.7
        shutil.copy(SAMPLES / "cap.jpg", hot / "cap.jpg")
        shooter.join(30)
        assert "cap" in result and result["cap"].quality is not None
        assert len(_datagrams(sock, 0.6)) >= 2  # the capture beat: pings again

        shutil.rmtree(hot)  # the source is gone: a state shown on the page, the loop still beats
        time.sleep(0.3)
        assert len(_datagrams(sock, 0.8)) >= 3
        assert svc.status()["camera"]["ok"] is False and svc.heartbeat()[1] == "idle check, camera lost"
    finally:
        svc.stop()
        sock.close()


def test_an_unplugged_camera_is_a_state_the_watchdog_is_still_fed_and_retries_back_off(tmp_path):
    """A UVC camera that is not there (/dev/video57) fails at once on every open. Real
    NOTIFY_SOCKET: the pings go on (systemd must not restart the box every WatchdogSec), the
    page says "Camera lost", and the re-opens are spaced out, not one per idle check."""
    import socket

    from device.box.systemd_notify import Notifier

    cfg = box_config(tmp_path, source={"kind": "uvc", "uvc": {"device": 57}, "retry_min_s": 0.2, "retry_max_s": 0.8})
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    notify = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "200000"})
    svc = CutboxService(cfg).start()
    try:
        opened_at_start = svc.camera.retry.failures
        assert opened_at_start >= 1 and svc.status()["camera"]["ok"] is False
        assert svc.start_watchdog(notify, max_age_s=0.5, check_every_s=0.05)
        pings = _datagrams(sock, 2.5)
        assert {d for _, d in pings} == {b"WATCHDOG=1"}
        gaps = [b - a for (a, _), (b, _) in zip(pings, pings[1:], strict=False)]
        assert len(pings) >= 10 and max(gaps) < 0.5, gaps  # never a gap systemd would act on
        # 50 idle checks in 2.5 s, but re-opens only at 0.2, 0.4, 0.8, 0.8 ... s apart
        tries = svc.camera.retry.failures - opened_at_start
        assert 2 <= tries <= 6, tries
        st = svc.status()
        assert st["camera"]["ok"] is False and 0 <= st["camera"]["retry_in_s"] <= 0.8
        assert any(a["kind"] == "camera" and a["message"].startswith("Camera lost") for a in st["alerts"])
        assert svc.heartbeat()[1] == "idle check, camera lost"
        with pytest.raises(CameraError):  # the operator's capture tries at once and says why
            svc.capture()
    finally:
        svc.stop()
        sock.close()


def test_a_camera_that_comes_back_is_used_again_and_the_backoff_resets(tmp_path):
    cfg = box_config(tmp_path, source={"retry_min_s": 0.05, "retry_max_s": 0.1})
    photos = Path(cfg.source.path)
    svc = CutboxService(cfg).start()
    try:
        svc.capture()
        away = photos.with_name("away")
        shutil.move(photos, away)
        deadline = time.monotonic() + 5
        while svc.check_idle() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.status()["camera"]["ok"] is False
        shutil.move(away, photos)
        deadline = time.monotonic() + 5
        while not svc.check_idle() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.status()["camera"] == {"ok": True, "kind": "files", "error": None, "retry_in_s": None}
        assert svc.capture().quality is not None
    finally:
        svc.stop()
