"""Drivers registered by `kind`: each role (frame sources, turntables, segmenters) has one
`Registry`, and each driver registers a small factory under the `kind` its config section
names. The factory imports the driver's module when it is called, so a box without picamera2,
pyserial or an Edge TPU never imports them, and adding a driver is one registered function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from device.errors import BadRequest

T = TypeVar("T")


class UnknownKind(BadRequest):
    """A config names a driver kind nothing registered."""


class Registry(Generic[T]):
    def __init__(self, key: str):
        self.key = key  # the config key that names the kind, for error messages
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, kind: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def add(factory: Callable[..., T]) -> Callable[..., T]:
            if kind in self._factories:
                raise ValueError(f"{self.key} {kind!r} is registered twice")
            self._factories[kind] = factory
            return factory

        return add

    @property
    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def open(self, kind: str, *args: Any, **kwargs: Any) -> T:
        """Build the driver `kind` names (its factory's own errors propagate)."""
        factory = self._factories.get(kind)
        if factory is None:
            raise UnknownKind(f"{self.key}: unknown kind {kind!r} (use {', '.join(self.kinds)})")
        return factory(*args, **kwargs)
