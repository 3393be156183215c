"""The catalog's storage: checked files plus an SQLite index, and a quarantine for what it cannot store.

Files live under `<data_dir>/files/<station>/<capture_id>/`, the index in
`<data_dir>/index.sqlite`. Every message is checked before the index is touched (topic levels,
user properties, sha256, the `revision` property, the meta against `CaptureMeta`), written
durably (temp file, fsync, rename, fsync of the directory; SQLite WAL with `synchronous=FULL`)
and only then acknowledged by the receiver. A resend (same capture id, artifact name and
sha256) is a duplicate and stored once. A different sha256 under the same capture id and name
is a new version (a correction, a review decision): with the same or a higher `revision` it
replaces the stored file and row (`replaced`; the new file is written beside the old, named
with its sha256, and the old one goes once the index names the new, so a reader never finds
bytes other than the sha256 it read); with a lower one it is a late redelivery of an older
version, kept out and counted as a conflict.

A message it cannot store (bad topic, checksum, property or meta) is quarantined: a row in the
`quarantine` table with its topic, user properties, size, sha256, reason and time (and the
payload itself when it is small), counted and logged. The receiver then acknowledges it, so one
hostile or broken publisher never stalls the others. Only a storage failure (disk full)
raises `StorageError`, and then nothing is acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from device.comms.payloads import fsync_dir
from device.comms.wire import LEVEL, CaptureMeta, MetaError, Receipt, parse_meta, parse_revision

log = logging.getLogger("cutbox.catalog")

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    station TEXT NOT NULL, capture_id TEXT NOT NULL, name TEXT NOT NULL,
    sha256 TEXT NOT NULL, path TEXT NOT NULL, bytes INTEGER NOT NULL,
    content_type TEXT, received REAL NOT NULL, revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (station, capture_id, name)
);
CREATE TABLE IF NOT EXISTS captures (
    station TEXT NOT NULL, capture_id TEXT NOT NULL,
    sku TEXT, spin_id TEXT, angle REAL, meta_sha256 TEXT, meta TEXT,
    complete INTEGER NOT NULL DEFAULT 0, completed REAL,
    PRIMARY KEY (station, capture_id)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, topic TEXT NOT NULL, station TEXT,
    user_props TEXT NOT NULL, content_type TEXT, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL,
    reason TEXT NOT NULL, payload BLOB
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

MAX_USER_PROPS = 32
MAX_PROP_CHARS = 1024
QUARANTINE_PAYLOAD_BYTES = 64 * 1024  # small payloads (metas) are kept whole, for a look later
QUARANTINE_ROWS = 10_000  # the oldest rows go first: a flooding publisher cannot fill the disk


class StorageError(RuntimeError):
    """Writing to disk failed; the message must not be acknowledged."""


class Rejected(ValueError):
    """The message can never be stored; the reason goes to the quarantine."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # "stored", "replaced", "duplicate", "conflict", "quarantined"
    detail: str = ""
    completed: str | None = None  # capture id that just became complete
    receipt: Receipt | None = None  # to send to the station: this version is stored


@dataclass(frozen=True)
class Checked:
    station: str
    capture_id: str
    name: str
    digest: str
    revision: int
    meta: CaptureMeta | None


def check_message(topic: str, payload: bytes, props: dict[str, str], max_bytes: int = 64 * 1024 * 1024) -> Checked:
    """Everything about a message that can be checked without the index; `Rejected` says why not."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "cutbox" or parts[2] != "captures":
        raise Rejected("not a cutbox/<station>/captures/<id>/<artifact> topic")
    _, station, _, capture_id, name = parts
    if not all(LEVEL.fullmatch(x) for x in (station, capture_id, name)):
        raise Rejected("station, capture id or artifact name has unsafe characters")
    if len(payload) > max_bytes:
        raise Rejected(f"payload is {len(payload)} bytes (at most {max_bytes})")
    sha = props.get("sha256")
    if not sha:
        raise Rejected("no sha256 user property")
    digest = hashlib.sha256(payload).hexdigest()
    if sha.lower() != digest:
        raise Rejected(f"sha256 mismatch: property {sha[:12]!r}..., payload {digest[:12]}...")
    try:
        revision = parse_revision(props.get("revision"))
    except ValueError as exc:
        raise Rejected(str(exc)) from None
    meta = None
    if name == "meta":
        try:
            meta = parse_meta(payload)
        except MetaError as exc:
            raise Rejected(str(exc)) from None
        if meta.capture_id != capture_id:
            raise Rejected(f"meta names capture {meta.capture_id!r}, the topic {capture_id!r}")
        if meta.station is not None and meta.station != station:
            raise Rejected(f"meta names station {meta.station!r}, the topic {station!r}")
    return Checked(station, capture_id, name, digest, revision, meta)


def bounded_props(user_props) -> dict[str, str]:
    """User properties as a dict, or `Rejected` when there are too many or too long ones."""
    user_props = list(user_props or [])
    if len(user_props) > MAX_USER_PROPS:
        raise Rejected(f"{len(user_props)} user properties (at most {MAX_USER_PROPS})")
    out: dict[str, str] = {}
    for key, value in user_props:
        if len(key) > MAX_PROP_CHARS or len(value) > MAX_PROP_CHARS:
            raise Rejected(f"user property {key[:40]!r} is longer than {MAX_PROP_CHARS} characters")
        if key in out and key in ("sha256", "revision", "filename"):
            raise Rejected(f"user property {key!r} given twice")
        out[key] = value
    return out


class CatalogStore:
    """Files under `<data_dir>/files/<station>/<capture_id>/` and the index `<data_dir>/index.sqlite`."""

    def __init__(self, data_dir: str | Path, max_message_bytes: int = 64 * 1024 * 1024):
        self.dir = Path(data_dir)
        self.files = self.dir / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.max_message_bytes = max_message_bytes
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.dir / "index.sqlite", check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        if "revision" not in {r[1] for r in self.db.execute("PRAGMA table_info(items)")}:
            self.db.execute(
                "ALTER TABLE items ADD COLUMN revision INTEGER NOT NULL DEFAULT 0"
            )  # an index from before corrections
        for part in self.files.rglob("*.part-*"):  # a write a crash interrupted; never indexed
            part.unlink(missing_ok=True)

    def close(self) -> None:
        self.db.close()

    # ---- entry points --------------------------------------------------------------------------
    def receive(self, topic: str, payload: bytes, user_props=(), content_type: str | None = None) -> Outcome:
        """One MQTT message as it came (user properties as pairs): stored, or quarantined."""
        try:
            props = bounded_props(user_props)
            checked = check_message(topic, payload, props, self.max_message_bytes)
        except Rejected as exc:
            return self.quarantine(topic, payload, user_props, content_type, str(exc))
        return self._store(checked, topic, payload, content_type, props.get("filename"), user_props)

    def store(
        self,
        topic: str,
        payload: bytes,
        sha256_prop: str | None,
        content_type: str | None = None,
        filename: str | None = None,
        revision: str | int | None = None,
    ) -> Outcome:
        """`receive()` with the three user properties the box sends given one by one."""
        props = [(k, str(v)) for k, v in (("sha256", sha256_prop), ("filename", filename), ("revision", revision)) if v]
        return self.receive(topic, payload, props, content_type)

    def _store(self, c: Checked, topic: str, payload: bytes, content_type, filename, user_props) -> Outcome:
        with self._lock:
            row = self.db.execute(
                "SELECT sha256, path, revision FROM items WHERE station=? AND capture_id=? AND name=?",
                (c.station, c.capture_id, c.name),
            ).fetchone()
            if row is not None and row[0] == c.digest:
                self._bump("duplicates")
                return Outcome("duplicate", receipt=self._receipt(c) if c.name == "meta" else None)
            if row is not None and c.revision < row[2]:
                self._bump("conflicts")
                reason = (
                    f"conflict: stored sha256 {row[0]} (revision {row[2]}), received {c.digest} (revision {c.revision})"
                )
                log.error("%s: revision %d is older than the stored %d: kept the stored one", topic, c.revision, row[2])
                self._record(topic, payload, user_props, content_type, reason)
                return Outcome("conflict", reason)
            fname = (
                "meta.json" if c.meta is not None else (filename if filename and LEVEL.fullmatch(filename) else c.name)
            )
            if row is not None and row[1].endswith("/" + fname):
                # a new version never overwrites the file the index still names: a reader always
                # finds the bytes of the sha256 it read (the old file goes once the index moved on)
                stem, dot, ext = fname.partition(".")
                fname = f"{stem}.{c.digest[:12]}{dot}{ext}"
            path = self._write_file(c.station, c.capture_id, fname, payload)
            rel = str(path.relative_to(self.dir))
            try:
                self.db.execute("BEGIN IMMEDIATE")
                self._index(c, rel, len(payload), content_type, payload, replacing=row is not None)
                completed = self._check_complete(c.station, c.capture_id)
                self._bump("stored" if row is None else "replaced")
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"index write failed for {topic}: {exc}") from exc
            finally:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
            if row is not None and row[1] != rel:  # the new version has another file name
                (self.dir / row[1]).unlink(missing_ok=True)
            receipt = self._receipt(c) if completed or c.name == "meta" else None
        if row is not None:
            log.info(
                "%s: replaced revision %d (sha256 %s) by %d (%s)", topic, row[2], row[0][:12], c.revision, c.digest[:12]
            )
        return Outcome("stored" if row is None else "replaced", completed=completed, receipt=receipt)

    def _index(self, c: Checked, rel: str, size: int, content_type, payload: bytes, replacing: bool) -> None:
        self.db.execute(
            "INSERT INTO items (station, capture_id, name, sha256, path, bytes, content_type, received, revision)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(station, capture_id, name) DO UPDATE SET sha256=excluded.sha256,"
            " path=excluded.path, bytes=excluded.bytes, content_type=excluded.content_type,"
            " received=excluded.received, revision=excluded.revision",
            (c.station, c.capture_id, c.name, c.digest, rel, size, content_type, time.time(), c.revision),
        )
        if replacing:  # a new version: complete again only when it all matches
            self.db.execute(
                "UPDATE captures SET complete=0, completed=NULL WHERE station=? AND capture_id=?",
                (c.station, c.capture_id),
            )
        if c.meta is not None:
            self.db.execute(
                "INSERT INTO captures (station, capture_id, sku, spin_id, angle, meta_sha256, meta) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT(station, capture_id) DO UPDATE SET sku=excluded.sku, spin_id=excluded.spin_id,"
                " angle=excluded.angle, meta_sha256=excluded.meta_sha256, meta=excluded.meta",
                (c.station, c.capture_id, c.meta.sku, c.meta.spin_id, c.meta.angle, c.digest, payload.decode("utf-8")),
            )

    def _write_file(self, station: str, capture_id: str, fname: str, payload: bytes) -> Path:
        folder = self.files / station / capture_id
        final = folder / fname
        tmp = folder / f"{fname}.part-{os.getpid()}"
        try:
            new_dirs = not folder.exists()
            folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            fsync_dir(folder)
            if new_dirs:
                fsync_dir(folder.parent)
                fsync_dir(self.files)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {final}: {exc.strerror or exc}") from exc
        return final

    def _check_complete(self, station: str, capture_id: str) -> str | None:
        row = self.db.execute(
            "SELECT meta, complete FROM captures WHERE station=? AND capture_id=?", (station, capture_id)
        ).fetchone()
        if row is None or row[0] is None or row[1]:
            return None
        try:
            listed = parse_meta(row[0].encode("utf-8")).artifacts
        except MetaError:  # a row from before the schema check: never complete
            return None
        have = dict(
            self.db.execute("SELECT name, sha256 FROM items WHERE station=? AND capture_id=?", (station, capture_id))
        )
        if all(have.get(a.name) == a.sha256 for a in listed):
            self.db.execute(
                "UPDATE captures SET complete=1, completed=? WHERE station=? AND capture_id=?",
                (time.time(), station, capture_id),
            )
            return capture_id
        return None

    def _receipt(self, c: Checked) -> Receipt | None:
        """A receipt for the capture's stored version, when it is complete (meta and all artifacts)."""
        row = self.db.execute(
            "SELECT meta_sha256, completed FROM captures WHERE station=? AND capture_id=? AND complete=1",
            (c.station, c.capture_id),
        ).fetchone()
        if row is None:
            return None
        rev = self.db.execute(
            "SELECT revision FROM items WHERE station=? AND capture_id=? AND name='meta'", (c.station, c.capture_id)
        ).fetchone()
        return Receipt(
            station=c.station,
            capture_id=c.capture_id,
            meta_sha256=row[0],
            revision=rev[0] if rev else 0,
            stored_at=row[1] or time.time(),
        )

    # ---- quarantine ----------------------------------------------------------------------------
    def quarantine(self, topic: str, payload: bytes, user_props, content_type, reason: str) -> Outcome:
        """Keep a record of a message that cannot be stored; `StorageError` only if the record fails."""
        log.error("quarantined %s: %s", topic[:200], reason)
        with self._lock:
            try:
                self._record(topic, payload, user_props, content_type, reason)
                self._bump("quarantined")
            except sqlite3.Error as exc:
                raise StorageError(f"cannot quarantine {topic[:200]}: {exc}") from exc
        return Outcome("quarantined", reason)

    def _record(self, topic: str, payload: bytes, user_props, content_type, reason: str) -> None:
        parts = topic.split("/")
        station = parts[1][:128] if len(parts) > 1 and parts[0] == "cutbox" else None
        props = json.dumps([[str(k)[:256], str(v)[:256]] for k, v in list(user_props or [])[:MAX_USER_PROPS]])
        self.db.execute(
            "INSERT INTO quarantine (at, topic, station, user_props, content_type, bytes, sha256, reason, payload)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (
                time.time(),
                topic[:1024],
                station,
                props,
                (content_type or "")[:256] or None,
                len(payload),
                hashlib.sha256(payload).hexdigest(),
                reason[:1000],
                payload if len(payload) <= QUARANTINE_PAYLOAD_BYTES else None,
            ),
        )
        self.db.execute("DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?", (QUARANTINE_ROWS,))

    def _bump(self, name: str) -> None:
        self.db.execute("INSERT INTO counters VALUES (?,1) ON CONFLICT(name) DO UPDATE SET value=value+1", (name,))

    # ---- reporting -----------------------------------------------------------------------------
    def quarantined(self, limit: int = 20) -> list[dict]:
        """The newest quarantine rows (without payloads), for `cutbox catalog --stats`."""
        with self._lock:
            rows = self.db.execute(
                "SELECT at, topic, station, user_props, bytes, reason FROM quarantine ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        keys = ("at", "topic", "station", "user_props", "bytes", "reason")
        return [dict(zip(keys, r)) | {"user_props": json.loads(r[3])} for r in rows]

    def stats(self) -> dict:
        """Counts and times: what is stored, what was quarantined, and when it last stored."""
        with self._lock:
            counters = dict(self.db.execute("SELECT name, value FROM counters").fetchall())
            complete = self.db.execute("SELECT COUNT(*) FROM captures WHERE complete=1").fetchone()[0]
            captures = self.db.execute("SELECT COUNT(*) FROM captures").fetchone()[0]
            items, last_stored = self.db.execute("SELECT COUNT(*), MAX(received) FROM items").fetchone()
            last_q = self.db.execute("SELECT at, reason FROM quarantine ORDER BY id DESC LIMIT 1").fetchone()
        now = time.time()
        return {
            "complete_captures": complete,
            "captures_with_meta": captures,
            "items": items,
            "stored": counters.get("stored", 0),
            "replaced": counters.get("replaced", 0),
            "duplicates": counters.get("duplicates", 0),
            "conflicts": counters.get("conflicts", 0),
            "quarantined": counters.get("quarantined", 0),
            "last_stored_at": last_stored,
            "last_stored_age_s": round(now - last_stored, 1) if last_stored else None,
            "last_quarantined_at": last_q[0] if last_q else None,
            "last_quarantine_reason": last_q[1] if last_q else None,
        }
