"""A station login can send anything under its root: the catalog quarantines what it cannot store,
acknowledges it, and keeps storing every other station's (and the same station's) good captures.

Real Mosquitto with the shipped ACL, the real receiver process (`python -m device.catalog`).
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import subprocess
import sys

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.catalog.store import CatalogStore
from device.comms.mqtt import Publisher, capture_messages
from device.config import load_config
from tests.mqtt_harness import (
    REPO,
    catalog_counts,
    login,
    make_capture,
    python_subprocess,
    secured_broker,
    sigkill,
    verify_catalog,
    wait_for,
    write_config,
)

USERS = {"booth-1": "pw-1", "booth-2": "pw-2", "catalog": "pw-cat"}


def _valid_meta(capture_id: str) -> dict:
    meta = json.loads(capture_messages(make_capture(0), "booth-1")[-1].payload)
    meta["capture_id"] = capture_id
    return meta


def _message(capture_id: str, payload: bytes, name: str = "meta", **props) -> tuple[str, bytes, list]:
    user = [("sha256", hashlib.sha256(payload).hexdigest()), ("revision", "0")]
    user = [(k, props.pop(k, v)) for k, v in user] + list(props.items())
    return f"cutbox/booth-1/captures/{capture_id}/{name}", payload, [(k, v) for k, v in user if v is not None]


def _meta_with(cid: str, **changes) -> bytes:
    meta = _valid_meta(cid) | changes
    return json.dumps(meta).encode()


def issue_messages() -> list[tuple[str, bytes, list]]:
    """The four messages that stopped the catalog before: each must now be quarantined."""
    return [
        _message("hostile-artifacts", _meta_with("hostile-artifacts", artifacts=["x", 1])),
        _message("hostile-revision", b"jpeg bytes", name="jpeg", revision="1" * 30),
        _message("hostile-utf16", json.dumps(_valid_meta("hostile-utf16")).encode("utf-16")),
        _message("hostile-sku", _meta_with("hostile-sku", sku={"a": 1})),
    ]


BAD_VALUES = {
    "sku": [{"a": 1}, [1], 1, True, "s" * 300],
    "spin_id": [{"a": 1}, 7, ["x"]],
    "angle": ["45", True, [1], 1e300],
    "quality": ["0.9", {"q": 1}, False],
    "review": ["yes", 1, None, []],
    "timings_ms": [[1], {"segment": "fast"}, "fast"],
    "artifacts": [["x", 1], "jpeg", [{}], [{"name": "../x", "bytes": 1, "sha256": "0" * 64}], None],
    "revision": [-1, 2**40, "1", 1.5],
    "capture_id": ["other-id", 1, None],
    "schema": ["cutbox.capture.meta/2", None, 1],
    "extra": [[1], "x"],
}


def fuzz_messages(seed: int, count: int) -> list[tuple[str, bytes, list]]:
    """Seeded hostile variations of meta values, encodings, topic levels and user properties."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        cid = f"fuzz-{seed}-{i}"
        kind = rng.choice(["field", "field", "encoding", "topic", "props"])
        if kind == "field":
            key = rng.choice(sorted(BAD_VALUES))
            out.append(_message(cid, _meta_with(cid, **{key: rng.choice(BAD_VALUES[key])})))
        elif kind == "encoding":
            text = json.dumps(_valid_meta(cid))
            payload = rng.choice(
                [
                    text.encode("utf-16-le"),
                    text.replace("square", "squaré").encode("latin-1"),
                    text.encode()[: rng.randrange(1, len(text))],
                    text.replace('"quality": 0.9', '"quality": NaN').encode(),
                    b"[" * 100_000,
                    b"\xef\xbb\xbf" + text.encode(),
                    b"",
                    json.dumps([_valid_meta(cid)]).encode(),
                ]
            )
            out.append(_message(cid, payload))
        elif kind == "topic":
            level = rng.choice(["..", "a b", "é", "x" * 200, "", ".hidden"])
            topic = rng.choice(
                [
                    f"cutbox/booth-1/captures/{level}/meta",
                    f"cutbox/booth-1/captures/{cid}/{level}",
                    f"cutbox/booth-1/captures/{cid}/jpeg/extra",
                    f"cutbox/booth-1/captures/{cid}",
                ]
            )
            _, payload, props = _message(cid, b"some bytes", name="jpeg")
            out.append((topic, payload, props))
        else:
            prop = rng.choice(
                [
                    {"revision": rng.choice(["-1", "1.5", "٣", " 1", "9" * 11, "0x10"])},
                    {"sha256": rng.choice([None, "0" * 64, "zz", "A" * 500])},
                    {f"k{j}": "v" for j in range(40)},
                    {"filename": "f" * 2000},
                ]
            )
            out.append(_message(cid, b"artifact bytes", name="jpeg", **prop))
    return out


def _publish_raw(port: int, messages: list[tuple[str, bytes, list]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hostile", protocol=mqtt.MQTTv5)
    client.username_pw_set("booth-1", USERS["booth-1"])
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = []
        for topic, payload, user in messages:
            props = Properties(PacketTypes.PUBLISH)
            if user:
                props.UserProperty = user
            infos.append(client.publish(topic, payload, qos=1, properties=props))
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _station(tmp_path, station: str, port: int):
    return load_config(
        write_config(
            tmp_path / f"{station}.toml", station, port, tmp_path / station, mqtt_extra=login(station, USERS[station])
        )
    )


@pytest.fixture
def broker(tmp_path):
    b = secured_broker(tmp_path / "broker", USERS).start()
    yield b
    b.kill()


@pytest.mark.broker
def test_hostile_messages_are_quarantined_while_good_captures_from_every_station_are_stored(tmp_path, broker):
    cat_path = write_config(
        tmp_path / "catalog.toml",
        "catalog",
        broker.port,
        tmp_path / "cat",
        mqtt_extra=login("catalog", USERS["catalog"]),
        catalog_extra='share_group = ""',
    )
    cat_dir = load_config(cat_path).mqtt.catalog.data_dir
    log = tmp_path / "receiver.log"
    receiver = python_subprocess(["-m", "device.catalog", "--config", str(cat_path)], log)
    hostile = issue_messages() + fuzz_messages(seed=26, count=40)
    one = Publisher(_station(tmp_path, "booth-1", broker.port).mqtt, "booth-1", tmp_path / "b1/outbox.sqlite")
    two = Publisher(_station(tmp_path, "booth-2", broker.port).mqtt, "booth-2", tmp_path / "b2/outbox.sqlite")
    try:
        wait_for(lambda: "subscribed to cutbox/+/captures/#" in log.read_text(), 20, what="receiver subscribed")
        one.start(), two.start()
        for i in range(5):
            one.submit(make_capture(i)), two.submit(make_capture(i))
        _publish_raw(broker.port, hostile[:4])  # the issue's four first: they used to stop everything
        for i in range(5, 10):
            one.submit(make_capture(i)), two.submit(make_capture(i))
        _publish_raw(broker.port, hostile[4:])
        for i in range(10, 15):
            one.submit(make_capture(i)), two.submit(make_capture(i))
        wait_for(lambda: catalog_counts(cat_dir)["complete"] == 30, 40, what="30 good captures")
        wait_for(lambda: catalog_counts(cat_dir).get("quarantined", 0) == len(hostile), 20, what="all quarantined")
        assert receiver.poll() is None, log.read_text()[-2000:]

        # every hostile message was acknowledged: a restarted receiver gets none of them again
        sigkill(receiver)
        receiver = python_subprocess(["-m", "device.catalog", "--config", str(cat_path)], log)
        wait_for(lambda: log.read_text().count("subscribed to") == 2, 20, what="receiver back")
        one.submit(make_capture(15))
        wait_for(lambda: catalog_counts(cat_dir)["complete"] == 31, 20, what="one more after the restart")
        assert catalog_counts(cat_dir)["quarantined"] == len(hostile)
        assert "session present: True" in log.read_text()
    finally:
        one.stop(), two.stop()
        sigkill(receiver)
    verify_catalog(cat_dir, range(16), "booth-1")
    verify_catalog(cat_dir, range(15), "booth-2")
    db = sqlite3.connect(cat_dir / "index.sqlite")
    rows = db.execute("SELECT topic, station, user_props, reason, bytes FROM quarantine ORDER BY id").fetchall()
    db.close()
    assert len(rows) == len(hostile)
    reasons = {r[0].split("/")[3]: r[3] for r in rows}
    assert "artifacts.0" in reasons["hostile-artifacts"]
    assert "revision" in reasons["hostile-revision"]
    assert "not UTF-8" in reasons["hostile-utf16"]
    assert "sku" in reasons["hostile-sku"]
    assert all(r[1] == "booth-1" and json.loads(r[2]) is not None for r in rows)
    assert "Traceback" not in log.read_text()  # every one was foreseen by a check, none hit the guard


def test_stats_say_when_the_catalog_last_stored_and_what_it_quarantined(tmp_path):
    store = CatalogStore(tmp_path / "x" / "catalog")  # the data_dir write_config gives the catalog
    for m in capture_messages(make_capture(1), "booth-1"):
        store.receive(m.topic, m.payload, list(m.user_props), m.content_type)
    for topic, payload, user in issue_messages():
        assert store.receive(topic, payload, user).kind == "quarantined"
    store.close()
    cfg = write_config(tmp_path / "c.toml", "catalog", 1883, tmp_path / "x")

    def stats(*extra, entry=("device.catalog",)):
        return subprocess.run(
            [sys.executable, "-m", *entry, "--config", str(cfg), "--stats", *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    run = stats("--max-age", "3600")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"cutbox: catalog data_dir {tmp_path / 'x' / 'catalog'} (mqtt.catalog.data_dir in {cfg})" in run.stderr
    out = json.loads(run.stdout)
    assert out["complete_captures"] == 1 and out["quarantined"] == 4
    assert 0 <= out["last_stored_age_s"] < 60
    assert len(out["recent_quarantine"]) == 4 and out["recent_quarantine"][0]["topic"].endswith("hostile-sku/meta")
    stale = stats("--max-age", "0", entry=("device.cli", "catalog"))  # `cutbox catalog` takes it too
    assert stale.returncode == 1 and "stale: nothing stored for" in stale.stdout
