"""A corrected capture (same id, new bytes) reaches the catalog and replaces the old version,
whether the old one was still waiting in the outbox or was already delivered. Real Mosquitto,
real publisher, real catalog receiver."""

import hashlib
import sqlite3
import time

import pytest

from device.comms.mqtt import Publisher
from device.config import load_config
from device.types import Artifact
from tests.mqtt_harness import Broker, ReceiverThread, catalog_counts, make_capture, wait_for, write_config

pytestmark = pytest.mark.broker

STATION = "booth-1"


def corrected(index: int, revision: int = 1):
    cap = make_capture(index)
    cap.meta["corrections"] = revision
    cap.artifacts = [
        Artifact(a.name, a.filename, a.content_type, a.data[::-1] + b"v%d" % revision) for a in cap.artifacts
    ]
    return cap


def stored_shas(data_dir, capture_id) -> dict:
    db = sqlite3.connect(f"file:{data_dir / 'index.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute("SELECT name, sha256, path FROM items WHERE capture_id=?", (capture_id,)).fetchall()
        complete = db.execute("SELECT complete FROM captures WHERE capture_id=?", (capture_id,)).fetchone()
    finally:
        db.close()
    files = {name: hashlib.sha256((data_dir / path).read_bytes()).hexdigest() for name, _, path in rows}
    assert files == {name: sha for name, sha, _ in rows}, "a file on disk does not match its index row"
    return {"complete": bool(complete and complete[0]), **{name: sha for name, sha, _ in rows}}


def settled(data_dir, capture_id) -> dict:
    """stored_shas while the receiver may be mid-replacement: the old file of a superseded row can
    vanish between reading the row and opening it (the strict check runs once all is quiet)."""
    try:
        return stored_shas(data_dir, capture_id)
    except FileNotFoundError:
        return {}


def expected(cap) -> dict:
    return {a.name: a.sha256 for a in cap.artifacts}


def test_correction_made_while_the_old_version_waits_replaces_it_in_the_outbox(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cfg = load_config(
        write_config(tmp_path / "c.toml", STATION, broker.port, tmp_path / "data", catalog_extra='share_group = ""')
    )
    cat = cfg.mqtt.catalog.data_dir
    rec = ReceiverThread(cfg).start()
    broker.stop()  # the broker is down: both versions wait in the outbox
    pub = Publisher(cfg.mqtt, STATION, tmp_path / "data/outbox.sqlite").start()
    try:
        old, new = make_capture(1), corrected(1)
        assert pub.submit(old) and pub.submit(new)
        assert pub.submit(corrected(1)) is False  # identical resubmit: a no-op
        st = pub.status()["outbox"]
        assert st["depth"] == 1 and st["messages"] == 3 and st["replaced_captures"] == 1
        broker.start()
        wait_for(lambda: catalog_counts(cat)["complete"] == 1, 30, what="corrected capture complete")
        wait_for(lambda: pub.status()["outbox"]["messages"] == 0, 10, what="outbox drained")
    finally:
        pub.stop()
        rec.stop()
        broker.kill()
    shas = stored_shas(cat, new.id)
    assert shas.pop("complete") and {k: v for k, v in shas.items() if k != "meta"} == expected(new)
    counts = catalog_counts(cat)
    assert counts["stored"] == 3 and counts.get("replaced", 0) == 0 and counts.get("conflicts", 0) == 0


def test_correction_made_after_the_old_version_was_delivered_replaces_it_in_the_catalog(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cfg = load_config(write_config(tmp_path / "c.toml", STATION, broker.port, tmp_path / "data"))
    cat = cfg.mqtt.catalog.data_dir
    rec = ReceiverThread(cfg).start()
    pub = Publisher(cfg.mqtt, STATION, tmp_path / "data/outbox.sqlite").start()
    try:
        old, new = make_capture(2), corrected(2)
        assert pub.submit(old)
        wait_for(lambda: settled(cat, old.id).get("complete"), 20, what="original complete")
        wait_for(lambda: pub.status()["outbox"]["messages"] == 0, 10, what="original sent")
        assert pub.submit(new)
        wait_for(
            lambda: (
                settled(cat, new.id).get("jpeg") == new.artifacts[0].sha256 and settled(cat, new.id).get("complete")
            ),
            20,
            what="correction stored",
        )
        wait_for(lambda: pub.status()["outbox"]["messages"] == 0, 10, what="correction sent")
        assert pub.submit(corrected(2))  # sent already: queued again, and the catalog keeps one copy
        wait_for(lambda: catalog_counts(cat).get("duplicates", 0) == 3, 20, what="resend seen as duplicate")
        time.sleep(0.2)
    finally:
        pub.stop()
        rec.stop()
        broker.kill()
    shas = stored_shas(cat, new.id)
    assert shas.pop("complete") and {k: v for k, v in shas.items() if k != "meta"} == expected(new)
    counts = catalog_counts(cat)
    assert (
        counts["stored"] == 3 and counts["replaced"] == 3 and counts["items"] == 3 and counts.get("conflicts", 0) == 0
    )
    files = [p for p in (cat / "files" / STATION).rglob("*") if p.is_file()]
    assert len(files) == 3
