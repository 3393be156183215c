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


class Grbl(FakeController):
    """GRBL 1.1 as a turntable controller on a pty: a G-code line is answered `ok` at once
    (buffered), the move then runs for `move_s`; the real-time `?` (no newline) is answered
    with `<Run|...>` while it runs and `<Idle|...>` after. `error:` for unknown lines."""

    def __init__(self, move_s: float = 0.3):
        self.move_s = move_s
        self.busy_until = 0.0
        self.x = 0.0
        self.lines: list[str] = []
        self.polls = 0
        super().__init__(reply=None)

    def _say(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:  # stopped while a poll was being answered
            pass

    def run(self):
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = os.read(self.master, 256)
            except OSError:
                return
            for byte in chunk:
                if byte == ord("?"):  # real-time: answered at once, never queued
                    self.polls += 1
                    state = "Run" if time.monotonic() < self.busy_until else "Idle"
                    self._say(f"<{state}|MPos:{self.x:.3f},0.000,0.000|FS:0,0>\r\n".encode())
                else:
                    buf += bytes([byte])
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode().strip()
                self.lines.append(line)
                if line.startswith("G91 G0 X"):
                    self.x += float(line[8:])
                    self.busy_until = max(time.monotonic(), self.busy_until) + self.move_s
                    self._say(b"ok\r\n")
                else:
                    self._say(b"error:20\r\n")


def grbl_config(port: str, **over) -> TurntableConfig:
    return TurntableConfig.model_validate(
        {
            "driver": "serial",
            "serial": {
                "port": port,
                "rotate_command": "G91 G0 X{deg:.3f}\n",
                "home_command": "",
                "done_pattern": "^ok$",
                "error_pattern": "^(error|ALARM)",
                "completion": "poll",
                "poll_command": "?",
                "poll_done_pattern": "^<Idle",
                "poll_interval_s": 0.05,
                **over,
            },
        }
    )


def test_grbl_ok_means_buffered_so_the_driver_polls_until_idle():
    grbl = Grbl(move_s=0.3)
    table = open_turntable(grbl_config(grbl.port))
    try:
        t0 = time.monotonic()
        table.rotate(15)
        took = time.monotonic() - t0
        assert took >= 0.3, f"returned after {took:.2f} s, on the 'ok', before the move was over"
        assert time.monotonic() >= grbl.busy_until and grbl.polls >= 2  # saw <Run, then <Idle
        table.rotate(-5)
        assert grbl.lines == ["G91 G0 X15.000", "G91 G0 X-5.000"] and grbl.x == pytest.approx(10)
        table.home()  # no home command: the driver turns back by its own count
        assert grbl.lines[-1] == "G91 G0 X-10.000" and table.angle == 0
    finally:
        table.close()
        grbl.stop()


def test_grbl_that_never_gets_idle_times_out():
    grbl = Grbl(move_s=5.0)
    table = open_turntable(grbl_config(grbl.port, timeout_s=0.5))
    try:
        with pytest.raises(TurntableTimeout, match="did not report idle within 0.5 s"):
            table.rotate(15)
        assert table.angle == 0
    finally:
        table.close()
        grbl.stop()


def test_grbl_error_answer_is_reported():
    grbl = Grbl()
    table = open_turntable(grbl_config(grbl.port, rotate_command="G91 G1 X{deg:.3f}\n"))
    try:
        with pytest.raises(TurntableError, match="controller answered 'error:20'"):
            table.rotate(15)
    finally:
        table.close()
        grbl.stop()


def test_steps_and_direction_flag_with_another_terminator():
    """A ComXim-style controller: unsigned angle or steps and a direction flag in the command,
    answers ended by ';' instead of a newline."""
    peer = FakeController(lambda line: [("BUSY;", 0.0), ("DONE;", 0.02)])
    cfg = TurntableConfig.model_validate(
        {
            "driver": "serial",
            "serial": {
                "port": peer.port,
                "rotate_command": "CT+TRUNSINGLE({dir},{abs_deg:.0f},{steps});\n",
                "home_command": "",
                "steps_per_rev": 3200,
                "dir_cw": "1",
                "dir_ccw": "0",
                "reply_terminator": ";",
                "done_pattern": "^DONE$",
            },
        }
    )
    table = open_turntable(cfg)
    try:
        table.rotate(45)
        table.rotate(-90)
        assert peer.received == ["CT+TRUNSINGLE(1,45,400);", "CT+TRUNSINGLE(0,90,800);"]
        assert table.angle == pytest.approx(315)
    finally:
        table.close()
        peer.stop()
