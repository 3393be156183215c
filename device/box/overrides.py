"""Settings changed on the page, the API or MQTT survive a restart: they are kept as an
override file beside the config file, applied over it at start-up.

The file holds only what differs from the config file (plus environment and command-line
overrides) as started, so an edit of the config file still takes effect for every key
the page never touched. It is written atomically (a temporary file, fsync, rename, fsync of
the folder): a power cut leaves the old or the new file, never half of one. Where the
config's folder is read-only (the systemd unit protects /etc), the file goes to the data
folder instead; `path` says which. An override file that no longer validates against the
config file (a preset it names was removed) is set aside with a warning, not fatal.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from device.config import ConfigError, CutboxConfig, validate

log = logging.getLogger(__name__)
SUFFIX = ".overrides.json"


def diff(new: Any, base: Any) -> Any:
    """The part of `new` that differs from `base` (dicts compared key by key)."""
    if isinstance(new, dict) and isinstance(base, dict):
        out = {}
        for key, value in new.items():
            if key not in base:
                out[key] = value
            elif value != base[key]:
                out[key] = diff(value, base[key])
        return out
    return new


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # a token changed on the page would be in it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


class SettingsOverrides:
    """The override file of one config file; `base` is the config as loaded without it."""

    def __init__(self, config_file: Path, base: CutboxConfig):
        self.base = base
        beside = config_file.with_name(config_file.stem + SUFFIX)
        self.path = beside if _writable(config_file.parent) else Path(base.station.data_dir) / beside.name
        self.error: str | None = None

    def apply(self) -> CutboxConfig:
        """The base config with the saved overrides on top (the base alone if they no longer fit)."""
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self.base
        except (OSError, ValueError) as exc:
            self.error = f"{self.path}: unreadable ({exc}); started without the saved settings"
            log.warning("settings: %s", self.error)
            return self.base
        try:
            config = validate(merge(self.base.model_dump(mode="json"), saved), str(self.path))
        except ConfigError as exc:
            aside = self.path.with_name(self.path.name + ".rejected")
            os.replace(self.path, aside)
            self.error = f"saved settings no longer fit the config file ({exc}); moved to {aside}"
            log.warning("settings: %s", self.error)
            return self.base
        log.info("settings: applied the saved changes from %s", self.path)
        return config

    def save(self, config: CutboxConfig) -> None:
        changes = diff(config.model_dump(mode="json"), self.base.model_dump(mode="json"))
        write_atomically(self.path, json.dumps(changes, indent=2, sort_keys=True) + "\n")
