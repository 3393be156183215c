"""The box forgets a capture only on the catalog's receipt: a broker crash loses nothing.

Real Mosquitto (persistence on, but killed before its autosave, as in a power cut or an OOM
kill), the real receiver, the real publisher.
"""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from device.comms.mqtt import Publisher
from device.config import load_config
from tests.mqtt_harness import (
    Broker,
    ReceiverThread,
    catalog_counts,
    login,
    make_capture,
    secured_broker,
    verify_catalog,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.broker

STATION = "booth-1"


def test_broker_sigkilled_with_the_receiver_down_then_restarted_every_capture_is_stored_once(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cfg = load_config(
        write_config(
            tmp_path / "cutbox.toml", STATION, broker.port, tmp_path / "data", catalog_extra='share_group = ""'
        )
    )
    ReceiverThread(cfg).start().stop()  # the catalog's session exists: the broker queues for it
    pub = Publisher(cfg.mqtt, STATION, tmp_path / "data/outbox.sqlite").start()
    rec = None
    try:
        for i in range(50):
            pub.submit(make_capture(i))
        # every message PUBACKed by the broker and queued there for the absent receiver
        wait_for(lambda: pub.status()["outbox"]["awaiting_receipt"] == 50, 20, what="50 acknowledged by the broker")
        assert pub.status()["outbox"]["depth"] == 50  # kept: a PUBACK is not a receipt
        broker.kill()  # SIGKILL before its autosave: its queue is gone
        broker.start()
        rec = ReceiverThread(cfg).start()
        wait_for(lambda: catalog_counts(cfg.mqtt.catalog.data_dir)["complete"] == 50, 30, what="50 stored")
        wait_for(lambda: pub.status()["outbox"]["depth"] == 0, 15, what="all receipted")
        st = pub.status()
        assert st["outbox"]["resent_captures"] >= 50  # the broker really had lost them
        assert st["receipted_captures"] == 50 and st["outbox"]["receipted_captures"] == 50
    finally:
        pub.stop()
        if rec:
            rec.stop()
        broker.kill()
    verify_catalog(cfg.mqtt.catalog.data_dir, range(50), STATION)
    counts = catalog_counts(cfg.mqtt.catalog.data_dir)
    assert counts["stored"] == 150 and counts.get("quarantined", 0) == 0


def test_the_acl_lets_the_catalog_send_receipts_and_a_station_read_only_its_own(tmp_path):
    users = {"booth-1": "pw-1", "booth-2": "pw-2", "catalog": "pw-cat"}
    broker = secured_broker(tmp_path / "broker", users).start()
    cat = load_config(
        write_config(
            tmp_path / "cat.toml",
            "catalog",
            broker.port,
            tmp_path / "cat",
            mqtt_extra=login("catalog", users["catalog"]),
        )
    )
    box = load_config(
        write_config(
            tmp_path / "b1.toml", STATION, broker.port, tmp_path / "b1", mqtt_extra=login(STATION, users[STATION])
        )
    )
    spied: list[str] = []
    subscribed = threading.Event()
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="spy", protocol=mqtt.MQTTv5)
    spy.username_pw_set("booth-2", users["booth-2"])
    spy.on_message = lambda c, u, m: spied.append(m.topic)
    spy.on_subscribe = lambda *a: subscribed.set()
    spy.connect("127.0.0.1", broker.port)
    spy.subscribe([("cutbox/booth-1/receipts/#", 1), ("cutbox/+/receipts/#", 1)])
    spy.loop_start()
    rec = ReceiverThread(cat).start()
    pub = Publisher(box.mqtt, STATION, tmp_path / "b1/outbox.sqlite").start()
    try:
        assert subscribed.wait(10)
        for i in range(3):
            pub.submit(make_capture(i))
        wait_for(lambda: pub.status()["receipted_captures"] == 3, 20, what="3 receipts through the ACL")
        assert pub.status()["outbox"]["depth"] == 0 and pub.status()["outbox"]["resent_captures"] == 0
        assert spied == []  # booth-2 never sees booth-1's receipts
    finally:
        pub.stop()
        rec.stop()
        spy.loop_stop()
        spy.disconnect()
        broker.kill()
    verify_catalog(cat.mqtt.catalog.data_dir, range(3), STATION)


def test_a_station_takes_only_well_formed_receipts_for_itself_and_the_topic_s_capture():
    import json

    import pytest

    from device.comms.wire import Receipt, parse_receipt

    good = Receipt(station=STATION, capture_id="cap-1", meta_sha256="a" * 64, stored_at=1.0).to_json()
    topic = f"cutbox/{STATION}/receipts/cap-1"
    assert parse_receipt(topic, good, STATION).meta_sha256 == "a" * 64
    with pytest.raises(ValueError, match="names booth-1/cap-1"):
        parse_receipt(f"cutbox/{STATION}/receipts/cap-2", good, STATION)  # another capture's receipt
    with pytest.raises(ValueError):
        parse_receipt(topic, good, "booth-2")
    for bad in (b"", b"[]", b"\xff", json.dumps({**json.loads(good), "meta_sha256": "x"}).encode(), b"{" * 5000):
        with pytest.raises(ValueError):
            parse_receipt(topic, bad, STATION)
