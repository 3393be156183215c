"""The catalog receiver: checks every sha256, stores each capture once, survives kill -9."""

import hashlib
import time

from device.catalog.receiver import CatalogStore
from device.comms.mqtt import Publisher, capture_messages
from device.config import load_config
from mqtt_harness import (Broker, catalog_counts, make_capture, python_subprocess, sigkill, verify_catalog,
                          wait_for, write_config)


def _feed(store, cap, station="booth-1"):
    return [store.store(m.topic, m.payload, dict(m.user_props).get("sha256"), m.content_type,
                        dict(m.user_props).get("filename")) for m in capture_messages(cap, station)]


def test_capture_is_complete_only_when_meta_and_every_listed_artifact_are_stored(tmp_path):
    store = CatalogStore(tmp_path)
    cap = make_capture(1)
    msgs = capture_messages(cap, "booth-1")
    meta = msgs[-1]
    out = store.store(meta.topic, meta.payload, dict(meta.user_props)["sha256"])  # meta first this time
    assert out.kind == "stored" and out.completed is None
    for m in msgs[:-1]:
        out = store.store(m.topic, m.payload, dict(m.user_props)["sha256"], m.content_type, dict(m.user_props)["filename"])
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


def test_bad_checksum_missing_checksum_and_bad_topics_are_rejected_not_stored(tmp_path):
    store = CatalogStore(tmp_path)
    data = b"x" * 100
    good = hashlib.sha256(data).hexdigest()
    assert store.store("cutbox/b/captures/c1/jpeg", data + b"!", good).kind == "rejected"
    assert store.store("cutbox/b/captures/c1/jpeg", data, None).kind == "rejected"
    assert store.store("cutbox/b/captures/../jpeg", data, good).kind == "rejected"
    assert store.store("cutbox/b/captures/c1/meta", b"{}", hashlib.sha256(b"{}").hexdigest()).kind == "rejected"
    assert store.stats()["rejected"] == 4 and store.stats()["items"] == 0
    # same name, different content: the first one is kept, the conflict is counted
    assert store.store("cutbox/b/captures/c1/jpeg", data, good).kind == "stored"
    other = b"y" * 100
    assert store.store("cutbox/b/captures/c1/jpeg", other, hashlib.sha256(other).hexdigest()).kind == "conflict"
    assert (tmp_path / "files/b/c1/jpeg").read_bytes() == data


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
    assert counts["stored"] == 600 and counts.get("conflicts", 0) == 0 and counts.get("rejected", 0) == 0
    assert not list((cat_dir / "files").rglob("*.part-*"))
    assert log.read_text().count("subscribed to") == 2
