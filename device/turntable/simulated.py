"""A turntable with no hardware: for development, demos and tests of spin sets."""

from __future__ import annotations

import time

from device.turntable.base import TurntableError, wrap


class SimulatedTurntable:
    """Keeps the angle and takes as long as a real plate at `speed_deg_s` would."""

    def __init__(self, speed_deg_s: float = 3600.0):
        if speed_deg_s <= 0:
            raise TurntableError(f"speed_deg_s must be > 0 (got {speed_deg_s})")
        self.speed_deg_s = speed_deg_s
        self._angle = 0.0
        self.moves: list[float] = []  # every relative move, for the operator page and tests
        self._closed = False

    @property
    def angle(self) -> float:
        return self._angle

    def rotate(self, degrees: float) -> None:
        if self._closed:
            raise TurntableError("simulated turntable is closed")
        time.sleep(abs(degrees) / self.speed_deg_s)
        self.moves.append(float(degrees))
        self._angle = wrap(self._angle + degrees)

    def home(self) -> None:
        back = -self._angle if self._angle <= 180 else 360.0 - self._angle
        if back:
            self.rotate(back)
        self._angle = 0.0

    def close(self) -> None:
        self._closed = True
