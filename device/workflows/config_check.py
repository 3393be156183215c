"""`cutbox config check`: beyond the schema, resolve every file, device and model a config names.

The schema (device/config.py) catches wrong keys, types, ranges, templates and regexes; this
checks what only the machine can answer: is the model file there and does its card sit beside
it, is the Edge TPU model really compiled when `delegate = "edgetpu"` asks for one, can the
password, token and TLS files be read, does a hot folder have a folder. Problems stop the
installer; warnings (a device that is not plugged in yet) are printed and do not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from device.config import CutboxConfig


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    root: Path | None = None

    def on_disk(self, path: Path) -> Path:
        """Where an absolute path of the config lies when checking a system under `root`."""
        if self.root is None or not path.is_absolute() or path.is_relative_to(self.root):
            return path
        return self.root / path.relative_to("/")

    def problem(self, key: str, what: str) -> None:
        self.problems.append(f"{key}: {what}")

    def warning(self, key: str, what: str) -> None:
        self.warnings.append(f"{key}: {what}")


def check_resources(cfg: CutboxConfig, root: Path | None = None) -> Findings:
    """Every file and device the config names, resolved on this machine, or inside `root`
    (a system image or SD card being prepared: absolute paths are looked up under it)."""
    found = Findings(root=root)
    _check_models(cfg, found)
    _check_source(cfg, found)
    _check_secrets(cfg, found)
    _check_devices(cfg, found)
    for name, preset in cfg.compose.presets.items():
        if preset.background == "image" and preset.image is not None:
            _readable(found, f"compose.presets.{name}.image", preset.image, "the background picture")
    return found


def _readable(found: Findings, key: str, shown: Path, what: str) -> bool:
    path = found.on_disk(shown)
    if not path.exists():
        found.problem(key, f"{shown} does not exist (fix the path, or put {what} there)")
        return False
    if not path.is_file():
        found.problem(key, f"{shown} is not a file")
        return False
    if not os.access(path, os.R_OK):
        found.problem(key, f"{shown} is not readable by this user (fix its owner or mode)")
        return False
    return True


def _check_model(found: Findings, key: str, path: Path) -> None:
    if _readable(found, key, path, "the .tflite model") and not found.on_disk(path).with_suffix(".json").is_file():
        found.problem(
            key, f"no model card {path.with_suffix('.json').name} beside {path.name} (copy it with the model)"
        )


def _check_edgetpu_model(found: Findings, key: str, path: Path | None, required: bool, model: Path) -> None:
    from device.segment.edgetpu import is_compiled_for_edgetpu

    if path is None:
        if required:
            found.problem(
                key,
                'segment.delegate = "edgetpu" needs a model compiled for the Edge TPU '
                "(python -m tools.compile_edgetpu, docs/coral.md); without one it would run on the CPU",
            )
        return
    if not _readable(found, key, path, "the *_edgetpu.tflite"):
        return
    if not is_compiled_for_edgetpu(found.on_disk(path)):
        found.problem(key, f"{path.name} is not compiled for the Edge TPU (no edgetpu-custom-op): run edgetpu_compiler")
        return
    _check_recorded_twin(found, key, path, model)


def _check_recorded_twin(found: Findings, key: str, path: Path, model: Path) -> None:
    """The compiled file is the one the CPU model's card records (when it records one)."""
    import hashlib

    from device.segment.base import ModelError
    from device.segment.card import ModelCard

    try:
        recorded = ModelCard.load(found.on_disk(model)).edgetpu_sha256
    except ModelError:
        return  # the model's own check names a missing or broken card
    if recorded is not None and hashlib.sha256(found.on_disk(path).read_bytes()).hexdigest() != recorded:
        found.problem(
            key,
            f"{path.name} is not the compiled model {model.name}'s card records (sha256 {recorded[:12]}...): "
            "compiled from another version; compile again (python -m tools.compile_edgetpu --write-card)",
        )


def _check_models(cfg: CutboxConfig, found: Findings) -> None:
    seg = cfg.segment
    _check_model(found, "segment.model", seg.model)
    if seg.delegate != "cpu":
        _check_edgetpu_model(found, "segment.edgetpu_model", seg.edgetpu_model, seg.delegate == "edgetpu", seg.model)
    if cfg.booth.enabled:
        _check_model(found, "booth.model", cfg.booth.model)
        if seg.delegate != "cpu" and cfg.booth.edgetpu_model is not None:
            _check_edgetpu_model(found, "booth.edgetpu_model", cfg.booth.edgetpu_model, False, cfg.booth.model)


def _check_source(cfg: CutboxConfig, found: Findings) -> None:
    src = cfg.source
    if src.kind == "hotfolder":
        if src.path is None:
            found.problem(
                "source.path", 'source.kind = "hotfolder" needs the folder to watch (path = "/var/lib/cutbox/hot")'
            )
        elif not found.on_disk(src.path).is_dir():
            found.problem("source.path", f"{src.path} is not a folder (create it, writable by the camera's uploader)")
    elif src.kind == "files" and src.path is not None and not any(c in str(src.path) for c in "*?["):
        if not found.on_disk(src.path).exists():
            found.problem("source.path", f"{src.path} does not exist")
    if src.processed_dir is not None and not found.on_disk(src.processed_dir).parent.is_dir():
        found.problem("source.processed_dir", f"{src.processed_dir.parent} does not exist")
    if src.kind == "uvc" and isinstance(src.uvc.device, str) and src.uvc.device.startswith("/dev/"):
        if not found.on_disk(Path(src.uvc.device)).exists():
            found.warning("source.uvc.device", f"{src.uvc.device} is not there now (camera unplugged?)")


def _check_secrets(cfg: CutboxConfig, found: Findings) -> None:
    mqtt, api = cfg.mqtt, cfg.api
    if mqtt.password_file is not None:
        _readable(found, "mqtt.password_file", mqtt.password_file, "the MQTT password")
    if mqtt.tls.enabled:
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(mqtt.tls, name)
            if path is not None:
                _readable(found, f"mqtt.tls.{name}", path, "the TLS file")
        if (mqtt.tls.cert_file is None) != (mqtt.tls.key_file is None):
            found.problem("mqtt.tls", "cert_file and key_file go together (mutual TLS): set both or neither")
    if api.token_file is not None and _readable(found, "api.token_file", api.token_file, "the API token"):
        if len(found.on_disk(api.token_file).read_text(encoding="utf-8", errors="replace").strip()) < 16:
            found.problem("api.token_file", f"the token in {api.token_file} is shorter than 16 characters")


def _check_devices(cfg: CutboxConfig, found: Findings) -> None:
    table = cfg.turntable
    port = found.on_disk(Path(table.serial.port))
    if table.driver == "serial" and "://" not in table.serial.port and not port.exists():
        found.warning("turntable.serial.port", f"{table.serial.port} is not there now (turntable unplugged?)")
    scanner = getattr(cfg, "scanner", None)
    if scanner is not None and getattr(scanner, "enabled", False) and not found.on_disk(Path(scanner.device)).exists():
        found.warning("scanner.device", f"{scanner.device} is not there now (scanner unplugged?)")
