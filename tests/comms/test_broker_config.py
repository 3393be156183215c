"""The shipped Mosquitto config runs as written (only ports and paths swapped): plain MQTT on
loopback, TLS for the LAN, logins and the ACL; its bounded queues drop what a long catalog
outage pushes over them, and the booths' resends make up for it."""

from __future__ import annotations

import os
import re
import ssl

import paho.mqtt.client as mqtt
import pytest

from device.comms.mqtt import Publisher
from device.config import load_config
from tests.mqtt_harness import (
    ACL,
    REPO,
    Broker,
    ReceiverThread,
    catalog_counts,
    free_port,
    login,
    make_capture,
    make_certs,
    make_password_file,
    verify_catalog,
    wait_for,
    write_config,
)

CONF = REPO / "firmware_config/mosquitto/cutbox.conf"
USERS = {"booth-1": "pw-1", "catalog": "pw-cat"}


def test_plain_mqtt_listens_on_loopback_only_and_every_other_listener_has_tls():
    listeners = re.split(r"^(?=listener )", CONF.read_text(), flags=re.M)[1:]
    plain = [block for block in listeners if "certfile" not in block]
    assert [b.splitlines()[0] for b in plain] == ["listener 1883 127.0.0.1"]
    assert all("cafile" in b and "keyfile" in b for b in listeners if b not in plain)
    settings = dict(line.split(None, 1) for line in CONF.read_text().splitlines() if line and not line.startswith("#"))
    for key in ("max_queued_messages", "max_queued_bytes", "memory_limit"):
        assert int(settings[key]) > 0, f"{key} must bound the queue"


@pytest.fixture
def shipped_broker(tmp_path):
    """A real Mosquitto on the shipped cutbox.conf, ports and paths swapped for the test's."""
    certs = make_certs(tmp_path / "certs")
    pw = make_password_file(tmp_path / "passwd", USERS)
    plain, tls = free_port(), free_port()
    text = (
        CONF.read_text()
        .replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
        .replace("listener 8883", f"listener {tls} 127.0.0.1")  # tests stay on loopback
        .replace("/etc/mosquitto/certs/", f"{certs}/")
        .replace("/etc/mosquitto/cutbox.passwd", str(pw))
        .replace("/etc/mosquitto/cutbox.acl", str(ACL))
        .replace("/var/lib/mosquitto/", f"{tmp_path}/")
    )
    b = Broker(tmp_path / "broker", port=plain)
    b.conf.write_text(text + ("user root\n" if os.geteuid() == 0 else "") + "log_dest stderr\n")
    b.start()
    b.tls_port, b.certs = tls, certs
    yield b
    b.kill()


@pytest.mark.broker
def test_booths_publish_over_tls_the_catalog_on_loopback_and_receipts_come_back(tmp_path, shipped_broker):
    b = shipped_broker
    cat = load_config(
        write_config(tmp_path / "cat.toml", "catalog", b.port, tmp_path / "cat", mqtt_extra=login("catalog", "pw-cat"))
    )
    box = load_config(
        write_config(
            tmp_path / "box.toml",
            "booth-1",
            b.tls_port,
            tmp_path / "box",
            mqtt_extra=login("booth-1", "pw-1") + f'\n[mqtt.tls]\nenabled = true\nca_file = "{b.certs}/ca.crt"',
        )
    )
    rec = ReceiverThread(cat).start()
    pub = Publisher(box.mqtt, "booth-1", tmp_path / "box/outbox.sqlite").start()
    try:
        for i in range(3):
            pub.submit(make_capture(i))
        wait_for(lambda: pub.status()["receipted_captures"] == 3, 20, what="3 stored and receipted over TLS")
        assert pub.status()["outbox"]["depth"] == 0
    finally:
        pub.stop()
        rec.stop()
    verify_catalog(cat.mqtt.catalog.data_dir, range(3), "booth-1")

    # the LAN port speaks TLS only: a plain client never gets a CONNACK there
    plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain", protocol=mqtt.MQTTv5)
    plain.username_pw_set("booth-1", "pw-1")
    connected = []
    plain.on_connect = lambda c, u, f, rc, p: connected.append(rc)
    try:
        plain.connect("127.0.0.1", b.tls_port, keepalive=5)
        for _ in range(20):
            plain.loop(0.1)
    except (OSError, ssl.SSLError):
        pass
    assert connected == []


@pytest.mark.broker
def test_a_bounded_broker_queue_drops_during_a_catalog_outage_and_the_booths_resends_fill_the_gap(tmp_path):
    broker = Broker(tmp_path / "broker", extra="max_queued_messages 5").start()
    cfg = load_config(
        write_config(
            tmp_path / "cutbox.toml", "booth-1", broker.port, tmp_path / "data", catalog_extra='share_group = ""'
        )
    )
    ReceiverThread(cfg).start().stop()  # the catalog's session exists, its receiver is down
    pub = Publisher(cfg.mqtt, "booth-1", tmp_path / "data/outbox.sqlite").start()
    rec = None
    try:
        for i in range(10):
            pub.submit(make_capture(i))
        wait_for(lambda: pub.status()["outbox"]["awaiting_receipt"] == 10, 20, what="30 messages PUBACKed")
        rec = ReceiverThread(cfg).start()  # gets the 5 the broker kept; the rest come as resends
        wait_for(lambda: pub.status()["outbox"]["depth"] == 0, 40, what="all receipted")
        assert pub.status()["outbox"]["resent_captures"] >= 5
    finally:
        pub.stop()
        if rec:
            rec.stop()
        broker.kill()
    verify_catalog(cfg.mqtt.catalog.data_dir, range(10), "booth-1")
    assert catalog_counts(cfg.mqtt.catalog.data_dir)["stored"] == 30
