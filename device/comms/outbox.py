"""The durable outbox: every message of a capture is on disk before anything is sent.

SQLite in WAL mode with `synchronous=FULL` (fsync on every commit) holds the rows; each
payload is a file written once beside it (`device/comms/payloads.py`: fsync, rename), named by
its row, so a capture costs the card its own bytes once instead of a WAL copy plus a
checkpoint copy. A capture's rows are written in one transaction by `put()`; the sender reads them in order (`pending()`). The
broker's PUBACK (`ack()`) marks a message sent: it is flow control, not delivery, since a
broker that crashes before it saved its queue forgets what it acknowledged. A capture is
deleted only by `receipt()`, when the catalog says it stored that very version (the sha256 of
its meta). A capture sent but not receipted within `receipt_timeout_s` is sent again
(`resend_due()`), with the wait doubling per attempt up to `receipt_timeout_max_s`; the
receiver deduplicates. With `require_receipt=False` (a broker with no cutbox catalog behind
it) the PUBACK deletes, as a broker relay is then all there is.

Bounded: at most `max_captures` captures / `max_bytes` bytes. When full, the policy decides:
`block` raises `OutboxFull` (the caller reports it, the capture stays on local disk), and
`drop-oldest` deletes the oldest unsent captures, logs each one and counts them in
`stats()["dropped_captures"]` (persisted). A message the broker refuses (e.g. ACL "not
authorized") is moved to `dead_letters` and counted, so it neither blocks the queue nor
disappears silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from device.box.disk import free_space_problem
from device.comms.payloads import PayloadFiles
from device.errors import Unavailable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS captures (
    capture_id TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL,
    created REAL NOT NULL,
    digest TEXT,
    meta_sha256 TEXT,
    sent REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_resend REAL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    capture_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,  -- empty when payload_file names the file holding it
    payload_file TEXT,
    content_type TEXT,
    user_props TEXT NOT NULL DEFAULT '[]',
    retain INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_capture ON messages(capture_id);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    capture_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS receipted (capture_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxError(Unavailable):
    """The outbox could not take a capture (disk full, unreadable database...)."""


class OutboxFull(OutboxError):
    """The outbox is at its bound and the policy is `block`."""


@dataclass(frozen=True)
class OutMessage:
    """One message to publish (what `put()` takes and `pending()` gives back)."""

    topic: str
    payload: bytes
    content_type: str | None = None
    user_props: tuple[tuple[str, str], ...] = ()
    retain: bool = False
    seq: int = 0
    capture_id: str = ""


def content_digest(messages: list[OutMessage]) -> str:
    """sha256 over a capture's topics, payloads and properties: equal means an identical resubmit."""
    h = hashlib.sha256()
    for m in messages:
        for part in (
            m.topic.encode(),
            m.payload,
            (m.content_type or "").encode(),
            json.dumps(list(m.user_props)).encode(),
            b"1" if m.retain else b"0",
        ):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.hexdigest()


def meta_digest(messages: list[OutMessage]) -> str | None:
    """The sha256 user property of a capture's meta message: what the catalog's receipt names."""
    for m in messages:
        if m.topic.endswith("/meta"):
            return dict(m.user_props).get("sha256")
    return None


def _upgrade(db: sqlite3.Connection) -> None:
    """Add the columns an outbox from an older version lacks (corrections, receipts, payload files)."""
    have = {r[1] for r in db.execute("PRAGMA table_info(captures)")}
    for col, decl in (
        ("digest", "TEXT"),
        ("meta_sha256", "TEXT"),
        ("sent", "REAL"),
        ("attempts", "INTEGER NOT NULL DEFAULT 0"),
        ("next_resend", "REAL"),
    ):
        if col not in have:
            db.execute(f"ALTER TABLE captures ADD COLUMN {col} {decl}")
    have = {r[1] for r in db.execute("PRAGMA table_info(messages)")}
    if "acked" not in have:
        db.execute("ALTER TABLE messages ADD COLUMN acked INTEGER NOT NULL DEFAULT 0")
    if "payload_file" not in have:
        db.execute("ALTER TABLE messages ADD COLUMN payload_file TEXT")


def _stats(db: sqlite3.Connection, max_captures: int, max_bytes: int, policy: str) -> dict:
    count, used, oldest, waiting = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(bytes),0), MIN(created), COUNT(sent) FROM captures"
    ).fetchone()
    msgs = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
    return {
        "depth": count,
        "messages": msgs,
        "bytes": used,
        "awaiting_receipt": waiting,
        "oldest_unreceipted": oldest,
        "receipted_captures": counters.get("receipted_captures", 0),
        "resent_captures": counters.get("resent_captures", 0),
        "max_captures": max_captures,
        "max_bytes": max_bytes,
        "policy": policy,
        "full": count >= max_captures or used >= max_bytes,
        "dropped_captures": counters.get("dropped_captures", 0),
        "refused_messages": counters.get("refused_messages", 0),
        "replaced_captures": counters.get("replaced_captures", 0),
    }


def read_stats(path: str | Path, max_captures: int, max_bytes: int, policy: str) -> dict | None:
    """`Outbox.stats()` read-only from outside the running box (`cutbox status`); None when there is none.
    Read-only on purpose: opening an `Outbox` would sweep payload files the box is writing."""
    if not Path(path).exists():
        return None
    db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=10)
    try:
        return _stats(db, max_captures, max_bytes, policy)
    except sqlite3.OperationalError:  # an outbox from an older version lacks columns until the box opens it
        return None
    finally:
        db.close()


class Outbox:
    """SQLite-backed, bounded, ordered queue of MQTT messages grouped by capture; payloads in files."""

    def __init__(
        self,
        path: str | Path,
        max_captures: int = 2000,
        max_bytes: int = 1 << 30,
        policy: Literal["block", "drop-oldest"] = "block",
        *,
        require_receipt: bool = True,
        receipt_timeout_s: float = 60.0,
        receipt_timeout_max_s: float = 3600.0,
        min_free_bytes: int = 0,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_captures = max_captures
        self.max_bytes = max_bytes
        self.policy = policy
        self.require_receipt = require_receipt
        self.min_free_bytes = min_free_bytes
        self.receipt_timeout_s = receipt_timeout_s
        self.receipt_timeout_max_s = max(receipt_timeout_max_s, receipt_timeout_s)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        _upgrade(self._db)
        self._files = PayloadFiles(self.path.with_name(self.path.name + ".payloads"))
        self._unlink: list[str] = []  # payload files to remove once the transaction that dropped them commits
        self._files.sweep(
            {r[0] for r in self._db.execute("SELECT payload_file FROM messages WHERE payload_file IS NOT NULL")}
        )
        self._full = False

    @contextmanager
    def _tx(self):
        """One write transaction (the caller holds the lock); dropped payload files go after COMMIT."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._unlink.clear()
            raise
        names, self._unlink = self._unlink, []
        self._files.remove(names)

    def _drop_capture(self, capture_id: str) -> None:
        self._unlink += [
            r[0]
            for r in self._db.execute(
                "SELECT payload_file FROM messages WHERE capture_id=? AND payload_file IS NOT NULL", (capture_id,)
            )
        ]
        self._db.execute("DELETE FROM messages WHERE capture_id=?", (capture_id,))
        self._db.execute("DELETE FROM captures WHERE capture_id=?", (capture_id,))

    # ---- writing -------------------------------------------------------------------------
    def put(self, capture_id: str, messages: list[OutMessage]) -> bool:
        """Store all of a capture's messages durably: payload files first (fsync, rename), then
        one transaction for the rows that name them.

        A capture id still queued with the same content: nothing changes, returns False (an
        idempotent resubmit). Still queued with different content (a correction, a review
        decision): its pending messages are replaced by these in the same transaction, so the
        old version is never sent after this returns (True). Already receipted: queued again
        (True); the receiver replaces what it stored. Raises `OutboxFull` (policy `block`) or
        `OutboxError` (disk problems) with a clear message.
        """
        size = sum(len(m.payload) for m in messages)
        digest = content_digest(messages)
        problem = free_space_problem(self.path.parent, self.min_free_bytes, size)
        if problem:
            raise OutboxError(f"outbox {self.path}: {problem}")
        with self._lock:
            try:
                row = self._db.execute("SELECT digest FROM captures WHERE capture_id=?", (capture_id,)).fetchone()
                if row is not None and row[0] == digest:
                    return False
                names = self._files.write([m.payload for m in messages])
                try:
                    with self._tx():
                        self._insert(capture_id, messages, names, size, digest)
                except BaseException:
                    self._files.remove(names)
                    raise
                self._full = False
                return True
            except OutboxFull:
                self._full = True
                raise
            except (sqlite3.Error, OSError) as exc:
                raise OutboxError(
                    f"outbox {self.path}: cannot store capture {capture_id}: {exc} "
                    "(free disk space or check the data directory)"
                ) from exc

    def _insert(self, capture_id: str, messages: list[OutMessage], names: list[str], size: int, digest: str) -> None:
        if self._db.execute("SELECT 1 FROM captures WHERE capture_id=?", (capture_id,)).fetchone():
            self._drop_capture(capture_id)  # a newer version of a capture still waiting replaces it
            self._bump("replaced_captures")
        self._make_room(size)
        now = time.time()
        self._db.execute("DELETE FROM receipted WHERE capture_id=?", (capture_id,))
        _insert_rows(self._db, capture_id, messages, names, size, digest, now)

    def _make_room(self, size: int) -> None:
        count, used = self._db.execute("SELECT COUNT(*), COALESCE(SUM(bytes),0) FROM captures").fetchone()
        if count + 1 <= self.max_captures and used + size <= self.max_bytes:
            return
        if self.policy == "block" or size > self.max_bytes:
            raise OutboxFull(
                f"outbox full ({count} captures, {used / 1e6:.1f} MB; limits {self.max_captures} captures, "
                f"{self.max_bytes / 1e6:.1f} MB, policy {self.policy}): capture not queued "
                "(bring the broker back, or raise mqtt.outbox_max_captures / outbox_max_mb)"
            )
        for capture_id, nbytes in self._db.execute("SELECT capture_id, bytes FROM captures ORDER BY rowid").fetchall():
            if count + 1 <= self.max_captures and used + size <= self.max_bytes:
                break
            self._drop_capture(capture_id)
            self._bump("dropped_captures")
            log.warning("outbox full (policy drop-oldest): dropped unsent capture %s", capture_id)
            count, used = count - 1, used - nbytes

    def _bump(self, name: str, by: int = 1) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?,?) ON CONFLICT(name) DO UPDATE SET value=value+?", (name, by, by)
        )

    # ---- sending -------------------------------------------------------------------------
    def pending(
        self, after_seq: int = 0, limit: int = 32, exclude: set[int] | frozenset = frozenset()
    ) -> list[OutMessage]:
        """The next messages not yet acknowledged by the broker, in order, with seq > after_seq
        (and not in `exclude`: those on the wire now)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, capture_id, topic, payload, payload_file, content_type, user_props, retain FROM messages"
                " WHERE acked=0 AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit + len(exclude)),
            ).fetchall()
        out, lost = [], []
        for seq, cid, topic, blob, fname, ctype, props, retain in rows:
            if seq in exclude:
                continue
            try:
                payload = self._files.read(fname) if fname else bytes(blob)  # a BLOB: an outbox from before
            except OSError as exc:
                lost.append((seq, f"payload file {fname} unreadable: {exc.strerror or exc}"))
                continue
            out.append(
                OutMessage(
                    topic=topic,
                    payload=payload,
                    content_type=ctype,
                    user_props=tuple(tuple(x) for x in json.loads(props)),
                    retain=bool(retain),
                    seq=seq,
                    capture_id=cid,
                )
            )
        for seq, reason in lost:  # never blocks the queue; counted and kept in dead_letters
            self.dead_letter(seq, reason)
        return out[:limit]

    def ack(self, seqs: list[int]) -> list[str]:
        """The broker acknowledged these messages; return the capture ids now fully sent.

        A fully sent capture waits for its receipt (or is deleted at once without `require_receipt`)."""
        if not seqs:
            return []
        with self._lock, self._tx():
            if self.require_receipt:
                return self._mark_sent(seqs)
            done = self._remove(seqs)  # no catalog to confirm: the PUBACK is all the receipt there is
            now = time.time()
            self._db.executemany("INSERT OR REPLACE INTO receipted VALUES (?,?)", [(c, now) for c in done])
            return done

    def _mark_sent(self, seqs: list[int]) -> list[str]:
        marks = ",".join("?" * len(seqs))
        ids = [r[0] for r in self._db.execute(f"SELECT DISTINCT capture_id FROM messages WHERE seq IN ({marks})", seqs)]
        self._db.execute(f"UPDATE messages SET acked=1 WHERE seq IN ({marks})", seqs)
        now, done = time.time(), []
        for cid in ids:
            if self._db.execute("SELECT 1 FROM messages WHERE capture_id=? AND acked=0 LIMIT 1", (cid,)).fetchone():
                continue
            (attempts,) = self._db.execute("SELECT attempts FROM captures WHERE capture_id=?", (cid,)).fetchone()
            wait = min(self.receipt_timeout_s * 2 ** min(attempts, 30), self.receipt_timeout_max_s)
            self._db.execute(
                "UPDATE captures SET sent=?, attempts=attempts+1, next_resend=? WHERE capture_id=?",
                (now, now + wait, cid),
            )
            done.append(cid)
        return done

    def receipt(self, capture_id: str, meta_sha256: str | None) -> bool:
        """The catalog stored this version of the capture: forget it. A receipt for another
        version (an older one, replaced by a correction since) changes nothing (False)."""
        with self._lock, self._tx():
            row = self._db.execute("SELECT meta_sha256 FROM captures WHERE capture_id=?", (capture_id,)).fetchone()
            match = row is not None and (row[0] is None or row[0] == meta_sha256)
            if match:
                self._drop_capture(capture_id)
                self._bump("receipted_captures")
                self._db.execute("INSERT OR REPLACE INTO receipted VALUES (?,?)", (capture_id, time.time()))
                self._full = False
        return match

    def resend_due(self, now: float | None = None) -> list[str]:
        """Captures sent but not receipted in time: mark their messages unsent so they go again."""
        now = time.time() if now is None else now
        with self._lock, self._tx():
            due = self._db.execute(
                "SELECT capture_id, attempts, sent FROM captures WHERE sent IS NOT NULL AND next_resend <= ?", (now,)
            ).fetchall()
            for cid, _, _ in due:
                self._db.execute("UPDATE messages SET acked=0 WHERE capture_id=?", (cid,))
                self._db.execute("UPDATE captures SET sent=NULL WHERE capture_id=?", (cid,))
            if due:
                self._bump("resent_captures", len(due))
        for cid, attempts, sent in due:
            log.info("no receipt for %s %.0f s after sending it (attempt %d): sending again", cid, now - sent, attempts)
        return [d[0] for d in due]

    def dead_letter(self, seq: int, reason: str) -> list[str]:
        """The broker refused this message for good (or its payload is lost): keep a record,
        count it, stop resending it."""
        done: list[str] = []
        with self._lock, self._tx():
            row = self._db.execute("SELECT capture_id, topic FROM messages WHERE seq=?", (seq,)).fetchone()
            if row:
                self._db.execute(
                    "INSERT OR REPLACE INTO dead_letters VALUES (?,?,?,?,?)", (seq, row[0], row[1], reason, time.time())
                )
                self._bump("refused_messages")
                done = self._remove([seq])
        if row:
            log.error("broker refused %s (%s): moved to dead_letters in %s", row[1], reason, self.path)
        return done

    def _remove(self, seqs: list[int]) -> list[str]:
        marks = ",".join("?" * len(seqs))
        ids = [r[0] for r in self._db.execute(f"SELECT DISTINCT capture_id FROM messages WHERE seq IN ({marks})", seqs)]
        self._unlink += [
            r[0]
            for r in self._db.execute(
                f"SELECT payload_file FROM messages WHERE seq IN ({marks}) AND payload_file IS NOT NULL", seqs
            )
        ]
        self._db.execute(f"DELETE FROM messages WHERE seq IN ({marks})", seqs)
        done = []
        for cid in ids:
            if not self._db.execute("SELECT 1 FROM messages WHERE capture_id=? LIMIT 1", (cid,)).fetchone():
                self._db.execute("DELETE FROM captures WHERE capture_id=?", (cid,))
                done.append(cid)
        if done:
            self._full = False
        return done

    def receipted(self, capture_ids: list[str]) -> set[str]:
        """Which of these captures the catalog has confirmed (and that were not queued again since)."""
        out: set[str] = set()
        with self._lock:
            for i in range(0, len(capture_ids), 500):
                chunk = capture_ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                out.update(
                    r[0]
                    for r in self._db.execute(f"SELECT capture_id FROM receipted WHERE capture_id IN ({marks})", chunk)
                )
        return out

    def forget_receipts(self, capture_ids: list[str]) -> None:
        """Retention deleted these captures: their receipt rows can go too."""
        with self._lock, self._tx():
            self._db.executemany("DELETE FROM receipted WHERE capture_id=?", [(c,) for c in capture_ids])

    # ---- reporting -----------------------------------------------------------------------
    def stats(self) -> dict:
        """Depth, size, bound, policy state and the never-silent counters."""
        with self._lock:
            out = _stats(self._db, self.max_captures, self.max_bytes, self.policy)
        out["full"] = out["full"] or self._full
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _insert_rows(
    db: sqlite3.Connection,
    capture_id: str,
    messages: list[OutMessage],
    names: list[str],
    size: int,
    digest: str,
    now: float,
) -> None:
    """One capture's row and its messages' rows, payloads named by their files (inside the
    caller's transaction)."""
    db.execute(
        "INSERT INTO captures (capture_id, bytes, created, digest, meta_sha256) VALUES (?,?,?,?,?)",
        (capture_id, size, now, digest, meta_digest(messages)),
    )
    db.executemany(
        "INSERT INTO messages (capture_id, topic, payload, payload_file, content_type, user_props, retain, created)"
        " VALUES (?,?,?,?,?,?,?,?)",
        [
            (capture_id, m.topic, b"", name, m.content_type, json.dumps(list(m.user_props)), int(m.retain), now)
            for m, name in zip(messages, names)
        ],
    )
