"""Turntables for spin sets: one interface (`Turntable`), drivers registered by `turntable.driver`,
each with its own config section (`[turntable.serial]`, `[turntable.gpio]`, `[turntable.simulated]`)."""

from __future__ import annotations

from device.config import TurntableConfig
from device.registry import Registry
from device.turntable.base import Turntable, TurntableError, wrap
from device.turntable.simulated import SimulatedTurntable

__all__ = ["TURNTABLES", "Turntable", "TurntableError", "SimulatedTurntable", "open_turntable", "wrap"]

TURNTABLES: Registry[Turntable] = Registry("turntable.driver")


def open_turntable(config: TurntableConfig) -> Turntable:
    """The driver `config.driver` names, opened and ready to rotate."""
    return TURNTABLES.open(config.driver, config)


@TURNTABLES.register("simulated")
def _simulated(config: TurntableConfig) -> Turntable:
    return SimulatedTurntable(config.simulated.speed_deg_s)


@TURNTABLES.register("serial")
def _serial(config: TurntableConfig) -> Turntable:
    from device.turntable.serial import SerialTurntable

    return SerialTurntable(**config.serial.model_dump())


@TURNTABLES.register("gpio")
def _gpio(config: TurntableConfig) -> Turntable:
    from device.turntable.gpio import GpioTurntable

    return GpioTurntable(**config.gpio.model_dump())
