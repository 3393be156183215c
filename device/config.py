"""All of cutbox's configuration, validated in one place.

Every section is a pydantic model that forbids unknown keys, so a typo in `cutbox.toml`
fails at start-up with the key's dotted path and a hint, never silently. The documented default file
is `firmware_config/cutbox.toml` (the code defaults equal it); environment variables
`CUTBOX__SECTION__KEY=value` override single keys (e.g. `CUTBOX__SEGMENT__THREADS=2`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "CUTBOX__"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "firmware_config" / "cutbox.toml"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---- station -------------------------------------------------------------------------------
class StationConfig(Section):
    id: str = Field("booth-1", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Station id; MQTT topic root is cutbox/<id>/")
    data_dir: Path = Field(Path("cutbox-data"), description="Where captures, the outbox and plates are kept")


# ---- source --------------------------------------------------------------------------------
class SourceConfig(Section):
    """Where frames come from: files/folders/globs, a hot folder, a UVC camera or picamera2."""

    kind: Literal["files", "hotfolder", "uvc", "picamera2"] = Field("files", description="Which frame source to open")
    path: Path | None = Field(None, description="files: a file, folder or glob; hotfolder: the folder to watch")
    patterns: list[str] = Field(
        ["*.jpg", "*.jpeg", "*.png", "*.tif", "*.tiff", "*.webp", "*.bmp"],
        min_length=1,
        description="File name patterns taken from folders and the hot folder (case-insensitive)",
    )
    recursive: bool = Field(False, description="files: also walk sub-folders")
    max_pixels: int = Field(60_000_000, ge=1, description="Decompression-bomb limit, checked on the header before decoding")
    poll_interval_s: float = Field(0.25, gt=0, le=60, description="hotfolder: seconds between directory scans")
    stable_polls: int = Field(2, ge=1, le=100, description="hotfolder: polls a file's size and mtime must stay unchanged before it is read")
    processed_dir: Path | None = Field(None, description="hotfolder: move taken files here (None: leave them, take each only once)")
    uvc_device: int | str = Field(0, description="uvc: /dev/videoN index, or a device path / OpenCV URL")
    uvc_width: int = Field(2304, ge=16, le=16384, description="uvc: requested frame width")
    uvc_height: int = Field(1296, ge=16, le=16384, description="uvc: requested frame height")
    uvc_fourcc: str = Field("MJPG", pattern=r"^.{4}$", description="uvc: pixel format (MJPG gives full resolution over USB 2)")
    uvc_fps: float = Field(30.0, gt=0, le=240, description="uvc: requested frame rate")
    picamera2_main: tuple[int, int] = Field((2304, 1296), description="picamera2: main stream (output) size [width, height]")
    picamera2_lores: tuple[int, int] = Field((256, 256), description="picamera2: lores stream (model input) size; set to the model card's input size")
    picamera2_camera: int = Field(0, ge=0, le=7, description="picamera2: camera number")


# ---- segment -------------------------------------------------------------------------------
class SegmentConfig(Section):
    """The int8 segmentation model and how to run it."""

    model: Path = Field(
        REPO_ROOT / "models" / "cutbox-student-int8.tflite",
        description="The .tflite model; its card (same name, .json) must sit beside it. Relative paths are from the repository root",
    )
    threads: int = Field(1, ge=1, le=16, description="LiteRT CPU threads")
    delegate: Literal["auto", "cpu", "edgetpu"] = Field(
        "auto", description="auto: Edge TPU when libedgetpu and a Coral are present, else CPU; edgetpu: fail without one"
    )
    edgetpu_lib: str = Field("libedgetpu.so.1", description="Edge TPU delegate library name or path")
    edgetpu_model: Path | None = Field(
        None, description="edgetpu_compiler output of the same model, used when the Edge TPU delegate loads (None: the CPU model)"
    )

    @field_validator("model", "edgetpu_model")
    @classmethod
    def _from_repo_root(cls, v: Path | None) -> Path | None:
        """Relative model paths mean the repository's models/, whatever the working directory."""
        return v if v is None or v.is_absolute() else REPO_ROOT / v


# ---- matte / compose / export --------------------------------------------------------------
class MatteConfig(Section):
    pass


class ComposeConfig(Section):
    pass


class ExportConfig(Section):
    pass


# ---- publish (MQTT) -------------------------------------------------------------------------
class MqttConfig(Section):
    enabled: bool = False


# ---- api -----------------------------------------------------------------------------------
class ApiConfig(Section):
    pass


# ---- turntable -----------------------------------------------------------------------------
class TurntableConfig(Section):
    pass


class CutboxConfig(Section):
    station: StationConfig = StationConfig()
    source: SourceConfig = SourceConfig()
    segment: SegmentConfig = SegmentConfig()
    matte: MatteConfig = MatteConfig()
    compose: ComposeConfig = ComposeConfig()
    export: ExportConfig = ExportConfig()
    mqtt: MqttConfig = MqttConfig()
    api: ApiConfig = ApiConfig()
    turntable: TurntableConfig = TurntableConfig()


class ConfigError(ValueError):
    """A configuration problem, with one line per bad key: `key: what is wrong (fix)`."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _hint(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key: remove it or check its spelling against firmware_config/cutbox.toml"
    if kind == "missing":
        return "required: add it"
    msg = err.get("msg", "invalid")
    return f"{msg} (got {err.get('input')!r})"


def _env_overrides(env: dict[str, str]) -> dict[str, Any]:
    """CUTBOX__A__B=v -> {"a": {"b": v}}; values are parsed as TOML scalars when they can be."""
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]
        if not keys:
            continue
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        merged[k] = _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def validate(data: dict[str, Any], source: str = "config") -> CutboxConfig:
    try:
        return CutboxConfig.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {_hint(e)}" for e in exc.errors()]
        raise ConfigError(problems, source) from None


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> CutboxConfig:
    """Load a TOML file (the bundled default when None), apply environment overrides, validate."""
    if path is None and not DEFAULT_CONFIG.exists():
        return validate(_env_overrides(dict(os.environ) if env is None else env), "defaults")
    file = Path(path) if path else DEFAULT_CONFIG
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"file not found: {file} (pass an existing file, or omit it for the default)"], str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(file)) from None
    data = _merge(data, _env_overrides(dict(os.environ) if env is None else env))
    return validate(data, str(file))
