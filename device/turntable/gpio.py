"""A stepper-motor turntable driven straight from the Pi's GPIO (step/dir driver board).

gpiozero is imported only when this driver is built, so x86 development machines never
need it (on the Pi it comes with Raspberry Pi OS, and with the `pi` extra). The position is
kept in whole microsteps, so 24 moves of 15 degrees land exactly where they started even
when one move is not a whole number of steps.
"""

from __future__ import annotations

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
        pin_factory=None,
    ):
        try:
            from gpiozero import DigitalOutputDevice
        except ImportError:
            raise TurntableError(
                "gpiozero is not installed: on the Pi `apt install python3-gpiozero python3-lgpio` (or pip install 'cutbox[pi]')"
            ) from None
        self.steps_per_deg = steps_per_rev * microsteps * gear_ratio / 360.0
        self.speed_deg_s = speed_deg_s
        self.invert_dir = invert_dir
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
        except Exception as exc:  # gpiozero raises its own families (BadPinFactory, GPIOPinInUse...)
            raise TurntableError(
                f"cannot claim GPIO pins step={step_pin} dir={dir_pin} enable={enable_pin}: {exc} (is the user in group gpio? another process using them?)"
            ) from None

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
        """Back to the zero mark by the shortest way (there is no end stop: zero is where it started)."""
        full = round(360.0 * self.steps_per_deg)
        rest = self._position % full
        self._move(-rest if rest <= full // 2 else full - rest)
        self._position = 0
        self._commanded = 0.0

    def close(self) -> None:
        for dev in (self._step, self._dir, self._enable):
            if dev is not None:
                dev.close()

    def _move(self, steps: int) -> None:
        if steps == 0:
            return
        self._dir.value = (steps > 0) != self.invert_dir
        time.sleep(5e-6)  # DIR setup time before the first STEP edge (A4988: 200 ns, TMC2209: 20 ns)
        half = 0.5 / (self.speed_deg_s * self.steps_per_deg)
        t = time.perf_counter()
        for _ in range(abs(steps)):
            self._step.on()
            t += half
            _wait_until(t)
            self._step.off()
            t += half
            _wait_until(t)
        self._position += steps


def _wait_until(t: float) -> None:
    """Sleep most of the way, spin the last fraction of a millisecond (sleep alone jitters ~0.1 ms)."""
    left = t - time.perf_counter()
    if left > 0.002:
        time.sleep(left - 0.001)
    while time.perf_counter() < t:
        pass
