"""Every capture reaches the catalog exactly once, whatever the broker and the publisher do.

Real Mosquitto per test (free port, own config, persistence on), the real catalog receiver,
counts and checksums checked in the receiver's index and files.
"""

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from device.comms.mqtt import Publisher
from device.config import load_config
from tests.mqtt_harness import (
    REPO,
    Broker,
    ReceiverThread,
    catalog_counts,
    make_capture,
    make_certs,
    make_password_file,
    python_subprocess,
    sigkill,
    verify_catalog,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.broker

STATION = "booth-1"


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.kill()


# Mosquitto 2.0 keeps plain persistent subscriptions across its restart but not shared ones,
# so the broker-restart tests run the catalog with a plain subscription (share_group = "").
PLAIN = 'share_group = ""'


def _config(tmp_path, port, **kw):
    return load_config(write_config(tmp_path / "cutbox.toml", STATION, port, tmp_path / "data", **kw))


def test_broker_down_when_captures_start_then_up_all_arrive(tmp_path, broker):
    cfg = _config(tmp_path, broker.port, catalog_extra=PLAIN)
    rec = ReceiverThread(cfg).start()  # the catalog's session and subscription exist at the broker
    broker.stop()
    pub = Publisher(cfg.mqtt, STATION, tmp_path / "data/outbox.sqlite").start()
    try:
        for i in range(20):
            assert pub.submit(make_capture(i))
        time.sleep(0.5)
        s = pub.status()
        assert not s["connected"] and "cannot connect" in s["last_error"]
        assert s["outbox"]["depth"] == 20 and s["outbox"]["messages"] == 60
        broker.start()
        wait_for(lambda: catalog_counts(cfg.mqtt.catalog.data_dir)["complete"] == 20, 30, what="20 complete")
        wait_for(lambda: pub.status()["outbox"]["messages"] == 0, 10, what="outbox drained")
    finally:
        pub.stop()
        rec.stop()
    verify_catalog(cfg.mqtt.catalog.data_dir, range(20), STATION)
    # a capture whose receipt is slower than receipt_timeout_s (2 s here) is sent again; the
    # catalog still stores it once (verify_catalog above)
    assert pub.published_captures >= 20


@pytest.mark.slow
def test_broker_restarted_in_the_middle_of_200_captures_exactly_200_stored(tmp_path, broker):
    cfg = _config(tmp_path, broker.port, catalog_extra=PLAIN)
    rec = ReceiverThread(cfg).start()
    pub = Publisher(cfg.mqtt, STATION, tmp_path / "data/outbox.sqlite").start()
    submitted = []

    def produce():
        for i in range(200):
            pub.submit(make_capture(i))
            submitted.append(i)
            time.sleep(0.002)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: pub.published_captures >= 60, 60, what="60 published")
        broker.stop()  # SIGTERM: Mosquitto saves its persistence file
        time.sleep(0.3)
        assert pub.published_captures < 200
        broker.start()
        producer.join(60)
        wait_for(lambda: catalog_counts(cfg.mqtt.catalog.data_dir)["complete"] == 200, 60, what="200 complete")
        wait_for(lambda: pub.status()["outbox"]["messages"] == 0, 10, what="outbox drained")
        assert pub.status()["connections"] >= 2
    finally:
        pub.stop()
        rec.stop()
    verify_catalog(cfg.mqtt.catalog.data_dir, range(200), STATION)
    counts = catalog_counts(cfg.mqtt.catalog.data_dir)
    assert counts["stored"] == 600 and counts.get("conflicts", 0) == 0 and counts.get("quarantined", 0) == 0


def _status_watcher(port):
    seen = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="status-watch", protocol=mqtt.MQTTv5)
    c.on_message = lambda cl, u, m: seen.append((m.retain, json.loads(m.payload)))
    c.connect("127.0.0.1", port)
    # retain-as-published: a status published after we subscribed still shows its retain flag
    c.subscribe(f"cutbox/{STATION}/status", options=SubscribeOptions(qos=1, retainAsPublished=True))
    c.loop_start()
    return c, seen


@pytest.mark.slow
def test_publisher_killed_with_sigkill_mid_stream_and_restarted_exactly_all_none_twice(tmp_path, broker):
    path = write_config(tmp_path / "cutbox.toml", STATION, broker.port, tmp_path / "data")
    cfg = load_config(path)
    rec = ReceiverThread(cfg).start()
    log1 = tmp_path / "pub1.log"
    proc = python_subprocess(
        [str(REPO / "tests/comms/publisher_proc.py"), str(path), "0", "200", "--pace", "0.01"], log1
    )
    try:
        wait_for(lambda: log1.read_text().count("queued") >= 60, 60, what="60 queued")
        sigkill(proc)
        queued = {int(line.split()[1]) for line in log1.read_text().splitlines() if line.startswith("queued")}
        assert 60 <= len(queued) < 200
        assert catalog_counts(cfg.mqtt.catalog.data_dir)["complete"] <= len(queued)
        # the broker sent the last will: retained status says offline
        watcher, seen = _status_watcher(broker.port)
        wait_for(lambda: seen, 5, what="retained status")
        assert seen[0][0] and seen[0][1]["state"] == "offline"
        watcher.disconnect()
        # restart: queue what the first run had not confirmed, then drain the old outbox too
        log2 = tmp_path / "pub2.log"
        proc2 = python_subprocess(
            [
                str(REPO / "tests/comms/publisher_proc.py"),
                str(path),
                "0",
                "200",
                "--skip",
                ",".join(map(str, sorted(queued))),
            ],
            log2,
        )
        assert proc2.wait(90) == 0, log2.read_text()[-2000:]
        wait_for(lambda: catalog_counts(cfg.mqtt.catalog.data_dir)["complete"] == 200, 30, what="200 complete")
    finally:
        sigkill(proc)
        rec.stop()
    verify_catalog(cfg.mqtt.catalog.data_dir, range(200), STATION)
    counts = catalog_counts(cfg.mqtt.catalog.data_dir)
    assert counts["stored"] == 600 and counts.get("conflicts", 0) == 0


def test_retained_status_says_online_with_outbox_depth_then_offline_on_stop(tmp_path, broker):
    cfg = _config(tmp_path, broker.port)
    pub = Publisher(cfg.mqtt, STATION, tmp_path / "data/outbox.sqlite").start()
    wait_for(lambda: pub.status()["connected"], 10, what="connected")
    watcher, seen = _status_watcher(broker.port)
    try:
        wait_for(lambda: seen, 5, what="status")
        retained, body = seen[0]
        assert retained and body["online"] and body["outbox"]["policy"] == "block" and body["outbox"]["depth"] == 0
        pub.stop()
        wait_for(lambda: any(not b["online"] for _, b in seen), 5, what="offline status")
    finally:
        watcher.disconnect()


ACL = REPO / "firmware_config/mosquitto/cutbox.acl"


@pytest.fixture
def secured_broker(tmp_path):
    d = tmp_path / "sbroker"
    d.mkdir()
    pw = make_password_file(d / "passwd", {"booth-1": "pw-booth-1", "catalog": "pw-catalog"})
    b = Broker(d, extra=f"allow_anonymous false\npassword_file {pw}\nacl_file {ACL}").start()
    yield b
    b.kill()


def test_station_publishing_outside_its_root_is_refused_by_the_acl(tmp_path, secured_broker):
    (tmp_path / "booth.pw").write_text("pw-booth-1\n")
    cat_cfg = load_config(
        write_config(
            tmp_path / "cat.toml",
            "booth-1",
            secured_broker.port,
            tmp_path / "data",
            mqtt_extra='username = "catalog"\npassword = "pw-catalog"',
        )
    )
    rec = ReceiverThread(cat_cfg).start()
    # user booth-1 pretends to be booth-2: every message is outside cutbox/booth-1/
    rogue = load_config(
        write_config(
            tmp_path / "rogue.toml",
            "booth-2",
            secured_broker.port,
            tmp_path / "rogue",
            mqtt_extra=f'username = "booth-1"\npassword_file = "{tmp_path / "booth.pw"}"',
        )
    )
    honest = load_config(
        write_config(
            tmp_path / "honest.toml",
            "booth-1",
            secured_broker.port,
            tmp_path / "honest",
            mqtt_extra=f'username = "booth-1"\npassword_file = "{tmp_path / "booth.pw"}"',
        )
    )
    bad = Publisher(rogue.mqtt, "booth-2", tmp_path / "rogue/outbox.sqlite").start()
    good = Publisher(honest.mqtt, "booth-1", tmp_path / "honest/outbox.sqlite").start()
    try:
        for i in range(5):
            bad.submit(make_capture(i, station_prefix="rogue"))
            good.submit(make_capture(i))
        wait_for(lambda: bad.status()["outbox"]["refused_messages"] == 15, 20, what="15 refusals")
        wait_for(lambda: catalog_counts(cat_cfg.mqtt.catalog.data_dir)["complete"] == 5, 20, what="5 honest captures")
        s = bad.status()
        assert s["connected"] and s["outbox"]["messages"] == 0 and s["published_captures"] == 0
    finally:
        bad.stop()
        good.stop()
        rec.stop()
    verify_catalog(cat_cfg.mqtt.catalog.data_dir, range(5), "booth-1")
    assert not (Path(cat_cfg.mqtt.catalog.data_dir) / "files/booth-2").exists()


def test_bad_password_is_refused_and_reported_in_status(tmp_path, secured_broker):
    cfg = load_config(
        write_config(
            tmp_path / "c.toml",
            "booth-1",
            secured_broker.port,
            tmp_path / "data",
            mqtt_extra='username = "booth-1"\npassword = "wrong"',
        )
    )
    pub = Publisher(cfg.mqtt, "booth-1", tmp_path / "data/outbox.sqlite").start()
    try:
        pub.submit(make_capture(1))
        wait_for(lambda: "Not authorized" in (pub.status()["last_error"] or ""), 10, what="refusal in status")
        assert not pub.status()["connected"] and pub.status()["outbox"]["depth"] == 1  # kept for later
    finally:
        pub.stop()


def test_tls_options_reach_paho(tmp_path):
    """A TLS broker: the configured CA gets through and captures arrive; without it the
    certificate check fails and status says so; the service keeps running either way."""
    certs = make_certs(tmp_path / "certs")
    b = Broker(
        tmp_path / "tlsbroker", extra=f"cafile {certs}/ca.crt\ncertfile {certs}/broker.crt\nkeyfile {certs}/broker.key"
    ).start()
    try:
        untrusted = _config(tmp_path, b.port, mqtt_extra="[mqtt.tls]\nenabled = true")
        pub = Publisher(untrusted.mqtt, STATION, tmp_path / "data/outbox-untrusted.sqlite").start()
        try:
            wait_for(
                lambda: "CERTIFICATE_VERIFY_FAILED" in (pub.status()["last_error"] or ""), 10, what="verify failure"
            )
            assert not pub.status()["connected"]
        finally:
            pub.stop()
        cfg = _config(tmp_path, b.port, mqtt_extra=f'[mqtt.tls]\nenabled = true\nca_file = "{certs}/ca.crt"')
        rec = ReceiverThread(cfg).start()
        pub = Publisher(cfg.mqtt, STATION, tmp_path / "data/outbox.sqlite").start()
        try:
            for i in range(3):
                pub.submit(make_capture(i))
            wait_for(lambda: catalog_counts(cfg.mqtt.catalog.data_dir)["complete"] == 3, 20, what="3 over TLS")
        finally:
            pub.stop()
            rec.stop()
        verify_catalog(cfg.mqtt.catalog.data_dir, range(3), STATION)
    finally:
        b.kill()
