"""A turntable controller that speaks a line protocol over a serial port.

Most turntable controllers (an Arduino with a stepper shield, commercial photo turntables
with a USB port) take one text command per move and print one line when the move is over.
The command templates ({deg}, {abs_deg}, {steps}, {dir}), the answer terminator, the answer
patterns and how a move's end is known (a done answer, or status polls for controllers such
as GRBL whose `ok` only means "buffered") are configuration (`[turntable.serial]`), so a new
controller needs a config edit, not code. Lines that match neither pattern (boot
banners, debug prints) are logged and skipped.
"""

from __future__ import annotations

import logging
import re
import time

from device.turntable.base import TurntableError, wrap

log = logging.getLogger(__name__)


class TurntableTimeout(TurntableError):
    """The controller did not say done in time (unplugged, stalled motor, wrong baud rate)."""


class SerialTurntable:
    """rotate() sends `rotate_command` filled in for the move and blocks until it is over:
    a done answer (`completion = "reply"`), or an accepted answer and then status polls until
    one matches `poll_done_pattern` (`completion = "poll"`, GRBL: `ok` only means buffered)."""

    def __init__(
        self,
        port: str,
        baud: int = 115200,
        rotate_command: str = "ROT {deg:.2f}\n",
        home_command: str = "HOME\n",
        done_pattern: str = r"^(DONE|OK)\b",
        error_pattern: str = r"^(ERR|ERROR|FAULT)\b",
        timeout_s: float = 30.0,
        open_delay_s: float = 0.0,
        steps_per_rev: int = 3200,
        dir_cw: str = "1",
        dir_ccw: str = "0",
        reply_terminator: str = "\n",
        completion: str = "reply",
        poll_command: str = "?",
        poll_done_pattern: str = r"^<Idle",
        poll_interval_s: float = 0.1,
    ):
        try:
            import serial  # pyserial: the `serial` extra
        except ImportError:
            raise TurntableError("pyserial is not installed: pip install 'cutbox[serial]'") from None
        self.rotate_command = rotate_command
        self.steps_per_rev, self.dir_cw, self.dir_ccw = steps_per_rev, dir_cw, dir_ccw
        try:
            self._fill(1.0)
        except (KeyError, IndexError, ValueError) as exc:
            raise TurntableError(
                f"turntable.serial.rotate_command {rotate_command!r} is not a valid template ({exc}); use e.g. 'ROT {{deg:.2f}}\\n'"
            ) from None
        try:
            self._done = re.compile(done_pattern)
            self._error = re.compile(error_pattern)
            self._idle = re.compile(poll_done_pattern)
        except re.error as exc:
            raise TurntableError(f"turntable.serial pattern is not a valid regex: {exc}") from None
        self.port = port
        self.home_command = home_command
        self.timeout_s = timeout_s
        self.completion, self.poll_command, self.poll_interval_s = completion, poll_command, poll_interval_s
        self._eol = reply_terminator.encode("ascii")
        self._angle = 0.0
        try:
            self._serial = serial.serial_for_url(port, baudrate=baud, timeout=0.05, write_timeout=2.0)
        except (serial.SerialException, ValueError) as exc:
            raise TurntableError(
                f"cannot open turntable port {port}: {exc} (check the cable, turntable.serial.port, and that the user is in group dialout)"
            ) from None
        if open_delay_s:
            time.sleep(open_delay_s)
        self._serial.reset_input_buffer()
        self._pending = b""

    @property
    def angle(self) -> float:
        return self._angle

    def _fill(self, degrees: float) -> str:
        """The rotate command for a signed move: {deg}, {abs_deg}, {steps} (rounded to whole
        motor steps), {dir}."""
        steps = round(abs(degrees) * self.steps_per_rev / 360.0)
        direction = self.dir_cw if degrees >= 0 else self.dir_ccw
        return self.rotate_command.format(deg=float(degrees), abs_deg=abs(float(degrees)), steps=steps, dir=direction)

    def rotate(self, degrees: float) -> None:
        if degrees == 0:
            return
        self._move(self._fill(degrees), f"rotate {degrees:+.2f}")
        self._angle = wrap(self._angle + degrees)

    def home(self) -> None:
        if self.home_command:
            self._move(self.home_command, "home")
        elif self._angle:
            back = -self._angle if self._angle <= 180 else 360.0 - self._angle
            self._move(self._fill(back), "home")
        self._angle = 0.0

    def close(self) -> None:
        self._serial.close()

    def _move(self, text: str, what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        self._command(text, what, deadline)
        if self.completion == "poll":
            self._poll_until_idle(what, deadline)

    def _write(self, text: str, what: str) -> None:
        import serial

        try:
            self._serial.write(text.encode("ascii"))
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise TurntableError(f"turntable {what}: write to {self.port} failed: {exc}") from None

    def _command(self, text: str, what: str, deadline: float) -> None:
        self._serial.reset_input_buffer()
        self._pending = b""
        self._write(text, what)
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise TurntableTimeout(
                    f"turntable {what}: no done line from {self.port} within {self.timeout_s:g} s (turntable.serial.timeout_s; check power, cable and baud rate)"
                )
            if self._error.search(line):
                raise TurntableError(f"turntable {what}: controller answered {line!r}")
            if self._done.search(line):
                return
            log.debug("turntable %s: ignoring line %r", self.port, line)

    def _poll_until_idle(self, what: str, deadline: float) -> None:
        """Ask for the status until the controller says it stands still (GRBL: `<Idle|...>`)."""
        while True:
            self._write(self.poll_command, what)
            answer_by = min(deadline, time.monotonic() + max(0.5, 5 * self.poll_interval_s))
            while (line := self._read_line(answer_by)) is not None:
                if self._error.search(line):
                    raise TurntableError(f"turntable {what}: controller answered {line!r}")
                if self._idle.search(line):
                    return
                if line.startswith("<") or not self._done.search(line):
                    break  # a status that is not idle (<Run|...>): ask again
            if time.monotonic() >= deadline:
                raise TurntableTimeout(
                    f"turntable {what}: {self.port} did not report idle within {self.timeout_s:g} s (turntable.serial.timeout_s)"
                )
            time.sleep(self.poll_interval_s)

    def _read_line(self, deadline: float) -> str | None:
        """Next non-empty answer (ended by reply_terminator; \\r and blanks stripped), or None
        at the deadline."""
        import serial

        while time.monotonic() < deadline:
            if self._eol in self._pending:
                raw, self._pending = self._pending.split(self._eol, 1)
                line = raw.decode("ascii", "replace").strip()
                if line:
                    return line
                continue
            try:
                chunk = self._serial.read(self._serial.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                raise TurntableError(f"turntable: read from {self.port} failed: {exc}") from None
            self._pending += chunk
        return None
