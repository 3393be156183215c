"""The [turntable] section: the documented file equals the code defaults, mistakes are named."""

from __future__ import annotations

import pytest

from device.config import ConfigError, CutboxConfig, load_config, validate
from device.turntable import SimulatedTurntable, open_turntable
from device.turntable.base import TurntableError


def test_documented_defaults_equal_the_code():
    assert load_config(env={}).turntable == CutboxConfig().turntable


def test_default_driver_is_the_simulated_one():
    table = open_turntable(CutboxConfig().turntable)
    assert isinstance(table, SimulatedTurntable)
    table.rotate(90)
    assert table.angle == 90


@pytest.mark.parametrize(
    "section, expect",
    [
        ({"driver": "stepper"}, "turntable.driver"),
        ({"gpio": {"microsteps": 3}}, "turntable.gpio.microsteps: Value error, must be a power of two"),
        ({"serial": {"baud_rate": 9600}}, "turntable.serial.baud_rate: unknown key"),
        ({"steps": 0}, "turntable.steps"),
    ],
)
def test_mistakes_name_the_key(section, expect):
    with pytest.raises(ConfigError) as err:
        validate({"turntable": section})
    assert any(p.startswith(expect) for p in err.value.problems), err.value.problems


def test_gpio_driver_without_gpiozero_or_pins_is_one_line():
    """Here there is no GPIO chip: the driver says so instead of a traceback."""
    cfg = validate({"turntable": {"driver": "gpio"}}).turntable
    with pytest.raises(TurntableError, match="cannot claim GPIO pins step=20 dir=21|gpiozero is not installed"):
        open_turntable(cfg)
