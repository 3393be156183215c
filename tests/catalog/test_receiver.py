"""The catalog receiver: checks every sha256, stores each capture once, survives kill -9."""

import hashlib
import time
from pathlib import Path

import pytest

from device.catalog.receiver import CatalogStore
from device.comms.mqtt import Publisher, capture_messages
from device.config import load_config
from tests.mqtt_harness import (
    Broker,
    catalog_counts,
    make_capture,
    python_subprocess,
    sigkill,
    verify_catalog,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.broker


def _feed(store, cap, station="booth-1"):
    return [
        store.store(
            m.topic,
            m.payload,
            dict(m.user_props).get("sha256"),
            m.content_type,
            dict(m.user_props).get("filename"),
            dict(m.user_props).get("revision"),
        )
        for m in capture_messages(cap, station)
    ]


def test_capture_is_complete_only_when_meta_and_every_listed_artifact_are_stored(tmp_path):
    store = CatalogStore(tmp_path)
    cap = make_capture(1)
    msgs = capture_messages(cap, "booth-1")
    meta = msgs[-1]
    out = store.store(meta.topic, meta.payload, dict(meta.user_props)["sha256"])  # meta first this time
    assert out.kind == "stored" and out.completed is None
    for m in msgs[:-1]:
        out = store.store(
            m.topic, m.payload, dict(m.user_props)["sha256"], m.content_type, dict(m.user_props)["filename"]
        )
    assert out.completed == cap.id
    assert store.stats()["complete_captures"] == 1
    verify_catalog(tmp_path, [1], "booth-1")


def test_a_resend_is_stored_once(tmp_path):
    store = CatalogStore(tmp_path)
    cap = make_capture(2)
    assert [o.kind for o in _feed(store, cap)] == ["stored"] * 3
    assert [o.kind for o in _feed(store, cap)] == ["duplicate"] * 3
    s = store.stats()
    assert s["items"] == 3 and s["duplicates"] == 3 and s["complete_captures"] == 1


def test_bad_checksum_missing_checksum_and_bad_topics_are_quarantined_not_stored(tmp_path):
    store = CatalogStore(tmp_path)
    data = b"x" * 100
    good = hashlib.sha256(data).hexdigest()
    assert store.store("cutbox/b/captures/c1/jpeg", data + b"!", good).kind == "quarantined"
    assert store.store("cutbox/b/captures/c1/jpeg", data, None).kind == "quarantined"
    assert store.store("cutbox/b/captures/../jpeg", data, good).kind == "quarantined"
    assert store.store("cutbox/b/captures/c1/meta", b"{}", hashlib.sha256(b"{}").hexdigest()).kind == "quarantined"
    assert store.stats()["quarantined"] == 4 and store.stats()["items"] == 0
    # same name, different content, older revision (a late redelivery): the stored one is kept
    assert store.store("cutbox/b/captures/c1/jpeg", data, good, revision="2").kind == "stored"
    other = b"y" * 100
    assert (
        store.store("cutbox/b/captures/c1/jpeg", other, hashlib.sha256(other).hexdigest(), revision="1").kind
        == "conflict"
    )
    assert (tmp_path / "files/b/c1/jpeg").read_bytes() == data
    assert (
        store.store("cutbox/b/captures/c1/jpeg", other, hashlib.sha256(other).hexdigest(), revision="x").kind
        == "quarantined"
    )


@pytest.mark.slow
def test_receiver_killed_with_sigkill_mid_stream_and_restarted_none_lost_none_twice(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    path = write_config(tmp_path / "cutbox.toml", "booth-1", broker.port, tmp_path / "data")
    cfg = load_config(path)
    cat_dir = cfg.mqtt.catalog.data_dir
    log = tmp_path / "receiver.log"
    receiver = python_subprocess(["-m", "device.catalog", "--config", str(path)], log)
    pub = None
    try:
        wait_for(lambda: "subscribed to $share/catalog/" in log.read_text(), 20, what="receiver subscribed")
        pub = Publisher(cfg.mqtt, "booth-1", tmp_path / "data/outbox.sqlite").start()
        for i in range(200):
            pub.submit(make_capture(i))
        wait_for(lambda: catalog_counts(cat_dir)["complete"] >= 40, 60, what="40 stored")
        sigkill(receiver)
        before = catalog_counts(cat_dir)["complete"]
        assert before < 200, "too fast to kill mid-stream"
        time.sleep(0.5)  # the publisher keeps publishing into the broker's queue for the session
        receiver = python_subprocess(["-m", "device.catalog", "--config", str(path)], log)
        wait_for(lambda: catalog_counts(cat_dir)["complete"] == 200, 90, what="200 complete")
        wait_for(lambda: pub.status()["outbox"]["messages"] == 0, 10, what="outbox drained")
    finally:
        if pub:
            pub.stop()
        sigkill(receiver)
        broker.kill()
    verify_catalog(cat_dir, range(200), "booth-1")
    counts = catalog_counts(cat_dir)
    assert counts["stored"] == 600 and counts.get("conflicts", 0) == 0 and counts.get("quarantined", 0) == 0
    assert not list((cat_dir / "files").rglob("*.part-*"))
    assert log.read_text().count("subscribed to") == 2


def _corrected(index: int, revision: int = 1):
    """The same capture id as make_capture(index), with new artifact bytes (a correction)."""
    from device.types import Artifact

    cap = make_capture(index)
    cap.meta["corrections"] = revision
    cap.artifacts = [
        Artifact(a.name, a.filename, a.content_type, a.data[::-1] + b"v%d" % revision) for a in cap.artifacts
    ]
    return cap


def test_a_corrected_capture_replaces_files_and_index_rows_and_a_resend_is_still_stored_once(tmp_path):
    store = CatalogStore(tmp_path)
    old, new = make_capture(3), _corrected(3)
    assert [o.kind for o in _feed(store, old)] == ["stored"] * 3
    outs = _feed(store, new)
    assert [o.kind for o in outs] == ["replaced"] * 3 and outs[-1].completed == new.id
    assert [o.kind for o in _feed(store, new)] == ["duplicate"] * 3
    assert [o.kind for o in _feed(store, old)] == ["conflict"] * 3  # a late copy of revision 0
    s = store.stats()
    assert s["items"] == 3 and s["complete_captures"] == 1 and s["replaced"] == 3 and s["duplicates"] == 3
    folder = tmp_path / "files" / "booth-1" / new.id
    # a new version is written beside the old one (named with its sha256) and the old one goes
    # once the index names the new: a reader never finds other bytes than the sha256 it read
    rows = dict(store.db.execute("SELECT name, path FROM items WHERE capture_id=?", (new.id,)).fetchall())
    assert sorted(p.name for p in folder.iterdir()) == sorted(Path(r).name for r in rows.values())
    for a in new.artifacts:
        stem, _, ext = a.filename.partition(".")
        assert Path(rows[a.name]).name == f"{stem}.{a.sha256[:12]}.{ext}"
        assert hashlib.sha256((tmp_path / rows[a.name]).read_bytes()).hexdigest() == a.sha256


def test_a_corrected_capture_is_incomplete_until_its_new_meta_and_artifacts_all_match(tmp_path):
    store = CatalogStore(tmp_path)
    _feed(store, make_capture(4))
    msgs = capture_messages(_corrected(4), "booth-1")
    m = msgs[0]  # the new jpeg, before the new meta
    assert (
        store.store(
            m.topic,
            m.payload,
            dict(m.user_props)["sha256"],
            m.content_type,
            dict(m.user_props)["filename"],
            dict(m.user_props)["revision"],
        ).kind
        == "replaced"
    )
    assert store.stats()["complete_captures"] == 0
    outs = [
        store.store(
            x.topic,
            x.payload,
            dict(x.user_props)["sha256"],
            x.content_type,
            dict(x.user_props).get("filename"),
            dict(x.user_props)["revision"],
        )
        for x in msgs[1:]
    ]
    assert outs[-1].completed and store.stats()["complete_captures"] == 1


def test_receiver_process_tells_systemd_it_is_ready_and_feeds_the_watchdog_while_it_runs(tmp_path):
    """As under `Type=notify` + `WatchdogSec`: READY=1 at start, WATCHDOG=1 from the receive loop
    (also while the broker is down), INFO logs for the connection and its session state."""
    import os
    import socket

    from tests.box_config import free_port

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(10)
    port = free_port()
    path = write_config(tmp_path / "cutbox.toml", "booth-1", port, tmp_path / "data")
    log = tmp_path / "receiver.log"
    os.environ.update(NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="400000")
    try:
        receiver = python_subprocess(["-m", "device.catalog", "--config", str(path)], log)
    finally:
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
    broker = None
    try:
        seen = [sock.recv(512) for _ in range(3)]  # the broker is not up yet: pings all the same
        assert seen[0].startswith(b"READY=1") and seen[1:] == [b"WATCHDOG=1"] * 2
        broker = Broker(tmp_path / "broker", port=port).start()
        wait_for(lambda: "session present: False" in log.read_text(), 20, what="connected")
        while b"WATCHDOG=1" != sock.recv(512):
            pass
    finally:
        sigkill(receiver)
        if broker:
            broker.kill()
        sock.close()
    assert f"connected to 127.0.0.1:{port}" in log.read_text()


def test_the_receiver_needs_only_the_wire_contract_not_the_camera_and_model_stack():
    """The catalog server runs `cutbox catalog` without OpenCV, numpy or LiteRT installed."""
    import subprocess
    import sys

    from tests.paths import REPO

    code = (
        "import sys, device.cli, device.catalog.receiver, device.catalog.store;"
        "print(sorted(m for m in ('cv2', 'numpy', 'ai_edge_litert', 'tflite_runtime', 'fastapi') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
