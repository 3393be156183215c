"""The serial turntable driver, against a real pseudo-terminal with a controller thread on the other end."""

from __future__ import annotations

import os
import threading
import time

import pytest

from device.config import TurntableConfig
from device.turntable import open_turntable
from device.turntable.serial import SerialTurntable, TurntableError, TurntableTimeout


class FakeController(threading.Thread):
    """A controller on the master side of a pty: reads command lines, answers per `reply(line)`."""

    def __init__(self, reply):
        super().__init__(daemon=True)
        self.master, slave = os.openpty()
        self.port = os.ttyname(slave)
        self._slave = slave  # keep the slave open so the master never sees EOF/EIO between opens
        self.reply = reply
        self.received: list[str] = []
        self._stop = threading.Event()
        self.start()

    def run(self):
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = os.read(self.master, 256)
            except OSError:
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode().strip()
                self.received.append(line)
                for answer, delay in self.reply(line):
                    time.sleep(delay)
                    os.write(self.master, answer.encode())

    def stop(self):
        self._stop.set()
        os.close(self._slave)
        os.close(self.master)


def obedient(line):
    """Chatty but correct firmware: a debug line, then DONE after the move takes a moment."""
    return [(f"# moving {line}\r\n", 0.0), ("DONE\r\n", 0.02)]


def test_rotate_sends_the_template_and_waits_for_done():
    peer = FakeController(obedient)
    table = SerialTurntable(peer.port, baud=9600)
    try:
        t0 = time.monotonic()
        table.rotate(15)
        table.rotate(-7.5)
        assert time.monotonic() - t0 >= 0.04  # it really waited for both answers
        assert peer.received == ["ROT 15.00", "ROT -7.50"]
        assert table.angle == pytest.approx(7.5)
        table.home()
        assert peer.received[-1] == "HOME"
        assert table.angle == 0
    finally:
        table.close()
        peer.stop()


def test_custom_protocol_from_config():
    """A controller with another dialect (G-code-ish, answers 'ok') needs only configuration."""
    peer = FakeController(lambda line: [("ok\n", 0.0)])
    cfg = TurntableConfig.model_validate(
        {
            "driver": "serial",
            "serial": {
                "port": peer.port,
                "rotate_command": "G1 A{deg:.1f}\n",
                "done_pattern": "^ok$",
                "home_command": "",
            },
        }
    )
    table = open_turntable(cfg)
    try:
        for _ in range(3):
            table.rotate(120)
        assert peer.received == ["G1 A120.0"] * 3
        assert table.angle == 0
    finally:
        table.close()
        peer.stop()


def test_error_line_is_reported():
    peer = FakeController(lambda line: [("ERR motor stalled\n", 0.0)])
    table = SerialTurntable(peer.port)
    try:
        with pytest.raises(TurntableError, match="rotate \\+15.00: controller answered 'ERR motor stalled'"):
            table.rotate(15)
        assert table.angle == 0  # a failed move does not pretend it moved
    finally:
        table.close()
        peer.stop()


def test_silent_controller_times_out_with_a_hint():
    peer = FakeController(lambda line: [])
    table = SerialTurntable(peer.port, timeout_s=0.3)
    try:
        t0 = time.monotonic()
        with pytest.raises(TurntableTimeout, match="no done line .* within 0.3 s"):
            table.rotate(15)
        assert 0.3 <= time.monotonic() - t0 < 2.0
    finally:
        table.close()
        peer.stop()


def test_missing_port_is_one_clear_line():
    with pytest.raises(TurntableError, match="cannot open turntable port /dev/nonexistent-turntable:.*dialout"):
        SerialTurntable("/dev/nonexistent-turntable")


def test_bad_template_is_rejected_before_opening():
    with pytest.raises(TurntableError, match="not a valid template"):
        SerialTurntable("/dev/null", rotate_command="ROT {angle}\n")
