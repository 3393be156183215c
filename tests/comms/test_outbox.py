"""The durable outbox: ordered, survives a reopen, bounded with a visible policy."""

import hashlib
import sqlite3
import time

import pytest

from device.comms.mqtt import capture_messages
from device.comms.outbox import Outbox, OutboxFull, OutMessage
from tests.mqtt_harness import make_capture


def _msgs(i: int, n: int = 2, size: int = 100) -> list[OutMessage]:
    return [OutMessage(topic=f"t/{i}/{k}", payload=bytes([i % 256]) * size) for k in range(n)]


def test_messages_come_back_in_order_a_puback_marks_them_sent_and_only_the_receipt_removes_them(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    for i in range(5):
        assert box.put(f"c{i}", _msgs(i))
    got = box.pending(0, 100)
    assert [m.topic for m in got] == [f"t/{i}/{k}" for i in range(5) for k in range(2)]
    assert box.ack([got[0].seq]) == []  # c0 still has one message left
    assert box.ack([got[1].seq, got[2].seq]) == ["c0"]  # c0 fully sent: now it waits for its receipt
    s = box.stats()
    assert s["depth"] == 5 and s["messages"] == 10 and s["awaiting_receipt"] == 1
    assert [m.seq for m in box.pending(0, 100)] == [m.seq for m in got[3:]]  # c1's second message first
    assert box.receipt("c0", None)
    s = box.stats()
    assert s["depth"] == 4 and s["messages"] == 8 and s["receipted_captures"] == 1 and s["awaiting_receipt"] == 0


def test_wal_and_full_sync_are_on(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_unacked_messages_survive_a_reopen_and_resume_from_the_oldest(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    for i in range(3):
        box.put(f"c{i}", _msgs(i))
    first = box.pending(0, 2)
    box.ack([m.seq for m in first])
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    rest = again.pending(0, 100)
    assert [m.capture_id for m in rest] == ["c1", "c1", "c2", "c2"]
    assert rest[0].payload == bytes([1]) * 100


def test_resubmitting_a_queued_capture_is_a_no_op(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    assert box.put("c1", _msgs(1))
    assert not box.put("c1", _msgs(1))
    assert box.stats()["messages"] == 2


def test_block_policy_refuses_with_an_error_and_status_says_full(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_captures=3, policy="block")
    for i in range(3):
        box.put(f"c{i}", _msgs(i))
    with pytest.raises(OutboxFull, match="outbox full"):
        box.put("c3", _msgs(3))
    s = box.stats()
    assert s["full"] and s["depth"] == 3 and s["dropped_captures"] == 0
    box.ack([m.seq for m in box.pending(0, 2)])  # c0 sent, but not yet stored by the catalog: still full
    with pytest.raises(OutboxFull):
        box.put("c3", _msgs(3))
    assert box.receipt("c0", None)  # stored: room again, and status no longer says full
    assert not box.stats()["full"]
    assert box.put("c3", _msgs(3))


def test_drop_oldest_policy_drops_and_counts_them(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_captures=3, policy="drop-oldest")
    for i in range(5):
        box.put(f"c{i}", _msgs(i))
    assert sorted({m.capture_id for m in box.pending(0, 100)}) == ["c2", "c3", "c4"]
    assert box.stats()["dropped_captures"] == 2
    box.close()
    assert Outbox(tmp_path / "o.sqlite").stats()["dropped_captures"] == 2  # persisted


def test_byte_bound_applies_too(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_bytes=450, policy="block")
    box.put("a", _msgs(1, size=200))
    with pytest.raises(OutboxFull):
        box.put("b", _msgs(2, size=200))


def test_refused_message_goes_to_dead_letters_and_is_counted(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.put("c1", _msgs(1))
    m = box.pending(0, 1)[0]
    box.dead_letter(m.seq, "Not authorized")
    assert box.stats()["refused_messages"] == 1
    rows = sqlite3.connect(tmp_path / "o.sqlite").execute("SELECT topic, reason FROM dead_letters").fetchall()
    assert rows == [("t/1/0", "Not authorized")]


def test_capture_becomes_artifacts_then_meta_with_checksums():
    cap = make_capture(7)
    msgs = capture_messages(cap, "booth-1")
    assert [m.topic for m in msgs] == [f"cutbox/booth-1/captures/{cap.id}/{n}" for n in ("jpeg", "mask", "meta")]
    jpeg = msgs[0]
    assert dict(jpeg.user_props)["sha256"] == hashlib.sha256(cap.artifacts[0].data).hexdigest()
    assert jpeg.content_type == "image/jpeg"
    import json

    meta = json.loads(msgs[-1].payload)
    assert meta["schema"] == "cutbox.capture.meta/1" and meta["sku"] == "SKU-7"
    assert meta["spin_id"] == "spin-1" and meta["angle"] == 7
    assert [a["sha256"] for a in meta["artifacts"]] == [a.sha256 for a in cap.artifacts]
    assert dict(msgs[-1].user_props)["sha256"] == hashlib.sha256(msgs[-1].payload).hexdigest()


def test_capture_id_that_is_not_a_topic_level_is_refused():
    cap = make_capture(1)
    cap.id = "a/b"
    with pytest.raises(ValueError, match="topic level"):
        capture_messages(cap, "booth-1")


def test_a_changed_version_replaces_the_still_pending_messages_in_one_transaction(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    assert box.put("c1", _msgs(1)) and box.put("c2", _msgs(2))
    sent = box.pending(0, 1)  # c1's first message is on the wire
    corrected = [OutMessage(topic=f"t/1/{k}", payload=b"corrected" * 10) for k in range(2)]
    assert box.put("c1", corrected)
    assert not box.put("c1", corrected)  # the same content again: a no-op
    left = box.pending(0, 100)
    assert [(m.capture_id, m.payload[:9]) for m in left] == [("c2", bytes([2]) * 9)] * 2 + [("c1", b"corrected")] * 2
    assert box.ack([sent[0].seq]) == []  # a late PUBACK for the replaced version changes nothing
    s = box.stats()
    assert s["depth"] == 2 and s["messages"] == 4 and s["replaced_captures"] == 1


def test_a_version_that_cannot_fit_leaves_the_old_one_queued(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_bytes=450, policy="block")
    assert box.put("c1", _msgs(1, size=100))
    with pytest.raises(OutboxFull):
        box.put("c1", _msgs(9, size=300))  # 600 bytes: refused, and the rollback keeps the old one
    assert [m.payload for m in box.pending(0, 10)] == [bytes([1]) * 100] * 2


def test_a_capture_sent_already_is_queued_again_when_resubmitted(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.put("c1", _msgs(1))
    assert box.ack([m.seq for m in box.pending(0, 10)]) == ["c1"]
    assert not box.put("c1", _msgs(1))  # still waiting for its receipt: the same content is a no-op
    assert box.receipt("c1", None)
    assert box.put("c1", _msgs(1))
    assert box.stats()["messages"] == 2


def test_an_outbox_from_before_corrections_is_upgraded_in_place(tmp_path):
    db = sqlite3.connect(tmp_path / "o.sqlite")
    db.executescript(
        "CREATE TABLE captures (capture_id TEXT PRIMARY KEY, bytes INTEGER NOT NULL, created REAL NOT NULL);"
    )
    db.execute("INSERT INTO captures VALUES ('old', 1, 0)")
    db.commit()
    db.close()
    box = Outbox(tmp_path / "o.sqlite")
    assert box.put("old", _msgs(1)) and box.stats()["replaced_captures"] == 1


def _sent(box):
    box.ack([m.seq for m in box.pending(0, 100)])


def test_a_receipt_for_another_version_keeps_the_capture(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    msgs = capture_messages(make_capture(1), "booth-1")
    box.put("cap-00001", msgs)
    meta_sha = dict(msgs[-1].user_props)["sha256"]
    _sent(box)
    assert not box.receipt("cap-00001", "0" * 64)  # an older version's receipt
    assert box.stats()["depth"] == 1
    assert box.receipt("cap-00001", meta_sha)
    assert box.stats()["depth"] == 0


def test_a_capture_without_receipt_is_sent_again_after_the_timeout_and_the_wait_doubles(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", receipt_timeout_s=10, receipt_timeout_max_s=25)
    box.put("c1", _msgs(1))
    _sent(box)
    t0 = time.time()
    assert box.resend_due(t0 + 9) == [] and box.pending(0, 10) == []
    assert box.resend_due(t0 + 11) == ["c1"]
    assert [m.capture_id for m in box.pending(0, 10)] == ["c1", "c1"]
    _sent(box)  # attempt 2: waits 20 s
    t1 = time.time()
    assert box.resend_due(t1 + 19) == [] and box.resend_due(t1 + 21) == ["c1"]
    _sent(box)  # attempt 3: 40 s, capped at 25
    assert box.resend_due(time.time() + 26) == ["c1"]
    assert box.stats()["resent_captures"] == 3
    box.close()
    again = Outbox(tmp_path / "o.sqlite")  # the state survives a restart
    assert [m.capture_id for m in again.pending(0, 10)] == ["c1", "c1"]


def test_without_require_receipt_the_puback_deletes(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", require_receipt=False)
    box.put("c1", _msgs(1))
    assert box.ack([m.seq for m in box.pending(0, 10)]) == ["c1"]
    assert box.stats()["depth"] == 0


def test_full_clears_when_the_outbox_drains(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_bytes=450, policy="block")
    box.put("a", _msgs(1, size=200))
    with pytest.raises(OutboxFull):
        box.put("b", _msgs(2, size=200))
    assert box.stats()["full"]
    _sent(box)
    box.receipt("a", None)
    assert not box.stats()["full"] and box.stats()["depth"] == 0


def test_payloads_are_files_named_by_their_rows_not_blobs(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.put("c1", _msgs(1, size=5000))
    files = sorted((tmp_path / "o.sqlite.payloads").iterdir())
    assert [f.read_bytes() for f in files] == [bytes([1]) * 5000] * 2
    db = sqlite3.connect(tmp_path / "o.sqlite")
    assert db.execute("SELECT SUM(LENGTH(payload)), COUNT(payload_file) FROM messages").fetchone() == (0, 2)
    assert [m.payload for m in box.pending(0, 10)] == [bytes([1]) * 5000] * 2
    _sent(box)
    box.receipt("c1", None)
    assert list((tmp_path / "o.sqlite.payloads").iterdir()) == []  # gone with the capture


def test_files_left_by_a_crash_are_swept_and_a_lost_payload_is_dead_lettered_not_blocking(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.put("c1", _msgs(1))
    box.put("c2", _msgs(2))
    folder = tmp_path / "o.sqlite.payloads"
    (folder / "written-but-never-committed").write_bytes(b"x")
    victim = sorted(folder.iterdir())[0]
    box.close()
    victim.unlink()  # a payload lost behind the outbox's back
    again = Outbox(tmp_path / "o.sqlite")
    assert not (folder / "written-but-never-committed").exists()
    got = again.pending(0, 10)
    assert len(got) == 3 and again.stats()["refused_messages"] == 1  # the rest still flows


def test_an_outbox_with_blob_payloads_from_before_still_sends_them(tmp_path):
    db = sqlite3.connect(tmp_path / "o.sqlite")
    db.executescript(
        "CREATE TABLE captures (capture_id TEXT PRIMARY KEY, bytes INTEGER NOT NULL, created REAL NOT NULL, digest TEXT);"
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, capture_id TEXT NOT NULL, topic TEXT NOT NULL,"
        " payload BLOB NOT NULL, content_type TEXT, user_props TEXT NOT NULL DEFAULT '[]',"
        " retain INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);"
    )
    db.execute("INSERT INTO captures VALUES ('old', 3, 0, 'd')")
    db.execute("INSERT INTO messages (capture_id, topic, payload, created) VALUES ('old', 't/old', x'010203', 0)")
    db.commit()
    db.close()
    box = Outbox(tmp_path / "o.sqlite")
    assert [(m.topic, m.payload) for m in box.pending(0, 10)] == [("t/old", b"\x01\x02\x03")]
    assert box.put("new", _msgs(5)) and len(box.pending(0, 10)) == 3
