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
