"""Publish captures to the catalog over MQTT v5, QoS 1, through the durable outbox.

`submit(capture)` only writes the outbox (one SQLite transaction, fsync) and returns: a capture
never waits on the network. A sender thread keeps one connection to the broker, publishes
outbox messages in order with at most `max_inflight` unacknowledged, deletes each message on
its PUBACK and, after any disconnect or restart, starts again from the oldest message still in
the outbox. A new paho client is made for every connection, so no paho state crosses a
reconnect. Topics and payloads are documented in `device/comms/SCHEMA.md`.

The retained `cutbox/<station>/status` says online/offline (offline is also the last will)
plus the outbox depth and policy state. `cmd/<verb>` requests go to a `CommandDispatcher` in a
worker thread and are answered on `cmd/<verb>/result` (or the request's ResponseTopic) with
the request's CorrelationData.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.comms.commands import CommandDispatcher, CommandHandler
from device.comms.outbox import Outbox, OutMessage
from device.comms.wire import META_SCHEMA, STATUS_SCHEMA, make_client, parse_receipt, receipt_topic, topic_root
from device.config import MqttConfig
from device.types import Capture

log = logging.getLogger(__name__)

_BAD_ID_CHARS = set("/+#\x00")


def capture_messages(capture: Capture, station_id: str) -> list[OutMessage]:
    """All of a capture's messages: one per artifact, then the meta JSON that lists them."""
    if not capture.id or _BAD_ID_CHARS & set(capture.id):
        raise ValueError(f"capture id {capture.id!r} cannot be a topic level (no '/', '+', '#')")
    base = f"{topic_root(station_id)}/captures/{capture.id}"
    revision = capture_revision(capture)
    msgs, listed = [], []
    for a in capture.artifacts:
        if a.name == "meta":
            continue  # the exported metadata sidecar: everything in it is in the meta message below
        if not a.name or _BAD_ID_CHARS & set(a.name):
            raise ValueError(f"artifact name {a.name!r} cannot be a topic level")
        digest = a.sha256
        topic = f"{base}/{a.name}"
        listed.append(
            {
                "name": a.name,
                "filename": a.filename,
                "content_type": a.content_type,
                "bytes": len(a.data),
                "sha256": digest,
                "topic": topic,
            }
        )
        msgs.append(
            OutMessage(
                topic=topic,
                payload=a.data,
                content_type=a.content_type,
                user_props=(
                    ("sha256", digest),
                    ("filename", a.filename),
                    ("capture_id", capture.id),
                    ("revision", str(revision)),
                ),
            )
        )
    extra = {k: v for k, v in capture.meta.items() if k not in ("spin_id", "angle")}
    meta = {
        "schema": META_SCHEMA,
        "station": station_id,
        "capture_id": capture.id,
        "sku": capture.sku,
        "spin_id": capture.meta.get("spin_id"),
        "angle": _number(capture.meta.get("angle")),
        "preset": capture.preset,
        "model": capture.model,
        "quality": _number(capture.quality),
        "review": bool(capture.review),
        "timings_ms": {str(k): float(v) for k, v in (capture.timings_ms or {}).items()},
        "artifacts": listed,
        "extra": extra,
        "revision": revision,
    }
    body = json.dumps(meta, sort_keys=True, default=str).encode()
    msgs.append(
        OutMessage(
            topic=f"{base}/meta",
            payload=body,
            content_type="application/json",
            user_props=(
                ("sha256", hashlib.sha256(body).hexdigest()),
                ("capture_id", capture.id),
                ("revision", str(revision)),
            ),
        )
    )
    return msgs


def _number(value) -> float | None:
    """numpy scalars and ints as plain floats, so the meta has the types its schema names."""
    return None if value is None else float(value)


def capture_revision(capture: Capture) -> int:
    """Which version of a capture this is: its correction count (0 for the original shot).
    The receiver replaces a stored version with one of the same or a higher revision and
    refuses an older one (a late redelivery)."""
    try:
        return max(0, int(capture.meta.get("corrections", 0) or 0))
    except (TypeError, ValueError):
        return 0


class Publisher:
    """Durable, ordered, at-least-once publisher for one station."""

    def __init__(
        self,
        cfg: MqttConfig,
        station_id: str,
        outbox_path: str | Path,
        handler: CommandHandler | None = None,
        on_published: Callable[[str], None] | None = None,
        min_free_bytes: int = 0,
    ):
        self.cfg = cfg
        self.station_id = station_id
        self.root = topic_root(station_id)
        self.client_id = cfg.client_id or f"cutbox-{station_id}"
        self.outbox = Outbox(
            outbox_path,
            cfg.outbox_max_captures,
            cfg.outbox_max_mb * 1_000_000,
            cfg.outbox_full_policy,
            require_receipt=cfg.require_receipt,
            receipt_timeout_s=cfg.receipt_timeout_s,
            receipt_timeout_max_s=cfg.receipt_timeout_max_s,
            min_free_bytes=min_free_bytes,
        )
        self.commands = CommandServer(self.root, lambda: self._client)
        self.dispatcher = CommandDispatcher(handler) if handler is not None else None
        self.on_published = on_published
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._acks: queue.SimpleQueue = queue.SimpleQueue()
        self._receipts: queue.Queue = queue.Queue(maxsize=10_000)
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._connack = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_error: str | None = None
        self.connections = 0
        self.published_captures = 0
        self.receipted_captures = 0
        self.inflight = 0
        self._status_sent_at = 0.0
        self._status_sent: dict | None = None

    # ---- public API ------------------------------------------------------------------------
    def start(self) -> Publisher:
        self._threads = [threading.Thread(target=self._run, name="mqtt-sender", daemon=True)]
        if self.dispatcher is not None:
            self._threads.append(
                threading.Thread(target=self.commands.run, args=(self._stop,), name="mqtt-commands", daemon=True)
            )
        for t in self._threads:
            t.start()
        return self

    @property
    def dispatcher(self) -> CommandDispatcher | None:
        return self.commands.dispatcher

    @dispatcher.setter
    def dispatcher(self, value: CommandDispatcher | None) -> None:
        self.commands.dispatcher = value

    def serve_commands(self, handler: CommandHandler) -> None:
        """Attach the command handler (before `start()`), when it was not given to the constructor."""
        self.dispatcher = CommandDispatcher(handler)

    def submit(self, capture: Capture) -> bool:
        """Queue a finished capture durably; never touches the network. False if the same
        content is already queued; a changed version replaces a still-queued one (see `Outbox.put`).

        Raises `OutboxFull` (policy `block`) or `OutboxError` (disk) with a message that says why.
        """
        capture.complete()
        queued = self.outbox.put(capture.id, capture_messages(capture, self.station_id))
        self._wake.set()
        return queued

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained), disconnect cleanly, stop the threads, close the outbox."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        self.outbox.close()

    def status(self) -> dict:
        return {
            "station": self.station_id,
            "broker": f"{self.cfg.host}:{self.cfg.port}",
            "connected": self._connected.is_set(),
            "last_error": self.last_error,
            "connections": self.connections,
            "inflight": self.inflight,
            "published_captures": self.published_captures,
            "receipted_captures": self.receipted_captures,
            "outbox": self.outbox.stats(),
            "commands": dict(self.dispatcher.counts) if self.dispatcher else None,
        }

    # ---- connection loop ---------------------------------------------------------------------
    def _status_payload(self, online: bool) -> dict:
        body = {
            "schema": STATUS_SCHEMA,
            "station": self.station_id,
            "online": online,
            "state": "online" if online else "offline",
        }
        if online:
            body["outbox"] = self.outbox.stats()
        return body

    def _new_client(self) -> mqtt.Client:
        client = make_client(self.cfg, self.client_id)
        client.max_inflight_messages_set(self.cfg.max_inflight + 4)
        client.will_set(f"{self.root}/status", json.dumps(self._status_payload(False)), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_publish(self, client, userdata, mid, rc, props) -> None:
        self._acks.put((mid, rc))
        self._wake.set()

    def _on_connect(self, client, userdata, flags, rc, props):
        if rc.is_failure:
            self.last_error = f"connection refused by broker: {rc}"
            log.error("%s (%s:%s, user %r)", self.last_error, self.cfg.host, self.cfg.port, self.cfg.username)
        else:
            self.last_error = None
            self.connections += 1
            self._connected.set()
            if self.dispatcher is not None:
                client.subscribe(f"{self.root}/cmd/+", qos=1)
            if self.cfg.require_receipt:
                client.subscribe(receipt_topic(self.station_id, "+"), qos=1)
        self._connack.set()

    def _on_disconnect(self, client, userdata, flags, rc, props):
        if self._connected.is_set() and not self._stop.is_set():
            self.last_error = f"disconnected: {rc}"
            log.warning("broker %s:%s %s", self.cfg.host, self.cfg.port, self.last_error)
        self._connected.clear()
        self._connack.set()
        self._wake.set()

    def _run(self) -> None:
        delay = self.cfg.reconnect_min_s
        while not self._stop.is_set():
            self._connack.clear()
            try:
                client = self._new_client()
                client.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s, clean_start=True)
                client.loop_start()
            except Exception as exc:  # broker down, DNS, TLS handshake...
                self.last_error = f"cannot connect to {self.cfg.host}:{self.cfg.port}: {exc}"
                log.debug(self.last_error)
                self._stop.wait(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_s)
                continue
            self._connack.wait(10)
            if self._connected.is_set():
                self._client = client
                delay = self.cfg.reconnect_min_s
                try:
                    self._send_loop(client)
                except Exception as exc:  # one bad message or a paho error must not end the sender thread
                    self.last_error = f"sender error: {exc}"
                    log.exception("sender error; reconnecting")
                self._client = None
            if self._stop.is_set() and self._connected.is_set():
                info = client.publish(
                    f"{self.root}/status", json.dumps(self._status_payload(False)), qos=1, retain=True
                )
                try:
                    info.wait_for_publish(2)
                except (RuntimeError, ValueError):  # not sent (queue full, gone): the last will says offline
                    pass
            client.disconnect()
            client.loop_stop()
            self._connected.clear()
            self.inflight = 0
            if not self._stop.is_set():
                self._stop.wait(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_s)

    def _send_loop(self, client: mqtt.Client) -> None:
        """Publish from the outbox with a bounded window; delete on PUBACK; return on disconnect."""
        inflight: dict[int, int] = {}  # mid -> outbox seq
        resend_check = 0.0
        self._publish_status(client, force=True)
        while self._connected.is_set() and not self._stop.is_set():
            self._take_receipts()
            if self.cfg.require_receipt and time.monotonic() - resend_check >= 1.0:
                resend_check = time.monotonic()
                self.outbox.resend_due()
            self._wake.clear()
            acked: list[int] = []
            while True:
                try:
                    mid, rc = self._acks.get_nowait()
                except queue.Empty:
                    break
                seq = inflight.pop(mid, None)
                if seq is None:
                    continue  # status or command reply
                if rc.is_failure:
                    self.outbox.dead_letter(seq, str(rc))  # counted as refused, never as published
                else:
                    acked.append(seq)
            if acked:
                self._published(self.outbox.ack(acked))
            room = self.cfg.max_inflight - len(inflight)
            if room > 0:
                for m in self.outbox.pending(0, room, exclude=set(inflight.values())):
                    props = Properties(PacketTypes.PUBLISH)
                    if m.content_type:
                        props.ContentType = m.content_type
                    if m.user_props:
                        props.UserProperty = list(m.user_props)
                    info = client.publish(m.topic, m.payload, qos=1, retain=m.retain, properties=props)
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        return  # connection lost; the outbox still has it
                    inflight[info.mid] = m.seq
            self.inflight = len(inflight)
            self._publish_status(client)
            self._wake.wait(0.5)

    def _published(self, capture_ids: list[str]) -> None:
        for cid in capture_ids:
            self.published_captures += 1
            if self.on_published:
                try:
                    self.on_published(cid)
                except Exception:  # the caller's callback: log it, keep publishing
                    log.exception("on_published callback failed for %s", cid)

    def _take_receipts(self) -> None:
        """Forget the captures the catalog confirmed (a receipt for another version changes nothing)."""
        while True:
            try:
                topic, payload = self._receipts.get_nowait()
            except queue.Empty:
                return
            try:
                receipt = parse_receipt(topic, payload, self.station_id)
            except ValueError as exc:  # pydantic's ValidationError is one
                log.warning("ignored a receipt on %s: %s", topic[:200], str(exc).splitlines()[0])
                continue
            if self.outbox.receipt(receipt.capture_id, receipt.meta_sha256):
                self.receipted_captures += 1

    def _publish_status(self, client: mqtt.Client, force: bool = False) -> None:
        """Retained status on connect, at once when the full/dropped state changes, else at most every interval."""
        body = self._status_payload(True)
        prev = self._status_sent
        urgent = (
            force
            or prev is None
            or any(body["outbox"][k] != prev["outbox"][k] for k in ("full", "dropped_captures", "refused_messages"))
        )
        changed = prev is None or body["outbox"] != prev["outbox"]
        if urgent or (changed and time.monotonic() - self._status_sent_at >= self.cfg.status_interval_s):
            client.publish(f"{self.root}/status", json.dumps(body), qos=1, retain=True)
            self._status_sent, self._status_sent_at = body, time.monotonic()

    # ---- commands ----------------------------------------------------------------------------
    def _on_message(self, client, userdata, msg) -> None:
        if msg.topic.startswith(f"{self.root}/receipts/"):
            try:
                self._receipts.put_nowait((msg.topic, msg.payload))
            except queue.Full:  # the capture is sent again after its timeout and receipted then
                log.warning("receipt queue full: dropped the receipt on %s", msg.topic[:200])
            self._wake.set()
            return
        self.commands.offer(msg)


class CommandServer:
    """`cmd/<verb>` requests for one station: queued (16 at most; past that an immediate "busy"
    reply), run one at a time on the dispatcher by the command thread, and answered on
    `cmd/<verb>/result` (or the request's response topic) with its correlation data."""

    def __init__(self, root: str, client: Callable[[], mqtt.Client | None]):
        self.root = root
        self._client = client
        self.dispatcher: CommandDispatcher | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=16)

    def offer(self, msg) -> None:
        """Queue a message if it is a command request (not a result, not another topic)."""
        prefix = f"{self.root}/cmd/"
        if not msg.topic.startswith(prefix) or msg.topic.endswith("/result"):
            return
        verb = msg.topic[len(prefix) :]
        props = getattr(msg, "properties", None)
        if verb == "cancel" and self.dispatcher is not None:  # at once: not queued behind the spin it stops
            self.reply(verb, props, self.dispatcher.handle(verb, msg.payload))
            return
        try:
            self._queue.put_nowait((verb, msg.payload, props))
        except queue.Full:
            self.reply(
                verb,
                props,
                {
                    "schema": "cutbox.cmd.result/1",
                    "ok": False,
                    "verb": verb,
                    "error": "busy: too many commands queued, try again",
                    "details": [],
                },
            )

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                verb, payload, props = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if self.dispatcher is None:  # commands arrive only when a dispatcher subscribed
                continue
            self.reply(verb, props, self.dispatcher.handle(verb, payload))

    def reply(self, verb: str, req_props, reply: dict) -> None:
        client = self._client()
        if client is None:
            log.warning("command %s answered while offline; reply dropped: %s", verb, reply)
            return
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        topic = f"{self.root}/cmd/{verb}/result"
        if req_props is not None:
            if getattr(req_props, "CorrelationData", None) is not None:
                props.CorrelationData = req_props.CorrelationData
            if getattr(req_props, "ResponseTopic", None):
                topic = req_props.ResponseTopic
        client.publish(topic, json.dumps(reply, default=str), qos=1, properties=props)
