"""The one turntable interface, so a spin set never cares which motor turns the product."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from device.errors import Unavailable


class TurntableError(Unavailable):
    """The turntable refused, failed or did not answer; the message is one line for the operator."""


@runtime_checkable
class Turntable(Protocol):
    """A rotating plate.

    `rotate(degrees)` turns by a signed relative angle and returns only when the move is
    over; `home()` returns to the zero mark; `angle` is where the driver believes the
    plate is, in [0, 360).
    """

    @property
    def angle(self) -> float: ...

    def rotate(self, degrees: float) -> None: ...

    def home(self) -> None: ...

    def close(self) -> None: ...


def wrap(angle: float) -> float:
    """An angle folded into [0, 360), with float dust near 360 folded to 0."""
    a = angle % 360.0
    return 0.0 if abs(a - 360.0) < 1e-9 else round(a, 6)
