"""The GPIO stepper driver, run on gpiozero's own mock pin factory (the real gpiozero code, no Pi)."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from device.turntable.gpio import GpioTurntable


def rising_edges(pin) -> int:
    states = [s.state for s in pin.states]
    return sum(1 for a, b in zip(states, states[1:]) if not a and b)


def test_steps_direction_and_exact_return():
    factory = MockFactory()
    table = GpioTurntable(
        step_pin=20, dir_pin=21, enable_pin=16, steps_per_rev=200, microsteps=2, speed_deg_s=3600, pin_factory=factory
    )
    step, direction, enable = factory.pin(20), factory.pin(21), factory.pin(16)
    try:
        assert enable.state is False  # active-low ENABLE pulled low: driver on
        table.rotate(90)  # 200 * 2 / 4 = 100 pulses
        assert rising_edges(step) == 100
        assert direction.state is True
        # 7 moves of 360/7 degrees: not whole steps each, but the sum lands exactly on a turn
        for _ in range(7):
            table.rotate(360 / 7)
        assert table.position_steps == 100 + 400
        assert table.angle == pytest.approx(90)
        table.rotate(-45)
        assert direction.state is False
        table.home()
        assert table.angle == 0
    finally:
        table.close()


def test_invert_dir_flips_the_pin():
    factory = MockFactory()
    table = GpioTurntable(step_pin=5, dir_pin=6, invert_dir=True, speed_deg_s=720, pin_factory=factory)
    table.rotate(1)
    assert factory.pin(6).state is False
    table.close()


def test_a_ramp_starts_slow_reaches_full_speed_and_brakes():
    factory = MockFactory()
    table = GpioTurntable(
        steps_per_rev=200,
        microsteps=1,
        speed_deg_s=90,
        accel_deg_s2=900,
        start_speed_deg_s=9,
        pin_factory=factory,
    )
    try:
        halves = table.half_periods(100)  # 180 degrees
        per_step = 360 / 200
        speeds = [0.5 * per_step / h for h in halves]
        assert speeds[0] == pytest.approx(9) and speeds[-1] == pytest.approx(9)  # first and last step slow
        assert max(speeds) == pytest.approx(90) and speeds[50] == pytest.approx(90)
        assert all(b >= a - 1e-9 for a, b in zip(speeds[:50], speeds[1:51]))  # never faster then slower going up
        assert speeds == pytest.approx(speeds[::-1])  # braking mirrors the start
        # a short move never reaches full speed: a triangle, still slow at both ends
        short = [0.5 * per_step / h for h in table.half_periods(6)]
        assert max(short) < 90 and short[0] == pytest.approx(9)
        table.rotate(180)
        assert rising_edges(factory.pin(20)) == 100
    finally:
        table.close()


class HomeMark:
    """A magnet on the plate and a hall sensor on the frame: the plate's true position in
    steps follows the STEP and DIR pins, and the sensor pin (active low) reads low while
    that position is within the mark."""

    def __init__(self, factory, home_pin: int, mark_at: int, width: int = 3):
        from gpiozero.pins.mock import MockPin

        mark = self
        self.position = 0
        self.mark_at, self.width = mark_at, width

        class StepPin(MockPin):
            def _set_state(self, value):
                rising = value and not self._state
                super()._set_state(value)
                if rising:
                    mark.position += 1 if factory.pin(21).state else -1

        class SensorPin(MockPin):
            def _get_state(self):
                return not mark.on

        factory.pin(20, pin_class=StepPin)
        factory.pin(21)
        factory.pin(home_pin, pin_class=SensorPin)

    @property
    def on(self) -> bool:
        return (self.position - self.mark_at) % 200 < self.width


def test_home_sensor_finds_the_mark_at_open_and_on_home():
    factory = MockFactory()
    mark = HomeMark(factory, home_pin=17, mark_at=150)  # the plate powered up 50 steps past the mark
    table = GpioTurntable(
        steps_per_rev=200, microsteps=1, speed_deg_s=3600, home_pin=17, home_speed_deg_s=3600, pin_factory=factory
    )
    try:
        # opening found the mark turning backwards: 0 -> -50 == 150 (mod 200), the mark's first step
        assert mark.position % 200 == 152  # reached from above: the mark's upper edge
        assert table.angle == 0 and table.position_steps == 0
        table.rotate(90)
        assert mark.position % 200 == (152 + 50) % 200
        table.home()
        assert mark.position % 200 == 152 and table.angle == 0
    finally:
        table.close()


def test_home_starting_on_the_mark_leaves_it_and_comes_back_to_the_same_edge():
    factory = MockFactory()
    mark = HomeMark(factory, home_pin=17, mark_at=199, width=3)  # on the mark at 0
    table = GpioTurntable(
        steps_per_rev=200, microsteps=1, speed_deg_s=3600, home_pin=17, home_speed_deg_s=3600, pin_factory=factory
    )
    try:
        assert mark.position % 200 == 1  # the same upper edge as when it comes from above
    finally:
        table.close()


def test_a_home_sensor_that_never_triggers_is_an_error_not_a_spin_for_ever():
    factory = MockFactory()
    factory.pin(17).drive_high()  # active low, never low
    with pytest.raises(Exception, match="did not see the mark within a full turn"):
        GpioTurntable(
            steps_per_rev=200, microsteps=1, speed_deg_s=3600, home_pin=17, home_speed_deg_s=3600, pin_factory=factory
        )
