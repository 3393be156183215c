"""Turntables for spin sets: one interface (`Turntable`), three drivers, chosen by `[turntable]`."""

from __future__ import annotations

from device.turntable.base import Turntable, TurntableError, wrap
from device.turntable.simulated import SimulatedTurntable

__all__ = ["Turntable", "TurntableError", "SimulatedTurntable", "open_turntable", "wrap"]


def open_turntable(config) -> Turntable:
    """The driver `config.driver` names (a `TurntableConfig`), opened and ready to rotate."""
    if config.driver == "simulated":
        return SimulatedTurntable(config.simulated.speed_deg_s)
    if config.driver == "serial":
        from device.turntable.serial import SerialTurntable

        return SerialTurntable(**config.serial.model_dump())
    if config.driver == "gpio":
        from device.turntable.gpio import GpioTurntable

        return GpioTurntable(**config.gpio.model_dump())
    raise TurntableError(f"turntable.driver: unknown driver {config.driver!r} (use simulated, serial or gpio)")
