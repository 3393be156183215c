"""MQTT commands: validated, run on the service, answered with the request's correlation data."""

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.comms.commands import CommandDispatcher
from device.comms.mqtt import Publisher
from device.config import load_config
from tests.mqtt_harness import (
    Broker,
    ReceiverThread,
    catalog_counts,
    make_capture,
    verify_catalog,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.broker


class RecordingService:
    """A small real handler: records calls, makes real captures, and publishes them like the service."""

    def __init__(self):
        self.calls = []
        self.publisher = None
        self.n = 0

    def capture(self, sku=None, preset=None):
        self.calls.append(("capture", sku, preset))
        cap = make_capture(self.n)
        self.n += 1
        if self.publisher:
            self.publisher.submit(cap.complete())
        return cap

    def spin(self, steps, sku=None):
        self.calls.append(("spin", steps, sku))
        return [self.capture(sku) for _ in range(steps)]

    def calibrate(self, frames=None):
        self.calls.append(("calibrate",))
        raise RuntimeError("no clean plate: empty the booth first")

    def set_preset(self, name):
        self.calls.append(("set-preset", name))
        return {"preset": name}

    def reexport(self, capture_id, preset):
        self.calls.append(("reexport", capture_id, preset))
        return make_capture(7)

    def status(self):
        return {"ok": True}


@pytest.mark.parametrize(
    "verb,payload,error",
    [
        ("capture", b"{not json", "not valid JSON"),
        ("capture", b"[1, 2]", "JSON object"),
        ("spin", b'{"steps": 0}', "invalid request"),
        ("spin", b'{"steps": 361}', "invalid request"),
        ("spin", b'{"steps": 3, "sku": "a/b"}', "invalid request"),
        ("calibrate", b'{"frames": true}', "invalid request"),
        ("capture", b'{"skew": "typo"}', "invalid request"),
        ("reboot", b"{}", "unknown verb"),
        ("reexport", b'{"capture_id": "../etc", "preset": "square"}', "invalid request"),
        ("reexport", b'{"capture_id": "abc"}', "invalid request"),
        ("calibrate", b"", "no clean plate"),
    ],
)
def test_bad_commands_get_an_error_reply_and_the_handler_is_not_called_wrongly(verb, payload, error):
    svc = RecordingService()
    reply = CommandDispatcher(svc).handle(verb, payload)
    assert reply["ok"] is False and error in reply["error"] + " ".join(reply["details"])
    assert [c for c in svc.calls if c[0] != "calibrate" or payload] == []


def test_good_commands_call_the_service_with_validated_fields():
    svc = RecordingService()
    d = CommandDispatcher(svc)
    r = d.handle("capture", b'{"sku": "A-1", "preset": "square"}')
    assert r["ok"] and r["result"]["capture_id"] == "cap-00000" and len(r["result"]["artifacts"]) == 2
    assert d.handle("spin", b'{"steps": 3, "sku": " SHOE-1 "}')["result"]["count"] == 3  # scanner spaces dropped
    assert d.handle("set-preset", b'{"name": "tall"}')["result"] == {"preset": "tall"}
    assert d.handle("reexport", b'{"capture_id": "cap-1", "preset": "tall"}')["result"]["capture_id"] == "cap-00007"
    assert svc.calls[:2] == [("capture", "A-1", "square"), ("spin", 3, "SHOE-1")]
    assert svc.calls[-1] == ("reexport", "cap-1", "tall")
    assert d.counts == {"ok": 4, "error": 0}


def test_commands_over_mqtt_reply_with_correlation_data_and_malformed_ones_do_not_stop_the_service(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    try:
        cfg = load_config(write_config(tmp_path / "c.toml", "booth-1", broker.port, tmp_path / "data"))
        rec = ReceiverThread(cfg).start()
        svc = RecordingService()
        pub = Publisher(cfg.mqtt, "booth-1", tmp_path / "data/outbox.sqlite", handler=svc)
        svc.publisher = pub
        pub.start()
        wait_for(lambda: pub.status()["connected"], 10, what="publisher connected")
        replies, got = {}, threading.Event()

        def on_message(c, u, m):
            replies[m.properties.CorrelationData] = (m.topic, json.loads(m.payload))
            got.set()

        op = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator", protocol=mqtt.MQTTv5)
        op.on_message = on_message
        op.connect("127.0.0.1", broker.port)
        op.loop_start()
        op.subscribe("cutbox/booth-1/cmd/+/result", qos=1)
        op.subscribe("ops/replies", qos=1)
        import time

        time.sleep(0.3)

        def send(verb, payload, corr, response_topic=None):
            p = Properties(PacketTypes.PUBLISH)
            p.CorrelationData = corr
            if response_topic:
                p.ResponseTopic = response_topic
            op.publish(f"cutbox/booth-1/cmd/{verb}", payload, qos=1, properties=p)

        send("capture", b"{oops", b"c1")
        send("reboot", b"{}", b"c2")
        send("spin", b'{"steps": "many"}', b"c3")
        send("capture", b'{"sku": "SKU-9"}', b"c4")
        send("set-preset", b'{"name": "tall"}', b"c5", response_topic="ops/replies")
        wait_for(lambda: len(replies) == 5, 15, what="5 replies")
        assert replies[b"c1"][0] == "cutbox/booth-1/cmd/capture/result" and not replies[b"c1"][1]["ok"]
        assert "unknown verb" in replies[b"c2"][1]["error"]
        assert replies[b"c3"][1]["details"][0].startswith("steps")
        assert replies[b"c4"][1]["ok"] and replies[b"c4"][1]["result"]["capture_id"] == "cap-00000"
        assert replies[b"c5"][0] == "ops/replies" and replies[b"c5"][1]["result"] == {"preset": "tall"}
        wait_for(lambda: catalog_counts(cfg.mqtt.catalog.data_dir)["complete"] == 1, 10, what="captured one published")
        assert pub.status()["commands"] == {"ok": 2, "error": 3}
        op.disconnect()
        pub.stop()
        rec.stop()
        verify_catalog(cfg.mqtt.catalog.data_dir, [0], "booth-1")
    finally:
        broker.kill()


class SlowSpinService(RecordingService):
    """A spin that runs until cancelled, as the box's does between views."""

    def __init__(self):
        super().__init__()
        self.stop = threading.Event()

    def spin(self, steps=None, sku=None):
        self.calls.append(("spin", steps, sku))
        if self.stop.wait(30):
            raise RuntimeError("spin cancelled after view 2/8")
        return []

    def cancel(self):
        self.stop.set()
        return {"cancelling": True}


def test_a_cancel_over_mqtt_does_not_wait_behind_the_spin_it_stops(tmp_path):
    import time

    broker = Broker(tmp_path / "broker").start()
    try:
        cfg = load_config(write_config(tmp_path / "c.toml", "booth-1", broker.port, tmp_path / "data"))
        svc = SlowSpinService()
        pub = Publisher(cfg.mqtt, "booth-1", tmp_path / "data/outbox.sqlite", handler=svc)
        pub.start()
        wait_for(lambda: pub.status()["connected"], 10, what="publisher connected")
        replies = {}
        op = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator", protocol=mqtt.MQTTv5)
        op.on_message = lambda c, u, m: replies.setdefault(m.properties.CorrelationData, (time.monotonic(), m))
        op.connect("127.0.0.1", broker.port)
        op.loop_start()
        op.subscribe("cutbox/booth-1/cmd/+/result", qos=1)
        time.sleep(0.3)

        def send(verb, corr):
            p = Properties(PacketTypes.PUBLISH)
            p.CorrelationData = corr
            op.publish(f"cutbox/booth-1/cmd/{verb}", b"{}", qos=1, properties=p)

        send("spin", b"s")
        wait_for(lambda: svc.calls, 10, what="spin started")
        sent = time.monotonic()
        send("cancel", b"x")
        wait_for(lambda: b"x" in replies and b"s" in replies, 10, what="both replies")
        assert json.loads(replies[b"x"][1].payload)["result"] == {"cancelling": True}
        assert replies[b"x"][0] - sent < 5
        spin_reply = json.loads(replies[b"s"][1].payload)
        assert spin_reply["ok"] is False and "cancelled" in spin_reply["error"]
        op.disconnect()
        pub.stop()
    finally:
        broker.kill()
