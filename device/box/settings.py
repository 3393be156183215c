"""The running box's configuration: presets, a redacted view for the page, and a live reload
that validates a partial config, rebuilds what the change touches and closes what it replaces
(the source, the pipeline, the turntable), naming the sections that need a restart."""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path
from typing import Any

from device.box.camera import Camera
from device.box.overrides import SettingsOverrides
from device.box.parts import LOAD_ERRORS, Parts
from device.box.path_roots import is_file_only, path_problems
from device.config import ConfigConflict, ConfigError, CutboxConfig, validate
from device.errors import BadRequest, Conflict, NotFound, one_line
from device.logs import apply_logging

log = logging.getLogger(__name__)

SECRET_KEYS = {"token", "password"}
REDACTED = "***"
# Config sections a running service can take without a restart (the pipeline is rebuilt),
# and the [api] keys read on every request.
LIVE_SECTIONS = {"source", "segment", "matte", "compose", "export", "booth", "turntable", "logging"}
PIPELINE_SECTIONS = ("segment", "matte", "compose", "export", "booth")
LIVE_API_KEYS = {"review_threshold", "preview_fps", "preview_width", "list_limit"}


def whole_numbers(value: Any) -> Any:
    """JSON's 24.0 is the integer 24 (as JSON schema says); the strict config would refuse it."""
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def redact(value: Any) -> Any:
    """A config dump with secrets replaced, safe to show on a page."""
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRET_KEYS and v is not None else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def merge_patch(base: dict, patch: dict) -> dict:
    """Deep-merge a partial config; a redacted secret in the patch keeps the current value."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        elif key in SECRET_KEYS and value == REDACTED:
            continue
        else:
            out[key] = value
    return out


def resolve_token(config: CutboxConfig) -> str:
    """The API bearer token: `api.token`, else `api.token_file`, else one generated once into
    `<data_dir>/api-token` (mode 600) so a fresh box is never open."""
    api = config.api
    if api.token:
        return api.token
    if api.token_file is not None:
        try:
            token = api.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                [f"api.token_file: cannot read {api.token_file}: {exc.strerror} (fix the path or permissions)"]
            ) from None
        if len(token) < 16:
            raise ConfigError(
                [f"api.token_file: the token in {api.token_file} is shorter than 16 characters (write a longer one)"]
            )
        return token
    path = Path(config.station.data_dir) / "api-token"
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    log.warning("api: no token configured; generated one in %s", path)
    return token


class ConfigManager:
    """Owns the current config; changes go through `set_preset` and `update`, under the work lock."""

    def __init__(self, config: CutboxConfig, lock: threading.RLock, camera: Camera, parts: Parts):
        self.config = config
        self._started = config  # what the running process was started with
        self._lock = lock
        self._camera = camera
        self._parts = parts
        self.overrides: SettingsOverrides | None = None  # set when changes are to outlive a restart
        self.save_error: str | None = None

    def presets(self) -> dict:
        compose = self.config.compose
        return {
            "current": compose.preset,
            "presets": {k: v.model_dump(mode="json") for k, v in compose.presets.items()},
        }

    def check_preset(self, name: str) -> None:
        if name not in self.config.compose.presets:
            known = ", ".join(sorted(self.config.compose.presets))
            raise NotFound(f"no preset {name!r}: choose from {known}")

    def set_preset(self, name: str) -> dict:
        """Make `name` the default preset, for the pipeline too."""
        self.check_preset(name)
        with self._lock:
            self.config = validate(
                merge_patch(self.config.model_dump(mode="json"), {"compose": {"preset": name}}), "preset"
            )
            pipeline = self._parts.loaded
            if pipeline is not None:
                pipeline.set_preset(name)
            self._save()
        return self.presets()

    def view(self) -> dict:
        return redact(self.config.model_dump(mode="json"))

    def update(self, patch: dict) -> dict:
        """Validate a partial config and apply it; sections that need a restart are named.
        `ConfigError` (an `Invalid`, one problem per bad key) when it breaks the config's schema;
        `ConfigConflict` when it fits the schema but not the rest of this box's settings (a rule
        between keys, a path outside the roots); a pipeline that cannot be built from it is a
        `Conflict` too, and the running one stays."""
        if not isinstance(patch, dict):
            raise BadRequest("the body must be a JSON object of sections")
        patch = whole_numbers(patch)
        current = self.config.model_dump(mode="json")
        new = validate(merge_patch(current, patch), "config")  # ConfigError is an Invalid
        problems = path_problems(self.config, new)
        file_only = [p for p in problems if is_file_only(p.partition(":")[0])]
        outside = [p for p in problems if p not in file_only]
        if file_only:
            raise ConfigError(file_only)
        if outside:
            raise ConfigConflict(outside)
        new_dump = new.model_dump(mode="json")
        changed = sorted(k for k in new_dump if new_dump[k] != current.get(k))
        with self._lock:
            if any(s in changed for s in PIPELINE_SECTIONS):
                try:
                    self._parts.replace_pipeline(new)
                except LOAD_ERRORS as exc:  # the old pipeline and config stay
                    raise Conflict(f"config rejected by the pipeline: {one_line(exc)}") from None
            self.config = new
            if "source" in changed:
                self._camera.close()
            if "turntable" in changed:
                self._parts.drop_turntable()
            if "logging" in changed:
                apply_logging(new.logging)
            self._save()
        return {
            "config": self.view(),
            "changed": changed,
            "restart_required": _restart_keys(current, new_dump),
            "restart_pending": self.restart_pending(),
            "saved": self.save_error is None and self.overrides is not None,
        }

    def restart_pending(self) -> list[str]:
        """Keys changed since start that only a restart applies (the running box still uses the old value)."""
        return _restart_keys(self._started.model_dump(mode="json"), self.config.model_dump(mode="json"))

    def _save(self) -> None:
        if self.overrides is None:
            return
        try:
            self.overrides.save(self.config)
            self.save_error = None
        except OSError as exc:  # the change is live; it just will not outlive a restart
            self.save_error = f"settings not saved to {self.overrides.path}: {exc.strerror or exc}"
            log.error("%s", self.save_error)


def _restart_keys(before: dict, after: dict) -> list[str]:
    keys = [s for s in sorted(after) if after[s] != before.get(s) and s not in LIVE_SECTIONS and s != "api"]
    keys += [f"api.{k}" for k, v in after["api"].items() if v != before["api"].get(k) and k not in LIVE_API_KEYS]
    return keys
