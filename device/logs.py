"""Log levels from `[logging]`: one default and per-module levels by logger name (every module
logs through `logging.getLogger(__name__)`, so a name is its module path, e.g. `device.comms`)."""

from __future__ import annotations

import logging

from device.config import LoggingConfig


def apply_logging(cfg: LoggingConfig, verbose: int = 0, base: int = logging.WARNING) -> None:
    """Set the levels. Without `default` the command's own `base` applies (info for `cutbox
    serve`); `-v`/`-vv` make the default more verbose, never less."""
    default = getattr(logging, cfg.default.upper()) if cfg.default else base
    if verbose:
        default = min(default, logging.WARNING - 10 * min(verbose, 2))
    logging.getLogger().setLevel(default)
    for name, level in cfg.modules.items():
        logging.getLogger(name).setLevel(getattr(logging, level.upper()))
