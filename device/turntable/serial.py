"""A turntable controller that speaks a line protocol over a serial port.

Most turntable controllers (an Arduino with a stepper shield, commercial photo turntables
with a USB port) take one text command per move and print one line when the move is over.
The command templates and the answer patterns are configuration (`[turntable.serial]`), so a
new controller needs a config edit, not code. Lines that match neither pattern (boot
banners, debug prints) are logged and skipped.
"""

from __future__ import annotations

import logging
import re
import time

from device.turntable.base import TurntableError, wrap

log = logging.getLogger("cutbox.turntable")


class TurntableTimeout(TurntableError):
    """The controller did not say done in time (unplugged, stalled motor, wrong baud rate)."""


class SerialTurntable:
    """rotate() sends `rotate_command.format(deg=...)` and blocks until a done or error line."""

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
    ):
        try:
            import serial  # pyserial: the `serial` extra
        except ImportError:
            raise TurntableError("pyserial is not installed: pip install 'cutbox[serial]'") from None
        try:
            rotate_command.format(deg=1.0)
        except (KeyError, IndexError, ValueError) as exc:
            raise TurntableError(
                f"turntable.serial.rotate_command {rotate_command!r} is not a valid template ({exc}); use e.g. 'ROT {{deg:.2f}}\\n'"
            ) from None
        try:
            self._done = re.compile(done_pattern)
            self._error = re.compile(error_pattern)
        except re.error as exc:
            raise TurntableError(f"turntable.serial pattern is not a valid regex: {exc}") from None
        self.port = port
        self.rotate_command = rotate_command
        self.home_command = home_command
        self.timeout_s = timeout_s
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

    def rotate(self, degrees: float) -> None:
        if degrees == 0:
            return
        self._command(self.rotate_command.format(deg=float(degrees)), f"rotate {degrees:+.2f}")
        self._angle = wrap(self._angle + degrees)

    def home(self) -> None:
        if self.home_command:
            self._command(self.home_command, "home")
        elif self._angle:
            back = -self._angle if self._angle <= 180 else 360.0 - self._angle
            self._command(self.rotate_command.format(deg=back), "home")
        self._angle = 0.0

    def close(self) -> None:
        self._serial.close()

    def _command(self, text: str, what: str) -> None:
        import serial

        self._serial.reset_input_buffer()
        self._pending = b""
        try:
            self._serial.write(text.encode("ascii"))
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise TurntableError(f"turntable {what}: write to {self.port} failed: {exc}") from None
        deadline = time.monotonic() + self.timeout_s
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

    def _read_line(self, deadline: float) -> str | None:
        """Next non-empty line (\\n or \\r\\n terminated), or None at the deadline."""
        import serial

        while time.monotonic() < deadline:
            if b"\n" in self._pending:
                raw, self._pending = self._pending.split(b"\n", 1)
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
