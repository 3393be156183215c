"""Drivers are registered by kind: every kind the config accepts opens a driver, and a kind
nothing registered is a clear error naming the ones that are."""

from __future__ import annotations

import typing

import pytest

from device.config import SegmentConfig, SourceConfig, TurntableConfig
from device.errors import BadRequest
from device.registry import Registry, UnknownKind
from device.segment import SEGMENTERS
from device.sources import SOURCES
from device.turntable import TURNTABLES


def _choices(model, field: str) -> list[str]:
    return sorted(typing.get_args(model.model_fields[field].annotation))


@pytest.mark.parametrize(
    ("registry", "model", "field"),
    [(SOURCES, SourceConfig, "kind"), (TURNTABLES, TurntableConfig, "driver"), (SEGMENTERS, SegmentConfig, "kind")],
)
def test_every_kind_the_config_accepts_has_a_registered_driver(registry, model, field):
    assert registry.kinds == _choices(model, field)


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(UnknownKind, match="source.kind: unknown kind 'scanner' \\(use files, gphoto2, hotfolder"):
        SOURCES.open("scanner", SourceConfig(), None, None)
    assert issubclass(UnknownKind, BadRequest)


def test_a_kind_registered_twice_is_refused():
    reg: Registry[int] = Registry("x.kind")
    reg.register("a")(lambda: 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(lambda: 2)
    assert reg.open("a") == 1


def test_the_simulated_turntable_opens_from_its_section():
    table = TURNTABLES.open("simulated", TurntableConfig(simulated={"speed_deg_s": 7200}))
    try:
        table.rotate(90)
        assert table.angle == pytest.approx(90)
    finally:
        table.close()
