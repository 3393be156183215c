"""The box's side of MQTT: start the publisher (which also serves `cmd/<verb>` commands on the
service), hand it each finished capture, and report its state. A publisher that cannot start
or a full outbox is recorded as an error; the capture stays in the store either way."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from device.box.events import Events
from device.comms.commands import CommandHandler
from device.config import CutboxConfig
from device.errors import one_line
from device.types import Capture

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What the box needs of `device.comms.mqtt.Publisher` (tests may pass their own)."""

    def submit(self, capture: Capture) -> bool: ...
    def status(self) -> dict[str, Any]: ...
    def stop(self) -> None: ...


class Publishing:
    def __init__(self, events: Events, publisher: Publisher | None = None):
        self._events = events
        self.publisher = publisher

    def start(self, config: CutboxConfig, data_dir: Path, handler: CommandHandler) -> None:
        """Start the MQTT publisher when `[mqtt] enabled` (and none was given)."""
        if self.publisher is not None or not config.mqtt.enabled:
            return
        try:
            from device.comms.mqtt import Publisher as MqttPublisher

            outbox = config.mqtt.outbox_path or data_dir / "outbox.sqlite"
            publisher = MqttPublisher(
                config.mqtt,
                config.station.id,
                outbox,
                handler=handler,
                min_free_bytes=config.storage.min_free_mb * 1_000_000,
            )
            publisher.start()
            self.publisher = publisher
        except Exception as exc:  # the page must still come up to show the problem
            self._events.error("mqtt", exc)

    def submit(self, capture: Capture) -> bool:
        """Queue a capture for the catalog; False when there is no publisher or it refused."""
        if self.publisher is None:
            return False
        try:
            # A changed version (a correction, a review decision) replaces a still-queued one,
            # or is queued again once it was sent.
            self.publisher.submit(capture)
            return True
        except Exception as exc:  # outbox full (block policy) or closed: the capture stays stored
            self._events.error("publish", exc)
            return False

    def receipted(self, capture_ids: list[str]) -> set[str]:
        """Which captures the catalog confirmed (retention may delete only those)."""
        outbox = getattr(self.publisher, "outbox", None)
        return outbox.receipted(capture_ids) if outbox is not None else set()

    def forget_receipts(self, capture_ids: list[str]) -> None:
        outbox = getattr(self.publisher, "outbox", None)
        if outbox is not None:
            outbox.forget_receipts(capture_ids)

    def status(self, enabled: bool) -> dict:
        if self.publisher is None:
            return {"enabled": enabled, "connected": False}
        try:
            st = dict(self.publisher.status())
        except Exception as exc:  # a publisher in trouble is a status line, not a failed page
            return {"enabled": True, "connected": False, "error": one_line(exc)}
        st.setdefault("enabled", True)
        return st

    def stop(self) -> None:
        if self.publisher is not None:
            try:
                self.publisher.stop()
            except Exception as exc:  # shutting down: say it, carry on
                log.warning("publisher stop: %s", one_line(exc))
