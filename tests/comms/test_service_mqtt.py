"""MQTT end to end through the real service: a real Mosquitto, `CutboxService` with MQTT on,
the real model on the sample photos, and the catalog receiver."""

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.service import CutboxService
from tests.box_config import box_config, copy_samples, free_port
from tests.mqtt_harness import Broker, ReceiverThread, wait_for
from tests.paths import REPO

STATION = "booth-7"


def _service_config(tmp_path, port: int, photos: tuple[str, ...], catalog: dict | None = None, **mqtt_keys):
    """The real service on sample photos and the shipped model, publishing to a broker on `port`."""
    mqtt_on = {
        "enabled": True,
        "port": port,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "catalog": {"data_dir": str(tmp_path / "catalog"), **(catalog or {})},
        **mqtt_keys,
    }
    folder = copy_samples(tmp_path / "photos", photos)
    return box_config(tmp_path, folder, station={"id": STATION}, mqtt=mqtt_on)


@pytest.mark.broker
def test_capture_command_over_mqtt_is_answered_and_lands_in_the_catalog(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cfg = _service_config(tmp_path, broker.port, ("cap.jpg", "shoes.jpg"))
    rec = ReceiverThread(cfg).start()
    svc = CutboxService(cfg).start()
    op = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator", protocol=mqtt.MQTTv5)
    replies: dict[bytes, tuple[str, dict]] = {}
    try:
        wait_for(lambda: svc.status()["mqtt"].get("connected"), 15, what="service connected to the broker")
        op.on_message = lambda c, u, m: replies.__setitem__(
            m.properties.CorrelationData, (m.topic, json.loads(m.payload))
        )
        op.connect("127.0.0.1", broker.port)
        op.loop_start()
        subscribed = threading.Event()
        op.on_subscribe = lambda *a: subscribed.set()
        op.subscribe(f"cutbox/{STATION}/cmd/+/result", qos=1)
        assert subscribed.wait(5)

        def send(verb: str, payload: bytes, corr: bytes) -> None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = corr
            op.publish(f"cutbox/{STATION}/cmd/{verb}", payload, qos=1, properties=props)

        send("capture", b'{"sku": "CAP-1"}', b"req-1")
        wait_for(lambda: b"req-1" in replies, 60, what="capture reply")
        topic, reply = replies[b"req-1"]
        assert topic == f"cutbox/{STATION}/cmd/capture/result" and reply["ok"], reply
        capture_id = reply["result"]["capture_id"]
        assert reply["result"]["sku"] == "CAP-1" and svc.store.exists(capture_id)

        send("set-preset", b'{"name": 42}', b"req-2")  # malformed: name must be a string
        send("set-preset", b"{nope", b"req-3")
        send("status", b"", b"req-4")  # and the service keeps answering
        wait_for(lambda: {b"req-2", b"req-3", b"req-4"} <= replies.keys(), 20, what="three more replies")
        assert not replies[b"req-2"][1]["ok"] and replies[b"req-2"][1]["details"][0].startswith("name")
        assert not replies[b"req-3"][1]["ok"] and "not valid JSON" in replies[b"req-3"][1]["error"]
        assert replies[b"req-4"][1]["ok"] and replies[b"req-4"][1]["result"]["last_capture"] == capture_id

        cat = Path(cfg.mqtt.catalog.data_dir)

        def complete() -> bool:
            db = sqlite3.connect(f"file:{cat / 'index.sqlite'}?mode=ro", uri=True, timeout=10)
            try:
                row = db.execute(
                    "SELECT complete FROM captures WHERE station=? AND capture_id=?", (STATION, capture_id)
                ).fetchone()
            finally:
                db.close()
            return bool(row and row[0])

        wait_for(complete, 30, what="capture complete in the catalog")
    finally:
        op.disconnect()
        op.loop_stop()
        svc.stop()
        rec.stop()
        broker.kill()
    db = sqlite3.connect(cat / "index.sqlite")
    meta = json.loads(db.execute("SELECT meta FROM captures WHERE capture_id=?", (capture_id,)).fetchone()[0])
    items = {
        name: (sha, path)
        for name, sha, path in db.execute("SELECT name, sha256, path FROM items WHERE capture_id=?", (capture_id,))
    }
    db.close()
    assert meta["sku"] == "CAP-1" and meta["quality"] is not None
    # every artifact the reply names reaches the catalog (the metadata sidecar rides in the meta message)
    sent = {a["name"]: a["sha256"] for a in reply["result"]["artifacts"] if a["name"] != "meta"}
    assert {"jpeg", "mask"} <= set(sent)
    assert {a["name"]: a["sha256"] for a in meta["artifacts"]} == sent and set(sent) <= set(items)
    for name, sha in sent.items():
        assert items[name][0] == sha and hashlib.sha256((cat / items[name][1]).read_bytes()).hexdigest() == sha
        assert (tmp_path / "data" / "captures" / capture_id).is_dir()


@pytest.mark.broker
def test_status_shows_the_outbox_while_the_broker_is_down_and_it_drains_on_receipts(tmp_path):
    port = free_port()
    # sent before the receiver subscribed: sent again soon
    cfg = _service_config(tmp_path, port, ("cap.jpg",), receipt_timeout_s=2.0, catalog={"share_group": ""})
    svc = CutboxService(cfg).start()
    broker = rec = None
    try:
        svc.capture(sku="A")
        svc.capture(sku="B")
        st = svc.status()  # read locally: no broker needed
        assert not st["mqtt"]["connected"] and st["mqtt"]["outbox_depth"] == 2 and not st["mqtt"]["outbox_full"]
        assert st["mqtt"]["oldest_unreceipted"] is not None
        assert st["storage"]["captures_today"] == 2 and st["storage"]["free_bytes"] > 0
        assert any(a["kind"] == "broker" for a in st["alerts"])
        broker = Broker(tmp_path / "broker", port=port).start()
        rec = ReceiverThread(cfg).start()
        wait_for(lambda: svc.status()["mqtt"]["outbox_depth"] == 0, 30, what="receipted")
        st = svc.status()
        assert st["mqtt"]["oldest_unreceipted"] is None and st["mqtt"]["awaiting_receipt"] == 0
    finally:
        svc.stop()
        if rec:
            rec.stop()
        if broker:
            broker.kill()


def test_cutbox_status_reads_the_outbox_and_disk_from_disk_while_nothing_runs(tmp_path):
    """`cutbox status` with the box stopped and no broker: depth, oldest unreceipted, disk use."""
    import subprocess
    import sys

    from device.comms.mqtt import capture_messages
    from device.comms.outbox import Outbox
    from tests.mqtt_harness import make_capture, write_config

    cfg = write_config(tmp_path / "cutbox.toml", STATION, 1, tmp_path / "data")
    box = Outbox(tmp_path / "data" / "outbox.sqlite")
    for i in range(3):
        box.put(f"cap-{i}", capture_messages(make_capture(i), STATION))
    box.close()
    run = subprocess.run(
        [sys.executable, "-m", "device.cli", "status", "--config", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert f"cutbox: data_dir {tmp_path / 'data'} (station.data_dir in {cfg})" in run.stderr  # where it read
    out = json.loads(run.stdout)
    assert out["outbox"]["depth"] == 3 and out["outbox"]["oldest_unreceipted"] > 0 and not out["outbox"]["full"]
    assert out["storage"]["free_bytes"] > 0 and out["storage"]["captures_today"] == 0
    assert sorted(p.name for p in (tmp_path / "data" / "outbox.sqlite.payloads").iterdir())  # nothing swept
