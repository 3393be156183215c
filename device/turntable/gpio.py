"""A stepper-motor turntable driven straight from the Pi's GPIO (step/dir driver board).

gpiozero is imported only when this driver is built, so x86 development machines never
need it (on the Pi it comes with Raspberry Pi OS, and with the `pi` extra). The position is
kept in whole microsteps, so 24 moves of 15 degrees land exactly where they started even
when one move is not a whole number of steps.

A stepper that starts at full speed under a heavy product skips steps, so each move ramps
from `start_speed_deg_s` up at `accel_deg_s2` and brakes the same way. With a home sensor at
the zero mark, `home()` (and, by default, opening the driver) turns until the sensor sees
the mark, so the zero survives a restart; without one zero is where the table stood when
the driver opened.
"""

from __future__ import annotations

import math
import time

from device.turntable.base import TurntableError, wrap


class GpioTurntable:
    """STEP pulses at `speed_deg_s`, DIR high for positive (counter-clockwise seen from above) angles."""

    def __init__(
        self,
        step_pin: int = 20,
        dir_pin: int = 21,
        enable_pin: int | None = None,
        steps_per_rev: int = 200,
        microsteps: int = 16,
        gear_ratio: float = 1.0,
        speed_deg_s: float = 45.0,
        invert_dir: bool = False,
        accel_deg_s2: float = 0.0,
        start_speed_deg_s: float = 5.0,
        home_pin: int | None = None,
        home_active_low: bool = True,
        home_speed_deg_s: float = 20.0,
        home_on_open: bool = True,
        pin_factory=None,
    ):
        try:
            from gpiozero import DigitalInputDevice, DigitalOutputDevice
        except ImportError:
            raise TurntableError(
                "gpiozero is not installed: on the Pi `apt install python3-gpiozero python3-lgpio` (or pip install 'cutbox[pi]')"
            ) from None
        self.steps_per_deg = steps_per_rev * microsteps * gear_ratio / 360.0
        self.speed_deg_s = speed_deg_s
        self.invert_dir = invert_dir
        self.accel_deg_s2 = accel_deg_s2
        self.start_speed_deg_s = min(start_speed_deg_s, speed_deg_s)
        self.home_speed_deg_s = home_speed_deg_s
        self._home = None
        self._position = 0  # microsteps from the zero mark, signed, never wrapped
        self._commanded = 0.0  # sum of requested degrees: steps are rounded from it, so errors never add up
        try:
            self._step = DigitalOutputDevice(step_pin, initial_value=False, pin_factory=pin_factory)
            self._dir = DigitalOutputDevice(dir_pin, initial_value=False, pin_factory=pin_factory)
            self._enable = (
                DigitalOutputDevice(enable_pin, active_high=False, initial_value=True, pin_factory=pin_factory)
                if enable_pin is not None
                else None
            )
            if home_pin is not None:
                self._home = DigitalInputDevice(
                    home_pin, pull_up=home_active_low, active_state=None, pin_factory=pin_factory
                )
        except Exception as exc:  # gpiozero raises its own families (BadPinFactory, GPIOPinInUse...)
            raise TurntableError(
                f"cannot claim GPIO pins step={step_pin} dir={dir_pin} enable={enable_pin} home={home_pin}: {exc} (is the user in group gpio? another process using them?)"
            ) from None
        if self._home is not None and home_on_open:
            self.home()

    @property
    def angle(self) -> float:
        return wrap(self._position / self.steps_per_deg)

    @property
    def position_steps(self) -> int:
        return self._position

    def rotate(self, degrees: float) -> None:
        commanded = self._commanded + degrees
        self._move(round(commanded * self.steps_per_deg) - self._position)
        self._commanded = commanded

    def home(self) -> None:
        """Back to the zero mark: with a home sensor, turn (negative) until it sees the mark;
        without one, by the shortest way to where the driver started."""
        if self._home is not None:
            self._find_mark()
        else:
            full = round(360.0 * self.steps_per_deg)
            rest = self._position % full
            self._move(-rest if rest <= full // 2 else full - rest)
        self._position = 0
        self._commanded = 0.0

    def _at_mark(self) -> bool:
        assert self._home is not None  # only asked when a home sensor is wired
        return bool(self._home.value)

    def _find_mark(self) -> None:
        """Step at home speed until the sensor sees the mark (off it first, if it is on it),
        at most a turn and a bit; a sensor that never answers is an error, not a spin for ever."""
        limit = round(370.0 * self.steps_per_deg)
        half = 0.5 / (self.home_speed_deg_s * self.steps_per_deg)
        if self._at_mark():  # leave the mark forward, then come back onto its edge
            if not self._step_until(+1, lambda: not self._at_mark(), limit, half):
                raise TurntableError("turntable home: the home sensor never clears (stuck sensor or wrong home_pin)")
        if not self._step_until(-1, self._at_mark, limit, half):
            raise TurntableError(
                "turntable home: the home sensor did not see the mark within a full turn (check home_pin, home_active_low and the magnet or flag)"
            )

    def _step_until(self, direction: int, done, limit: int, half: float) -> bool:
        self._dir.value = (direction > 0) != self.invert_dir
        time.sleep(5e-6)
        t = time.perf_counter()
        for _ in range(limit):
            if done():
                return True
            t = self._pulse(t, half)
        return done()

    def close(self) -> None:
        for dev in (self._step, self._dir, self._enable, self._home):
            if dev is not None:
                dev.close()

    def _move(self, steps: int) -> None:
        if steps == 0:
            return
        self._dir.value = (steps > 0) != self.invert_dir
        time.sleep(5e-6)  # DIR setup time before the first STEP edge (A4988: 200 ns, TMC2209: 20 ns)
        t = time.perf_counter()
        for half in self.half_periods(abs(steps)):
            t = self._pulse(t, half)
        self._position += steps

    def _pulse(self, t: float, half: float) -> float:
        self._step.on()
        t += half
        _wait_until(t)
        self._step.off()
        t += half
        _wait_until(t)
        return t

    def half_periods(self, n: int) -> list[float]:
        """Half the STEP period for each of n steps: a trapezoid (or a triangle for a short
        move) from start_speed_deg_s up at accel_deg_s2 to speed_deg_s and down again."""
        per_step = 1.0 / self.steps_per_deg
        if self.accel_deg_s2 <= 0:
            return [0.5 * per_step / self.speed_deg_s] * n
        v0, a, vmax = self.start_speed_deg_s, self.accel_deg_s2, self.speed_deg_s
        out = []
        for i in range(n):
            from_near_end = min(i, n - 1 - i) * per_step  # degrees already ramped, or left to brake in
            v = min(vmax, math.sqrt(v0 * v0 + 2.0 * a * from_near_end))
            out.append(0.5 * per_step / v)
        return out


def _wait_until(t: float) -> None:
    """Sleep most of the way, spin the last fraction of a millisecond (sleep alone jitters ~0.1 ms)."""
    left = t - time.perf_counter()
    if left > 0.002:
        time.sleep(left - 0.001)
    while time.perf_counter() < t:
        pass
