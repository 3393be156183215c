"""The catalog receiver (`cutbox catalog`): MQTT in, checked files plus an SQLite index out.

It subscribes with a shared subscription (`$share/<group>/cutbox/+/captures/#`), so several
workers can split the load, with a fixed client id and a persistent session so the broker
keeps what a crashed receiver had not acknowledged. Every message is checked (sha256 user
property against the payload; meta JSON against its schema), written durably (temp file,
fsync, rename, fsync of the directory; SQLite WAL with `synchronous=FULL`) and only then
acknowledged with paho's manual ack. A resend (same capture id, artifact name and sha256) is
counted as a duplicate and stored once. A different sha256 under the same capture id and name
is a new version (a correction, a review decision): with the same or a higher `revision` user
property it replaces the stored file and index row (counted as `replaced`, and the capture is
complete again once its new meta and artifacts all match; the new file is written beside the
old, named with its sha256, and the old one is removed once the index names the new, so a
reader never finds bytes other than the sha256 it read); with a lower one it is a late
redelivery of an older version, kept out and counted as a conflict. A capture is complete when its meta and every artifact
the meta lists are stored with the listed sha256. Bad messages are acknowledged (they can
never succeed), logged and recorded in the `rejected` table; a storage failure (disk full)
disconnects without acknowledging, so the broker delivers again after the reconnect.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.comms.mqtt import make_client
from device.config import CutboxConfig, MqttConfig

log = logging.getLogger("cutbox.catalog")

SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

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
CREATE TABLE IF NOT EXISTS rejected (topic TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class StorageError(RuntimeError):
    """Writing to disk failed; the message must not be acknowledged."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # "stored", "replaced", "duplicate", "conflict", "rejected"
    detail: str = ""
    completed: str | None = None  # capture id that just became complete


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CatalogStore:
    """Files under `<data_dir>/files/<station>/<capture_id>/` and the index `<data_dir>/index.sqlite`."""

    def __init__(self, data_dir: str | Path):
        self.dir = Path(data_dir)
        self.files = self.dir / "files"
        self.files.mkdir(parents=True, exist_ok=True)
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

    # ---- the one entry point ---------------------------------------------------------------
    def store(
        self,
        topic: str,
        payload: bytes,
        sha256_prop: str | None,
        content_type: str | None = None,
        filename: str | None = None,
        revision: str | int | None = None,
    ) -> Outcome:
        """Check and durably store one message; the caller acknowledges it when this returns.

        `revision`: the message's version of the capture (user property; none = 0)."""
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != "cutbox" or parts[2] != "captures":
            return self._reject(topic, "not a cutbox/<station>/captures/<id>/<artifact> topic")
        _, station, _, capture_id, name = parts
        if not all(SAFE.match(x) for x in (station, capture_id, name)):
            return self._reject(topic, "station, capture id or artifact name has unsafe characters")
        digest = hashlib.sha256(payload).hexdigest()
        if not sha256_prop:
            return self._reject(topic, "no sha256 user property")
        if sha256_prop.lower() != digest:
            return self._reject(topic, f"sha256 mismatch: property {sha256_prop[:12]}..., payload {digest[:12]}...")
        try:
            rev = int(revision) if revision not in (None, "") else 0
        except (TypeError, ValueError):
            return self._reject(topic, f"revision {revision!r} is not a whole number")
        meta = None
        if name == "meta":
            try:
                meta = json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return self._reject(topic, f"meta is not JSON: {exc}")
            if (
                not isinstance(meta, dict)
                or not str(meta.get("schema", "")).startswith("cutbox.capture.meta/")
                or meta.get("capture_id") != capture_id
                or not isinstance(meta.get("artifacts"), list)
            ):
                return self._reject(topic, "meta does not follow cutbox.capture.meta/1 or names another capture")
        with self._lock:
            row = self.db.execute(
                "SELECT sha256, path, revision FROM items WHERE station=? AND capture_id=? AND name=?",
                (station, capture_id, name),
            ).fetchone()
            if row is not None:
                if row[0] == digest:
                    self._bump("duplicates")
                    return Outcome("duplicate")
                if rev < row[2]:
                    self._bump("conflicts")
                    log.error(
                        "%s: revision %d is older than the stored revision %d: kept the stored one", topic, rev, row[2]
                    )
                    self._record_rejected(
                        topic,
                        f"conflict: stored sha256 {row[0]} (revision {row[2]}), received {digest} (revision {rev})",
                    )
                    return Outcome("conflict")
            fname = "meta.json" if meta is not None else (filename if filename and SAFE.match(filename) else name)
            if row is not None and row[1].endswith("/" + fname):
                # a new version never overwrites the file the index still names: a reader always
                # finds the bytes of the sha256 it read (the old file goes once the index moved on)
                stem, dot, ext = fname.partition(".")
                fname = f"{stem}.{digest[:12]}{dot}{ext}"
            path = self._write_file(station, capture_id, fname, payload)
            rel = str(path.relative_to(self.dir))
            try:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute(
                    "INSERT INTO items (station, capture_id, name, sha256, path, bytes, content_type, received, revision)"
                    " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(station, capture_id, name) DO UPDATE SET sha256=excluded.sha256,"
                    " path=excluded.path, bytes=excluded.bytes, content_type=excluded.content_type,"
                    " received=excluded.received, revision=excluded.revision",
                    (station, capture_id, name, digest, rel, len(payload), content_type, time.time(), rev),
                )
                if row is not None:  # a new version: complete again only when it all matches
                    self.db.execute(
                        "UPDATE captures SET complete=0, completed=NULL WHERE station=? AND capture_id=?",
                        (station, capture_id),
                    )
                if meta is not None:
                    self.db.execute(
                        "INSERT INTO captures (station, capture_id, sku, spin_id, angle, meta_sha256, meta) VALUES (?,?,?,?,?,?,?)"
                        " ON CONFLICT(station, capture_id) DO UPDATE SET sku=excluded.sku, spin_id=excluded.spin_id,"
                        " angle=excluded.angle, meta_sha256=excluded.meta_sha256, meta=excluded.meta",
                        (
                            station,
                            capture_id,
                            meta.get("sku"),
                            meta.get("spin_id"),
                            meta.get("angle"),
                            digest,
                            payload.decode(),
                        ),
                    )
                completed = self._check_complete(station, capture_id)
                self._bump("stored" if row is None else "replaced")
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise StorageError(f"index write failed for {topic}: {exc}") from exc
            if row is not None and row[1] != rel:  # the new version has another file name
                (self.dir / row[1]).unlink(missing_ok=True)
        if row is not None:
            log.info(
                "%s: replaced revision %d (sha256 %s) by revision %d (sha256 %s)",
                topic,
                row[2],
                row[0][:12],
                rev,
                digest[:12],
            )
        return Outcome("stored" if row is None else "replaced", completed=completed)

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
            _fsync_dir(folder)
            if new_dirs:
                _fsync_dir(folder.parent)
                _fsync_dir(self.files)
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
        listed = json.loads(row[0])["artifacts"]
        have = dict(
            self.db.execute("SELECT name, sha256 FROM items WHERE station=? AND capture_id=?", (station, capture_id))
        )
        if all(have.get(a.get("name")) == a.get("sha256") for a in listed):
            self.db.execute(
                "UPDATE captures SET complete=1, completed=? WHERE station=? AND capture_id=?",
                (time.time(), station, capture_id),
            )
            return capture_id
        return None

    def _bump(self, name: str) -> None:
        self.db.execute("INSERT INTO counters VALUES (?,1) ON CONFLICT(name) DO UPDATE SET value=value+1", (name,))

    def _record_rejected(self, topic: str, reason: str) -> None:
        self.db.execute("INSERT INTO rejected VALUES (?,?,?)", (topic, reason, time.time()))

    def _reject(self, topic: str, reason: str) -> Outcome:
        log.error("rejected %s: %s", topic, reason)
        with self._lock:
            self._record_rejected(topic, reason)
            self._bump("rejected")
        return Outcome("rejected", reason)

    def stats(self) -> dict:
        """Counts for status pages and tests: complete captures, items, duplicates, rejects."""
        with self._lock:
            counters = dict(self.db.execute("SELECT name, value FROM counters").fetchall())
            complete = self.db.execute("SELECT COUNT(*) FROM captures WHERE complete=1").fetchone()[0]
            captures = self.db.execute("SELECT COUNT(*) FROM captures").fetchone()[0]
            items = self.db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return {
            "complete_captures": complete,
            "captures_with_meta": captures,
            "items": items,
            "stored": counters.get("stored", 0),
            "replaced": counters.get("replaced", 0),
            "duplicates": counters.get("duplicates", 0),
            "conflicts": counters.get("conflicts", 0),
            "rejected": counters.get("rejected", 0),
        }


class Receiver:
    """One catalog worker: connect, subscribe (shared), store, manual-ack, reconnect forever."""

    def __init__(self, cfg: MqttConfig, store: CatalogStore):
        self.cfg = cfg
        self.cat = cfg.catalog
        self.store = store
        group = self.cat.share_group
        self.topic = f"$share/{group}/{self.cat.topic_filter}" if group else self.cat.topic_filter
        self._stop = threading.Event()
        self._down = threading.Event()
        self.connected = False
        self.subscribed = threading.Event()
        self.last_error: str | None = None
        self.completed = 0

    def _on_connect(self, client, userdata, flags, rc, props):
        if rc.is_failure:
            self.last_error = f"connection refused by broker: {rc}"
            log.error(self.last_error)
            self._down.set()
            return
        self.connected, self.last_error = True, None
        client.subscribe(self.topic, qos=1)
        log.info("catalog %s connected (session present: %s)", self.cat.client_id, flags.session_present)

    def _on_subscribe(self, client, userdata, mid, reason_codes, props):
        if any(rc.is_failure for rc in reason_codes):
            self.last_error = f"subscription to {self.topic} refused: {reason_codes[0]}"
            log.error(self.last_error)
        else:
            self.subscribed.set()
            log.info("subscribed to %s", self.topic)

    def _on_disconnect(self, client, userdata, flags, rc, props):
        self.connected = False
        self.subscribed.clear()
        self._down.set()

    def _on_message(self, client, userdata, msg):
        props = getattr(msg, "properties", None)
        user = dict(getattr(props, "UserProperty", None) or [])
        try:
            out = self.store.store(
                msg.topic,
                msg.payload,
                user.get("sha256"),
                getattr(props, "ContentType", None),
                user.get("filename"),
                user.get("revision"),
            )
        except StorageError as exc:
            self.last_error = str(exc)
            log.error("%s: not acknowledged; reconnecting so the broker delivers it again", exc)
            client.disconnect()
            return
        if out.completed:
            self.completed += 1
        client.ack(msg.mid, msg.qos)

    def run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            self._down.clear()
            try:
                client = make_client(self.cfg, self.cat.client_id, manual_ack=True)
                client.on_connect, client.on_disconnect, client.on_message = (
                    self._on_connect,
                    self._on_disconnect,
                    self._on_message,
                )
                client.on_subscribe = self._on_subscribe
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.cat.session_expiry_s
                client.connect(
                    self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s, clean_start=False, properties=props
                )
            except Exception as exc:
                self.last_error = f"cannot connect to {self.cfg.host}:{self.cfg.port}: {exc}"
                self._stop.wait(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_s)
                continue
            client.loop_start()
            while not self._stop.is_set() and not self._down.wait(0.2):
                pass
            if self.connected:
                delay = self.cfg.reconnect_min_s
            client.disconnect()
            client.loop_stop()
            self.connected = False
            if not self._stop.is_set():
                self._stop.wait(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_s)

    def stop(self) -> None:
        self._stop.set()


def run_receiver(config: CutboxConfig) -> None:
    """`cutbox catalog`: run one receiver worker until SIGTERM/SIGINT."""
    store = CatalogStore(config.mqtt.catalog.data_dir)
    receiver = Receiver(config.mqtt, store)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: receiver.stop())
    log.info("catalog receiver %s -> %s", config.mqtt.catalog.client_id, store.dir)
    try:
        receiver.run()
    finally:
        store.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="cutbox.toml (default: the bundled one)")
    parser.add_argument("--stats", action="store_true", help="print the index counts as JSON and exit")


def run_command(args: argparse.Namespace) -> int:
    """Shared by `cutbox catalog` and `python -m device.catalog`."""
    from device.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    if args.stats:
        store = CatalogStore(config.mqtt.catalog.data_dir)
        print(json.dumps(store.stats(), indent=2))
        store.close()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run_receiver(config)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cutbox catalog", description="receive captures into the catalog")
    add_arguments(parser)
    return run_command(parser.parse_args(argv))
