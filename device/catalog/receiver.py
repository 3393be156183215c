"""The catalog receiver (`cutbox catalog`): MQTT in, checked files plus an SQLite index out.

It subscribes with a shared subscription (`$share/<group>/cutbox/+/captures/#`), so several
workers can split the load, with a fixed client id and a persistent session so the broker
keeps what a crashed receiver had not acknowledged. Each message goes to `CatalogStore`
(device/catalog/store.py) inside a guard: whatever it cannot store, for any reason, is
quarantined and acknowledged, so one bad message never stops the others; only a storage
failure (disk full) leaves a message unacknowledged, and the receiver reconnects so the broker
delivers it again. Once a capture is complete (its meta and every listed artifact stored), a
receipt goes back to its station on `cutbox/<station>/receipts/<capture_id>`; the box keeps the
capture until then.

The network loop runs in the receiver's own thread and pings the systemd watchdog between
messages, so a receiver that hangs is restarted instead of looking alive.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.box.systemd_notify import Notifier
from device.catalog.store import CatalogStore, Outcome, StorageError
from device.comms.wire import make_client, receipt_topic
from device.config import CutboxConfig, MqttConfig

log = logging.getLogger("cutbox.catalog")

__all__ = ["CatalogStore", "Outcome", "Receiver", "StorageError", "main", "run_receiver"]


class Receiver:
    """One catalog worker: connect, subscribe (shared), store, send receipts, manual-ack, reconnect forever."""

    def __init__(self, cfg: MqttConfig, store: CatalogStore, notifier: Notifier | None = None):
        self.cfg = cfg
        self.cat = cfg.catalog
        self.store = store
        self.notifier = notifier or Notifier({})
        group = self.cat.share_group
        self.topic = f"$share/{group}/{self.cat.topic_filter}" if group else self.cat.topic_filter
        self._stop = threading.Event()
        self._down = threading.Event()
        self.connected = False
        self.subscribed = threading.Event()
        self.last_error: str | None = None
        self.completed = 0
        self.receipts = 0
        self.quarantined = 0

    def _on_connect(self, client, userdata, flags, rc, props):
        if rc.is_failure:
            self.last_error = f"connection refused by broker: {rc}"
            log.error(self.last_error)
            self._down.set()
            return
        self.connected, self.last_error = True, None
        client.subscribe(self.topic, qos=1)
        log.info(
            "catalog %s connected to %s:%s (session present: %s)",
            self.cat.client_id,
            self.cfg.host,
            self.cfg.port,
            flags.session_present,
        )
        self.notifier.status(f"connected to {self.cfg.host}:{self.cfg.port}")

    def _on_subscribe(self, client, userdata, mid, reason_codes, props):
        if any(rc.is_failure for rc in reason_codes):
            self.last_error = f"subscription to {self.topic} refused: {reason_codes[0]}"
            log.error(self.last_error)
        else:
            self.subscribed.set()
            log.info("subscribed to %s", self.topic)

    def _on_disconnect(self, client, userdata, flags, rc, props):
        if self.connected and not self._stop.is_set():
            log.warning("catalog %s disconnected: %s", self.cat.client_id, rc)
            self.notifier.status(f"disconnected: {rc}")
        self.connected = False
        self.subscribed.clear()
        self._down.set()

    def _on_message(self, client, userdata, msg):
        """Store or quarantine, send the receipt, then acknowledge; nothing escapes this guard."""
        props = getattr(msg, "properties", None)
        try:
            user = list(getattr(props, "UserProperty", None) or [])
            out = self.store.receive(msg.topic, msg.payload, user, getattr(props, "ContentType", None))
        except StorageError as exc:
            self._storage_failed(client, exc)
            return
        except Exception as exc:  # a message no check foresaw: it must not stop the others
            log.exception("unexpected error on %s", msg.topic[:200])
            try:
                out = self.store.quarantine(
                    msg.topic, msg.payload, [], None, f"internal error: {type(exc).__name__}: {str(exc)[:300]}"
                )
            except Exception as again:
                self._storage_failed(client, again)
                return
        if out.completed:
            self.completed += 1
        if out.kind == "quarantined":
            self.quarantined += 1
        if out.receipt is not None:
            self._send_receipt(client, out)
        client.ack(msg.mid, msg.qos)

    def _storage_failed(self, client, exc: Exception) -> None:
        self.last_error = str(exc)
        log.error("%s: not acknowledged; reconnecting so the broker delivers it again", exc)
        client.disconnect()

    def _send_receipt(self, client, out: Outcome) -> None:
        r = out.receipt
        if r is None:  # nothing stored, nothing to confirm
            return
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        props.CorrelationData = r.capture_id.encode()
        info = client.publish(receipt_topic(r.station, r.capture_id), r.to_json(), qos=1, properties=props)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.receipts += 1
        else:  # the station resends after its receipt timeout and gets a receipt for the duplicate
            log.warning("receipt for %s/%s not sent: %s", r.station, r.capture_id, mqtt.error_string(info.rc))

    def _connect(self) -> mqtt.Client:
        client = make_client(self.cfg, self.cat.client_id, manual_ack=True)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_message, client.on_subscribe = self._on_message, self._on_subscribe
        client.max_inflight_messages_set(100)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.cat.session_expiry_s
        client.connect(
            self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s, clean_start=False, properties=props
        )
        return client

    def run(self) -> None:
        """Until `stop()`: the network loop runs here, between watchdog pings."""
        delay = self.cfg.reconnect_min_s
        self.notifier.ready(f"connecting to {self.cfg.host}:{self.cfg.port}")
        while not self._stop.is_set():
            self._down.clear()
            self.notifier.watchdog()
            try:
                client = self._connect()
            except Exception as exc:
                self.last_error = f"cannot connect to {self.cfg.host}:{self.cfg.port}: {exc}"
                log.debug(self.last_error)
                self._stop.wait(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_s)
                continue
            while not self._stop.is_set() and not self._down.is_set():
                if client.loop(0.2) != mqtt.MQTT_ERR_SUCCESS:
                    self._down.set()
                self.notifier.watchdog()
            if self.connected:
                delay = self.cfg.reconnect_min_s
            client.disconnect()
            for _ in range(5):  # let the DISCONNECT (and queued receipts) leave
                if client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
                    break
            self.connected = False
            self.subscribed.clear()
            if not self._stop.is_set():
                self._stop.wait(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_s)
        self.notifier.stopping()

    def stop(self) -> None:
        self._stop.set()


def run_receiver(config: CutboxConfig) -> None:
    """`cutbox catalog`: run one receiver worker until SIGTERM/SIGINT."""
    cat = config.mqtt.catalog
    store = CatalogStore(cat.data_dir, cat.max_message_mb * 1024 * 1024)
    receiver = Receiver(config.mqtt, store, Notifier())
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: receiver.stop())
    log.info("catalog receiver %s -> %s", cat.client_id, store.dir)
    try:
        receiver.run()
    finally:
        store.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="cutbox.toml (default: the bundled one)")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="print the index counts, when it last stored and the newest quarantined messages as JSON, and exit",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        metavar="SECONDS",
        help="with --stats: exit 1 when nothing was stored for this long (a health check for cron or a monitor)",
    )


def run_command(args: argparse.Namespace) -> int:
    """Shared by `cutbox catalog` and `python -m device.catalog`."""
    from device.config import ConfigError, config_file, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    where = Path(config.mqtt.catalog.data_dir).absolute()
    print(f"cutbox: catalog data_dir {where} (mqtt.catalog.data_dir in {config_file(args.config)})", file=sys.stderr)
    if args.stats:
        store = CatalogStore(config.mqtt.catalog.data_dir)
        try:
            stats = store.stats()
            stats["recent_quarantine"] = store.quarantined(10)
        finally:
            store.close()
        print(json.dumps(stats, indent=2))
        age, max_age = stats["last_stored_age_s"], getattr(args, "max_age", None)
        if max_age is not None and (age is None or age > max_age):
            print(f"stale: nothing stored for {'ever' if age is None else f'{age:.0f} s'}")
            return 1
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run_receiver(config)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cutbox catalog", description="receive captures into the catalog")
    add_arguments(parser)
    return run_command(parser.parse_args(argv))
