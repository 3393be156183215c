"""Look up a layout preset by name, with the choices in the error when the name is wrong."""

from __future__ import annotations

from device.config import ComposeConfig, PresetConfig


def get(cfg: ComposeConfig, name: str | None = None) -> PresetConfig:
    """The preset called `name` (the configured default when None)."""
    key = cfg.preset if name is None else name
    try:
        return cfg.presets[key]
    except KeyError:
        raise ValueError(f"unknown preset {key!r}: choose from {', '.join(sorted(cfg.presets))}") from None
