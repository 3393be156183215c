"""All of cutbox's configuration, validated in one place.

Every section is a pydantic model that forbids unknown keys, so a typo in `cutbox.toml`
fails at start-up with the key's dotted path and a hint, never silently. The documented default file
is `firmware_config/cutbox.toml` (the code defaults equal it); environment variables
`CUTBOX__SECTION__KEY=value` override single keys (e.g. `CUTBOX__SEGMENT__THREADS=2`).

Which file a command reads without `--config` is one rule, `config_file()`: `$CUTBOX_CONFIG`,
else the installed box's `/etc/cutbox/cutbox.toml` (the file the systemd unit names), else
the documented default. So a hand-run `cutbox calibrate` on a box finds the same
`station.data_dir` as the service: the unit names the file and overrides none of its keys.
"""

from __future__ import annotations

import json
import os
import re
import string
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from device.errors import Conflict, Invalid
from device.limits import MAX_OUTPUT_SIDE, MAX_SPIN_STEPS

ENV_PREFIX = "CUTBOX__"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "firmware_config" / "cutbox.toml"
INSTALLED_CONFIG = Path("/etc/cutbox/cutbox.toml")
CONFIG_ENV = "CUTBOX_CONFIG"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---- station -------------------------------------------------------------------------------
class StationConfig(Section):
    id: str = Field(
        "booth-1", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Station id; MQTT topic root is cutbox/<id>/"
    )
    data_dir: Path = Field(Path("cutbox-data"), description="Where captures, the outbox and plates are kept")
    path_roots: list[Path] = Field(
        default_factory=list,
        description="Folders besides data_dir that a settings change (page, API, MQTT) may point "
        "source.path, source.processed_dir or a preset image at; only the config file can set this",
    )


# ---- camera controls ---------------------------------------------------------------------------
class CameraConfig(Section):
    """picamera2 exposure, white balance and focus, so every shot of a booth looks alike."""

    mode: Literal["video", "still"] = Field(
        "video",
        description="video: a stream at video rate (fast live view); still: picamera2's still configuration "
        "(high-quality noise reduction, long exposures allowed, slower live view)",
    )
    exposure: Literal["auto", "lock", "fixed"] = Field(
        "auto",
        description="auto: AE/AWB run freely; lock: fixed at what they chose after settle_s; fixed: exposure_us and analogue_gain",
    )
    settle_s: float = Field(2.0, ge=0, le=30, description="lock: how long AE/AWB run before their values are fixed")
    exposure_us: int | None = Field(None, ge=1, le=10_000_000, description="fixed: exposure time in microseconds")
    analogue_gain: float | None = Field(None, ge=1.0, le=64.0, description="fixed: sensor analogue gain")
    colour_gains: tuple[float, float] | None = Field(
        None, description="[red, blue] white-balance gains; set: AWB off with these (any exposure mode)"
    )
    af_mode: Literal["default", "manual", "auto", "continuous"] = Field(
        "default", description="Camera Module 3 focus: manual (lens_position), auto (one sweep), continuous"
    )
    lens_position: float | None = Field(
        None, ge=0.0, le=32.0, description="manual focus in dioptres (1 / distance in m; 0 = infinity, 2 = 50 cm)"
    )

    @model_validator(mode="after")
    def _complete(self) -> CameraConfig:
        if self.exposure == "fixed" and (self.exposure_us is None or self.analogue_gain is None):
            raise ValueError('exposure = "fixed" needs exposure_us and analogue_gain')
        if self.af_mode == "manual" and self.lens_position is None:
            raise ValueError('af_mode = "manual" needs lens_position (dioptres)')
        if self.colour_gains is not None and not all(0 < g <= 32 for g in self.colour_gains):
            raise ValueError("colour_gains are two gains in (0, 32]")
        return self


# ---- source --------------------------------------------------------------------------------
class UvcSourceConfig(Section):
    """`[source.uvc]`: a USB (UVC) camera through OpenCV."""

    device: int | str = Field(0, description="/dev/videoN index, or a device path / OpenCV URL")
    width: int = Field(2304, ge=16, le=16384, description="Requested frame width")
    height: int = Field(1296, ge=16, le=16384, description="Requested frame height")
    fourcc: str = Field("MJPG", pattern=r"^.{4}$", description="Pixel format (MJPG gives full resolution over USB 2)")
    fps: float = Field(30.0, gt=0, le=240, description="Requested frame rate")


class Picamera2SourceConfig(Section):
    """`[source.picamera2]`: a Raspberry Pi camera, main stream for the output, lores for the model."""

    main: tuple[int, int] = Field((2304, 1296), description="Main stream (output) size [width, height]")
    lores: tuple[int, int] = Field(
        (256, 256), description="Lores stream (model input) size; set to the model card's input size"
    )
    camera: int = Field(0, ge=0, le=7, description="Camera number")


class Gphoto2SourceConfig(Section):
    """`[source.gphoto2]`: a tethered DSLR or mirrorless camera through gphoto2."""

    camera: str | None = Field(
        None, description="Camera model as `gphoto2 --auto-detect` lists it (None: the first camera found)"
    )
    port: str | None = Field(None, description="Port such as 'usb:001,005' (None: auto-detect)")
    folder: Path | None = Field(None, description="Where each shot is downloaded (None: <station.data_dir>/tethered)")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Longest wait for one shutter release and download")
    busy_retries: int = Field(
        3, ge=0, le=20, description="Tries again when the camera says busy (-110, PTP Device Busy)"
    )
    capture_target: Literal["keep", "ram", "card"] = Field(
        "keep", description="Where the camera stores the shot (ram: nothing on the card; keep: as set on the camera)"
    )
    keep_files: int = Field(200, ge=0, le=100_000, description="Newest shots kept in the folder (0: deleted once read)")
    autofocus: Literal["camera", "each-shot"] = Field(
        "camera",
        description="camera: focus as the camera is set; each-shot: drive autofocus (autofocusdrive=1) before each shot",
    )
    set_config: dict[str, str] = Field(
        default_factory=dict,
        description="gphoto2 config values set once when the session opens, as `gphoto2 --get-config` names them "
        '(e.g. { focusmode = "Manual", iso = "100" })',
    )

    @field_validator("set_config")
    @classmethod
    def _one_line_each(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not re.fullmatch(r"[A-Za-z0-9_./-]{1,64}", key):
                raise ValueError(f"{key!r} is not a gphoto2 config name (letters, digits, _ . / -)")
            if "\n" in value or "\r" in value or len(value) > 200:
                raise ValueError(f"{key}: the value must be one line of at most 200 characters")
        return v


DRIVER_SECTIONS = ("uvc", "picamera2", "gphoto2")


class SourceConfig(Section):
    """Where frames come from: files/folders/globs, a hot folder, a UVC camera, picamera2 or a tethered DSLR (gphoto2)."""

    kind: Literal["files", "hotfolder", "uvc", "picamera2", "gphoto2"] = Field(
        "files", description="Which frame source to open"
    )
    path: Path | None = Field(None, description="files: a file, folder or glob; hotfolder: the folder to watch")
    patterns: list[str] = Field(
        ["*.jpg", "*.jpeg", "*.png", "*.tif", "*.tiff", "*.webp", "*.bmp"],
        min_length=1,
        description="File name patterns taken from folders and the hot folder (case-insensitive)",
    )
    recursive: bool = Field(False, description="files: also walk sub-folders")
    max_pixels: int = Field(
        60_000_000, ge=1, description="Decompression-bomb limit, checked on the header before decoding"
    )
    poll_interval_s: float = Field(0.25, gt=0, le=60, description="hotfolder: seconds between directory scans")
    stable_polls: int = Field(
        2, ge=1, le=100, description="hotfolder: polls a file's size and mtime must stay unchanged before it is read"
    )
    processed_dir: Path | None = Field(
        None, description="hotfolder: move taken files here (None: leave them, take each only once)"
    )
    reduced_decode: bool = Field(
        True,
        description="hotfolder: decode a JPEG no larger than the capture's preset needs (false: full size, "
        "so a later re-export in a larger preset has every pixel)",
    )
    retry_min_s: float = Field(
        1.0, gt=0, le=60, description="A lost camera: first wait before the box tries to open it again"
    )
    retry_max_s: float = Field(
        30.0, gt=0, le=600, description="A lost camera: the wait doubles after each failed try up to this"
    )
    camera: CameraConfig = Field(
        default_factory=CameraConfig, description="picamera2: exposure/white-balance lock, fixed values, focus"
    )
    uvc: UvcSourceConfig = UvcSourceConfig()
    picamera2: Picamera2SourceConfig = Picamera2SourceConfig()
    gphoto2: Gphoto2SourceConfig = Gphoto2SourceConfig()


# ---- segment -------------------------------------------------------------------------------
class SegmentConfig(Section):
    """The int8 segmentation model and how to run it."""

    kind: Literal["litert"] = Field("litert", description="Segmenter driver: litert (CPU, or a Coral Edge TPU)")
    model: Path = Field(
        REPO_ROOT / "models" / "cutbox-student-int8.tflite",
        description="The .tflite model; its card (same name, .json) must sit beside it. Relative paths are from the repository root",
    )
    threads: int = Field(1, ge=1, le=16, description="LiteRT CPU threads")
    delegate: Literal["auto", "cpu", "edgetpu"] = Field(
        "auto",
        description="auto: Edge TPU when libedgetpu and a Coral are present, else CPU; edgetpu: fail without one",
    )
    edgetpu_lib: str = Field("libedgetpu.so.1", description="Edge TPU delegate library name or path")
    edgetpu_model: Path | None = Field(
        None,
        description="edgetpu_compiler output of the same model (*_edgetpu.tflite); without one the box runs on the CPU",
    )
    edgetpu_device: str = Field(
        "",
        description='Which Coral libedgetpu opens: "usb", "usb:N", "pci", "pci:N" ("" = the kind that was found)',
    )

    @field_validator("model", "edgetpu_model")
    @classmethod
    def _from_repo_root(cls, v: Path | None) -> Path | None:
        """Relative model paths mean the repository's models/, whatever the working directory."""
        return v if v is None or v.is_absolute() else REPO_ROOT / v

    @field_validator("edgetpu_device")
    @classmethod
    def _libedgetpu_device(cls, v: str) -> str:
        return edgetpu_device_string(v)


def edgetpu_device_string(v: str) -> str:
    """libedgetpu's device names are "", "usb", "usb:N", "pci", "pci:N"; the kernel and Coral's
    documentation say "pcie", which libedgetpu does not know, so that spelling is mapped."""
    s = v.strip().lower()
    if s == "pcie" or s.startswith("pcie:"):
        s = "pci" + s[4:]
    if not re.fullmatch(r"((usb|pci)(:\d{1,2})?)?", s):
        raise ValueError(f'{v!r} is not a libedgetpu device: use "usb", "usb:0", "pci", "pci:0" or "" (the one found)')
    return s


# ---- matte / compose / export --------------------------------------------------------------
class MatteConfig(Section):
    """Low-res mask -> full-res soft alpha + decontaminated colours (device/matte/)."""

    work_px: int = Field(
        160,
        ge=64,
        le=4096,
        description="Long side of the reduced grid the guided filter, cleanup and colour estimate run on (fast guided filter); the result is upsampled to frame pixels",
    )
    radius_cells: float = Field(
        1.0, gt=0, le=8, description="Guided filter radius in model-mask cells (frame px per mask px)"
    )
    eps: float = Field(
        1e-3,
        gt=0,
        le=1,
        description="Guided filter regulariser: larger = smoother alpha, smaller = follows image edges harder",
    )
    sharpen: float = Field(
        1.5,
        ge=1,
        le=4,
        description="Contrast gain about alpha 0.5 after the filter: takes out the blur left from the low-res mask",
    )
    band_px: int = Field(
        10,
        ge=1,
        le=256,
        description="Half-width of the unknown band around the mask edge, in frame pixels; alpha is solid 0/1 outside it",
    )
    decontaminate: bool = Field(
        True,
        description="Estimate the foreground colour in the band so the backdrop does not bleed into edge pixels (no halo)",
    )
    speck_fraction: float = Field(
        0.02, ge=0, le=1, description="Drop foreground pieces smaller than this fraction of the largest piece"
    )
    hole_fraction: float = Field(
        0.005,
        ge=0,
        le=1,
        description="Fill holes smaller than this fraction of the subject area; larger ones (a ring, a handle) stay open",
    )
    hard: bool = Field(False, description="Threshold the alpha to 0/1 (for pipelines that cannot take soft edges)")
    threshold: float = Field(
        0.5, gt=0, lt=1, description="Cut-off for the hard alpha and for what counts as foreground in the mask"
    )


class MarginConfig(Section):
    """Margin per side: an integer is output pixels, a string like '5%' is percent of the output side."""

    top: int | str = 0
    right: int | str = 0
    bottom: int | str = 0
    left: int | str = 0

    @field_validator("top", "right", "bottom", "left")
    @classmethod
    def _px_or_percent(cls, v: int | str) -> int | str:
        if isinstance(v, int):
            if v < 0:
                raise ValueError("margin must be >= 0 px")
            return v
        s = v.strip()
        if s.endswith("%") and s[:-1].replace(".", "", 1).isdigit() and float(s[:-1]) < 50:
            return s
        if s.endswith("px") and s[:-2].isdigit():
            return int(s[:-2])
        raise ValueError("use pixels (40 or '40px') or a percent below 50 ('5%')")


class ShadowConfig(Section):
    kind: Literal["none", "contact", "drop"] = Field(
        "none",
        description="contact: soft ellipse on the floor line; drop: the silhouette offset away from the light and blurred",
    )
    opacity: float = Field(0.35, ge=0, le=1, description="Darkness at the shadow's core (0 = invisible)")
    blur_px: float = Field(24.0, ge=0, le=500, description="Blur radius in output pixels")
    distance_px: float = Field(30.0, ge=0, le=2000, description="Drop shadow offset from the product, output pixels")
    angle_deg: float = Field(
        90.0,
        ge=-360,
        le=360,
        description="Direction the shadow is cast, clockwise from +x (90 = straight down, light from above)",
    )
    spread: float = Field(1.0, gt=0, le=3, description="Contact shadow width as a fraction of the product width")
    height: float = Field(0.06, gt=0, le=1, description="Contact shadow height as a fraction of the product width")
    real: bool = Field(
        True,
        description="Use the product's own cast shadow instead when the clean-plate mode separated one (Matte.shadow)",
    )


class PresetConfig(Section):
    """One named output recipe: size, placement, background, shadow and formats."""

    name: str = Field("", description="Set from the preset's key in [compose.presets.<name>]; no need to write it")
    width: int = Field(
        2000, ge=0, le=MAX_OUTPUT_SIDE, description="Output width px; 0 with height 0 = native crop size plus margins"
    )
    height: int = Field(2000, ge=0, le=MAX_OUTPUT_SIDE, description="Output height px")
    fill: float = Field(
        0.85,
        gt=0,
        le=1,
        description="Product's long side as a fraction of the space inside the margins (limiting side)",
    )
    margin: MarginConfig = MarginConfig()
    align: Literal["center", "floor"] = Field(
        "center", description="center: centred inside the margins; floor: standing on the bottom margin"
    )
    alpha_cutoff: float = Field(
        0.1, gt=0, lt=1, description="Pixels with alpha above this count as product when finding the crop box"
    )
    background: Literal["transparent", "color", "image"] = "color"
    color: str = Field(
        "#ffffff", pattern=r"^#[0-9a-fA-F]{6}$", description="Background colour when background = 'color'"
    )
    image: Path | None = Field(None, description="Background picture when background = 'image' (scaled to cover)")
    shadow: ShadowConfig = ShadowConfig()
    white_balance: bool = Field(False, description="Neutralise the product's colour cast using the backdrop around it")
    formats: list[str] = Field(
        ["jpeg", "mask", "meta"], min_length=1, description="Artifacts to export: jpeg png webp tiff mask meta"
    )

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in EXPORT_FORMATS]
        if bad:
            raise ValueError(f"unknown format {bad[0]!r}: choose from {', '.join(EXPORT_FORMATS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PresetConfig:
        if (self.width == 0) != (self.height == 0):
            raise ValueError("width and height must both be 0 (native size) or both > 0")
        if self.background == "image" and self.image is None:
            raise ValueError("background = 'image' needs image = '<path>'")
        if self.background == "transparent" and self.shadow.kind != "none":
            raise ValueError(
                "a transparent background cannot carry a shadow: set shadow.kind = 'none' or pick a colour"
            )
        return self


EXPORT_FORMATS = ("jpeg", "png", "webp", "tiff", "mask", "meta")


def _default_presets() -> dict[str, PresetConfig]:
    return {
        "marketplace-white": PresetConfig(shadow=ShadowConfig(kind="contact")),
        "transparent-png": PresetConfig(
            width=0,
            height=0,
            background="transparent",
            margin=MarginConfig(top=16, right=16, bottom=16, left=16),
            formats=["png", "mask", "meta"],
        ),
        "lifestyle": PresetConfig(
            width=1600,
            height=2000,
            fill=0.8,
            align="floor",
            color="#ececec",
            margin=MarginConfig(bottom="12%"),
            shadow=ShadowConfig(kind="drop", opacity=0.3, blur_px=40, distance_px=40, angle_deg=60),
            # no WebP by default: a lossy WebP of this canvas costs more CPU than the rest of the
            # frame (docs/performance.md); add "webp" to formats where a shop wants one
            formats=["jpeg", "mask", "meta"],
        ),
    }


class ComposeConfig(Section):
    """Layout presets by name (device/compose/); `preset` is the default one."""

    preset: str = Field("marketplace-white", description="Default preset name; must be a key of presets")
    presets: dict[str, PresetConfig] = Field(default_factory=_default_presets)

    @model_validator(mode="after")
    def _preset_exists(self) -> ComposeConfig:
        if self.preset not in self.presets:
            raise ValueError(f"preset {self.preset!r} is not defined: choose from {', '.join(sorted(self.presets))}")
        for key, p in self.presets.items():
            if p.name != key:
                object.__setattr__(p, "name", key)
        return self


class ExportConfig(Section):
    """Encoder settings (device/export/)."""

    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality (90-95 for catalogs)")
    jpeg_subsampling: Literal["420", "422", "444"] = Field(
        "420", description="JPEG chroma subsampling; 444 is sharper on colour edges, slower, larger"
    )
    png_level: int = Field(
        1,
        ge=0,
        le=9,
        description="Deflate level for the colour/RGBA PNG (0-3 use ISA-L when installed: 1 is the fast one; 4-9 zlib)",
    )
    mask_level: int = Field(
        1,
        ge=0,
        le=9,
        description="Deflate level for the 8-bit mask PNG (on the critical path: keep it low; 0-3 use ISA-L when installed, 4-9 zlib)",
    )
    webp_quality: int = Field(90, ge=1, le=100, description="WebP quality; 100 with webp_lossless for lossless")
    webp_lossless: bool = False
    webp_method: int = Field(0, ge=0, le=6, description="WebP effort: 0 fastest, 6 smallest files")
    tiff_compression: Literal["none", "lzw", "deflate"] = "deflate"
    embed_metadata: bool = Field(
        True, description="Write SKU, capture id, model and timings into EXIF / PNG text chunks"
    )


# ---- publish (MQTT) -------------------------------------------------------------------------
from pydantic import model_validator  # noqa: E402  (kept inside the [mqtt] section on purpose)


class MqttTlsConfig(Section):
    """TLS to the broker. Off by default; `insecure` (skip hostname check) only for a lab."""

    enabled: bool = False
    ca_file: Path | None = Field(
        None, description="CA bundle that signed the broker's certificate; None = system store"
    )
    cert_file: Path | None = Field(None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(None, description="client private key (mutual TLS)")
    insecure: bool = Field(False, description="skip the broker hostname check; never in production")

    @model_validator(mode="after")
    def _pair(self):
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (set both for mutual TLS, or neither)")
        return self


class CatalogConfig(Section):
    """The catalog receiver (`cutbox catalog`), usually on the catalog server, same broker options."""

    data_dir: Path = Field(Path("catalog-data"), description="files and the SQLite index go here")
    share_group: str = Field(
        "catalog",
        pattern=r"^[A-Za-z0-9_-]{0,64}$",
        description=(
            '$share/<group>/...: workers in one group split the load; "" = plain subscription (one worker). '
            'Mosquitto 2.0 does not restore shared subscriptions after a broker restart: use "" there'
        ),
    )
    topic_filter: str = Field("cutbox/+/captures/#", description="what to ingest (inside the shared subscription)")
    client_id: str = Field(
        "catalog-1",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="fixed, so the broker keeps the session (and unacked messages) across a crash",
    )
    session_expiry_s: int = Field(
        7 * 24 * 3600, ge=0, description="how long the broker queues for a receiver that is down"
    )
    max_message_mb: int = Field(
        64,
        ge=1,
        le=256,
        description="a larger message is quarantined unread (keep the broker's message_size_limit below)",
    )


class MqttConfig(Section):
    """Publishing to the catalog over MQTT v5 (QoS 1) through the durable outbox."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    keepalive_s: int = Field(30, ge=5, le=3600)
    client_id: str | None = Field(None, description="default cutbox-<station id>")
    username: str | None = Field(None, description="with the ACL in firmware_config/mosquitto, equal to the station id")
    password: str | None = Field(None, description="prefer password_file")
    password_file: Path | None = Field(None, description="file holding the password (first line)")
    tls: MqttTlsConfig = MqttTlsConfig()
    reconnect_min_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=600)
    max_inflight: int = Field(32, ge=1, le=1000, description="unacknowledged messages on the wire")
    outbox_path: Path | None = Field(None, description="default <station.data_dir>/outbox.sqlite")
    outbox_max_captures: int = Field(2000, ge=1)
    outbox_max_mb: int = Field(1024, ge=1)
    outbox_full_policy: Literal["block", "drop-oldest"] = Field(
        "block",
        description="block: refuse new captures with an error; drop-oldest: drop the oldest unsent, counted in status",
    )
    status_interval_s: float = Field(10.0, gt=0, description="retained status refresh while the outbox changes")
    require_receipt: bool = Field(
        True,
        description="keep each capture until the catalog's receipt (not the broker's PUBACK); off only without a cutbox catalog",
    )
    receipt_timeout_s: float = Field(60.0, gt=0, le=86400, description="send a capture again when no receipt came")
    receipt_timeout_max_s: float = Field(3600.0, gt=0, le=7 * 86400, description="the resend wait doubles up to this")
    catalog: CatalogConfig = CatalogConfig()

    @model_validator(mode="after")
    def _checks(self):
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    def read_password(self) -> str | None:
        """The password from `password` or the first line of `password_file`. Under systemd's
        `LoadCredential=mqtt-password:...` (the catalog unit, whose DynamicUser cannot read
        the 0640 file itself) the credential systemd handed over is read instead."""
        if self.password_file is not None:
            path = self.password_file
            credentials = os.environ.get("CREDENTIALS_DIRECTORY")
            if credentials and Path(credentials, MQTT_PASSWORD_CREDENTIAL).is_file():
                path = Path(credentials, MQTT_PASSWORD_CREDENTIAL)
            try:
                return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
            except OSError as exc:
                raise ConfigError(
                    [
                        f"mqtt.password_file: cannot read {self.password_file}: {exc.strerror} (fix the path or permissions)"
                    ]
                ) from None
        return self.password


MQTT_PASSWORD_CREDENTIAL = "mqtt-password"  # the name in the catalog unit's LoadCredential=


# ---- api -----------------------------------------------------------------------------------
class ApiConfig(Section):
    """The operator page and REST API (`cutbox serve`)."""

    host: str = Field(
        "0.0.0.0", min_length=1, description="Address to listen on; 127.0.0.1 keeps the page local to the box"
    )
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the page and API")
    token: str | None = Field(
        None, min_length=16, description="Bearer token for state-changing calls (prefer token_file)"
    )
    token_file: Path | None = Field(
        None, description="File holding the bearer token; when neither is set one is generated in <data_dir>/api-token"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed cross-origin access; empty = CORS closed"
    )
    review_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Captures scoring below this quality go to the review queue; 1.0 sends every capture, 0.0 none",
    )
    preview_fps: float = Field(5.0, gt=0.0, le=30.0, description="Upper bound on the MJPEG live-view frame rate")
    preview_width: int = Field(640, ge=64, le=4096, description="Width of the live-view frames in pixels")
    list_limit: int = Field(200, ge=1, le=10000, description="Most captures one list call returns")
    open_reads: bool = Field(
        False, description="Let calls that only read (status, captures, images, live view) through without the token"
    )
    trusted_hosts: list[str] | None = Field(
        None,
        description="Host names the page may be reached by (DNS-rebinding guard); None = localhost, the box's "
        "names and addresses; '*' = any",
    )
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="How long a page login (the session cookie) lasts")
    docs: bool = Field(False, description="Serve the interactive API docs at /docs (the schema is at /openapi.json)")
    tls_cert: Path | None = Field(None, description="PEM certificate: serve https (set with tls_key)")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_urls(cls, v: list[str]) -> list[str]:
        for origin in v:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin like https://tablet.local:8080")
        return v

    @model_validator(mode="after")
    def _one_token_source(self) -> ApiConfig:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("set tls_cert and tls_key together")
        return self


# ---- turntable -----------------------------------------------------------------------------
class SerialTurntableConfig(Section):
    """A turntable controller on a serial line (Arduino, GRBL, ComXim, PhotoMechanics boxes):
    one command per move, then either a done line (`completion = "reply"`) or, for
    controllers whose answer only means "queued" (GRBL's `ok`), a status poll until idle."""

    port: str = Field(
        "/dev/cutbox-turntable",
        min_length=1,
        description="Serial device (the udev rule makes this stable symlink) or a pyserial URL",
    )
    baud: int = Field(115200, gt=0, description="Line speed in baud")
    rotate_command: str = Field(
        "ROT {deg:.2f}\n",
        min_length=1,
        description=(
            "Sent to rotate, a Python format template: {deg} signed degrees, {abs_deg} unsigned degrees, "
            "{steps} unsigned motor steps (steps_per_rev), {dir} dir_cw or dir_ccw"
        ),
    )
    home_command: str = Field(
        "HOME\n", description="Sent to go to the zero mark; empty: the driver rotates back by its own count"
    )
    steps_per_rev: int = Field(3200, gt=0, le=10_000_000, description="{steps}: motor steps per table turn")
    dir_cw: str = Field("1", description="{dir} for a positive (clockwise) move")
    dir_ccw: str = Field("0", description="{dir} for a negative (counter-clockwise) move")
    reply_terminator: str = Field(
        "\n", min_length=1, max_length=4, description='What ends one answer from the controller ("\n", "\r", ".", ";")'
    )
    done_pattern: str = Field(
        r"^(DONE|OK)\b",
        min_length=1,
        description="Regex an answer matches when the move is done (poll: when the command is accepted)",
    )
    error_pattern: str = Field(
        r"^(ERR|ERROR|FAULT)\b",
        min_length=1,
        description="Regex an answer matches when the controller refuses or fails",
    )
    completion: Literal["reply", "poll"] = Field(
        "reply",
        description="reply: the done answer means arrived; poll: it means queued, send poll_command until poll_done_pattern",
    )
    poll_command: str = Field("?", description="poll: the status request (GRBL: '?', no newline)")
    poll_done_pattern: str = Field(
        r"^<Idle", min_length=1, description="poll: regex of a status answer that means arrived"
    )
    poll_interval_s: float = Field(0.1, gt=0, le=5, description="poll: pause between status requests")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Longest wait for one move to finish")
    open_delay_s: float = Field(
        0.0, ge=0, le=10, description="Wait after opening the port (an Arduino or GRBL board resets on open: about 2 s)"
    )

    @field_validator("done_pattern", "error_pattern", "poll_done_pattern")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    @field_validator("rotate_command")
    @classmethod
    def _rotate_template(cls, v: str) -> str:
        fields = template_fields(v)
        unknown = fields - ROTATE_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}: use {', '.join(sorted(ROTATE_FIELDS))}")
        if not fields & {"deg", "abs_deg", "steps"}:
            raise ValueError("no {deg}, {abs_deg} or {steps} placeholder: every move would be the same command")
        try:
            v.format(deg=-1.5, abs_deg=1.5, steps=10, dir="1")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a valid template ({exc}); e.g. 'ROT {{deg:.2f}}\\n'") from None
        return v

    @field_validator("home_command")
    @classmethod
    def _home_template(cls, v: str) -> str:
        if template_fields(v):
            raise ValueError("the home command takes no placeholders (write {{ and }} for literal braces)")
        return v

    @model_validator(mode="after")
    def _poll_needs_a_command(self) -> SerialTurntableConfig:
        if self.completion == "poll" and not self.poll_command:
            raise ValueError("completion = 'poll' needs a poll_command (GRBL: '?')")
        return self


ROTATE_FIELDS = frozenset({"deg", "abs_deg", "steps", "dir"})


def template_fields(template: str) -> set[str]:
    """The placeholder names in a str.format template; ValueError for a broken one."""
    try:
        return {
            name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name is not None
        }
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc})") from None


class GpioTurntableConfig(Section):
    """A stepper driver board (A4988, DRV8825, TMC2209 in step/dir mode) on the Pi's GPIO."""

    step_pin: int = Field(20, ge=0, le=27, description="BCM number of the STEP pin")
    dir_pin: int = Field(21, ge=0, le=27, description="BCM number of the DIR pin")
    enable_pin: int | None = Field(
        None, ge=0, le=27, description="BCM number of the active-low ENABLE pin; none: always enabled"
    )
    steps_per_rev: int = Field(200, gt=0, description="Full steps per motor revolution (1.8 degree motors: 200)")
    microsteps: int = Field(16, description="Microstepping set on the driver board (MS pins)")
    gear_ratio: float = Field(1.0, gt=0, description="Motor turns per table turn (belt or gear reduction)")
    speed_deg_s: float = Field(45.0, gt=0, le=720, description="Table speed in degrees per second")
    invert_dir: bool = Field(False, description="Flip the direction if the table turns the wrong way")
    accel_deg_s2: float = Field(
        180.0,
        ge=0,
        le=100_000,
        description="Ramp: acceleration and braking in degrees per second squared (0: full speed from the first step)",
    )
    start_speed_deg_s: float = Field(
        5.0,
        gt=0,
        le=720,
        description="Ramp: speed of the first and last step (a stepper starts from this without a ramp)",
    )
    home_pin: int | None = Field(
        None,
        ge=0,
        le=27,
        description="BCM pin of a home sensor (hall or opto switch at the zero mark); none: zero is where it started",
    )
    home_active_low: bool = Field(
        True, description="The home sensor pulls the pin low when the mark is there (pull-up on)"
    )
    home_speed_deg_s: float = Field(20.0, gt=0, le=360, description="Speed while looking for the home mark")
    home_on_open: bool = Field(
        True, description="With a home sensor: find the mark when the driver opens (zero survives restarts)"
    )

    @field_validator("microsteps")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v not in (1, 2, 4, 8, 16, 32, 64, 128, 256):
            raise ValueError("must be a power of two from 1 to 256 (as set on the driver board)")
        return v


class SimulatedTurntableConfig(Section):
    speed_deg_s: float = Field(
        3600.0, gt=0, description="Simulated speed (degrees per second); moves sleep accordingly"
    )


class TurntableConfig(Section):
    """Which turntable turns the product for a spin set, and how long it settles before a shot."""

    driver: Literal["simulated", "serial", "gpio"] = Field(
        "simulated", description="simulated (no hardware), serial or gpio"
    )
    steps: int = Field(
        24, ge=1, le=MAX_SPIN_STEPS, description="Default number of shots per spin (360/steps degrees apart)"
    )
    settle_s: float = Field(0.3, ge=0, le=30, description="Pause after each move so the product stops wobbling")
    return_to_start: bool = Field(True, description="Finish each spin by turning the last step back to the start angle")
    serial: SerialTurntableConfig = SerialTurntableConfig()
    gpio: GpioTurntableConfig = GpioTurntableConfig()
    simulated: SimulatedTurntableConfig = SimulatedTurntableConfig()


# ---- booth (clean plate) ---------------------------------------------------------------------
class BoothConfig(Section):
    """Booth mode: a clean plate of the empty booth feeds the plate-aware model while it still fits."""

    enabled: bool = Field(
        True, description="Use the plate model when a fitting plate exists; off: always the generic model"
    )
    model: Path = Field(
        REPO_ROOT / "models" / "cutbox-booth-int8.tflite",
        description="The plate-aware .tflite model (card beside it, channels RGB+plate). Relative paths are from the repository root",
    )
    edgetpu_model: Path | None = Field(
        None,
        description="edgetpu_compiler output of the plate model; without one the plate model runs on the CPU",
    )
    plate_frames: int = Field(8, ge=1, le=256, description="Frames averaged into the clean plate by `cutbox calibrate`")
    plate_average: Literal["median", "mean"] = Field("median", description="How the calibration frames are averaged")
    border: float = Field(
        0.1, gt=0, lt=0.5, description="Width of the border ring (fraction of the short side) used by the fit checks"
    )
    max_shift_px: float = Field(
        1.5,
        gt=0,
        le=100,
        description="Camera bump: largest global shift (pixels at 256 px width) before the plate is stale",
    )
    max_light_drift: float = Field(
        0.08,
        gt=0,
        le=1,
        description="Largest relative change of the border's mean brightness before the plate is stale",
    )
    max_wb_drift: float = Field(
        0.03, gt=0, le=1, description="Largest change of the border's r/g or b/g chromaticity before the plate is stale"
    )
    max_settings_drift: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Largest relative change of exposure, gain or white-balance gains before the plate is stale",
    )
    max_background_mismatch: float = Field(
        0.5,
        gt=0,
        le=1,
        description="After the plate model: largest share of the background (outside the predicted product) that may differ from the exposure-matched plate before the frame is cut out in generic mode",
    )
    max_product_unchanged: float = Field(
        0.25,
        gt=0,
        le=1,
        description="After the plate model: largest share of the frame it may call product where the frame is exactly the plate (nothing there changed) before the frame is cut out in generic mode",
    )
    max_product_unchanged_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="After the plate model: largest share of what it calls product that may be exactly the plate (once that is over 2 % of the frame) before the frame is cut out in generic mode",
    )
    shadow: bool = Field(True, description="Separate the product's real cast shadow into Matte.shadow using the plate")
    shadow_min_darkening: float = Field(
        0.04, ge=0, lt=1, description="Darkening (1 - frame/plate) below this is not shadow"
    )
    see_through: bool = Field(
        False,
        description="Glass and sheer parts: inside the product, keep the plate model's partial alpha where it lies within see_through_range (off: the interior is solid)",
    )
    see_through_range: tuple[float, float] = Field(
        (0.35, 0.8),
        description="Plate-model values strictly between these two are kept as alpha when see_through is on",
    )

    @field_validator("see_through_range")
    @classmethod
    def _ordered_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not 0 < lo < hi < 1:
            raise ValueError("give [lo, hi] with 0 < lo < hi < 1")
        return v

    @field_validator("model", "edgetpu_model")
    @classmethod
    def _from_repo_root(cls, v: Path | None) -> Path | None:
        return v if v is None or v.is_absolute() else REPO_ROOT / v


class StorageConfig(Section):
    """The box's own disk: a free-space floor, retention of receipted captures, the original frame's format."""

    min_free_mb: int = Field(
        512, ge=0, description="refuse new captures (with a clear error) while less than this is free on the data disk"
    )
    retention_days: float = Field(
        30, ge=0, description="delete captures older than this once the catalog has receipted them; 0 = keep"
    )
    max_captures_gb: float = Field(
        0, ge=0, description="delete the oldest receipted captures while the store is larger than this; 0 = no cap"
    )
    retention_interval_s: float = Field(600, ge=1, le=86400, description="how often retention runs")
    original_format: Literal["jpeg", "png"] = Field(
        "jpeg",
        description="the untouched frame kept for corrections: jpeg (quality below) or png (lossless, ~5x larger)",
    )
    original_jpeg_quality: int = Field(95, ge=50, le=100)


# ---- logging -------------------------------------------------------------------------------
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LoggingConfig(Section):
    """How much the box logs (journald under systemd), overall and per module."""

    default: LogLevel | None = Field(
        None,
        description="Level for every module not named in `modules` (None: info for `cutbox serve`, so the "
        "journal says what it chose, warning for the other commands)",
    )
    modules: dict[str, LogLevel] = Field(
        {},
        description="Per-module levels by logger name (the module path), e.g. 'device.comms' = 'info'",
    )

    @field_validator("modules")
    @classmethod
    def _module_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not a module path like device.comms.mqtt")
        return v


# ---- scanner -------------------------------------------------------------------------------
class ScannerConfig(Section):
    """A USB barcode scanner in keyboard mode, read from its own input device (not a console)."""

    enabled: bool = Field(False, description="Read SKUs from the scanner while the box runs")
    device: str = Field(
        "/dev/cutbox-scanner",
        min_length=1,
        description="Its input device: the udev rule's stable name, or /dev/input/by-id/...-event-kbd",
    )
    grab: bool = Field(
        True, description="Take the device for cutbox alone (EVIOCGRAB): the codes never type into tty1 or a shell"
    )
    action: Literal["sku", "capture"] = Field(
        "sku", description="sku: a scan sets the SKU of the next capture; capture: a scan also takes the shot"
    )
    retry_max_s: float = Field(
        30.0, gt=0, le=600, description="An unplugged scanner is opened again after 1 s, doubling up to this"
    )


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
    booth: BoothConfig = BoothConfig()
    scanner: ScannerConfig = ScannerConfig()
    storage: StorageConfig = StorageConfig()

    logging: LoggingConfig = LoggingConfig()


class ConfigError(Invalid):
    """A configuration problem, with one line per bad key: `key: what is wrong (fix)`."""

    def __init__(self, problems: list[str], source: str = "config"):
        super().__init__(f"{source}: " + "; ".join(problems), problems)


class ConfigConflict(ConfigError, Conflict):
    """A config that fits the schema but breaks a rule between its keys or this box's folders:
    each key is well formed, their combination is refused (the API answers 409, not 422)."""


# Errors a custom validator raises: a rule the JSON schema cannot say (between keys, on files).
RULE_ERRORS = {"value_error", "assertion_error"}


def _hint(err: Any) -> str:
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
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
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
    """Validate strictly, as JSON: `enabled = "yes"` or `port = "1883"` are refused (a quoted
    number or word is a typo that lax coercion would hide), while strings stay fine for paths
    and arrays for pairs."""
    data = _flat_driver_keys(data)
    try:
        return CutboxConfig.model_validate_json(json.dumps(data, default=_json_scalar), strict=True)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {_hint(e)}" for e in errors]
        kind = ConfigConflict if all(e["type"] in RULE_ERRORS for e in errors) else ConfigError
        raise kind(problems, source) from None


def _flat_driver_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Configs written before the per-driver sections say `uvc_device`, `picamera2_main`,
    `gphoto2_port`... in [source]: still read, into their section (over the section's key, so an
    environment override such as CUTBOX__SOURCE__UVC_DEVICE still wins over the file)."""
    source = data.get("source")
    if not isinstance(source, dict):
        return data
    source = dict(source)
    for driver in DRIVER_SECTIONS:
        flat = {k[len(driver) + 1 :]: source.pop(k) for k in list(source) if k.startswith(driver + "_")}
        if flat:
            section = source.get(driver)
            source[driver] = {**(section if isinstance(section, dict) else {}), **flat}
    return {**data, "source": source}


def _json_scalar(value: Any) -> Any:
    """Paths (from code) and TOML dates as the strings a config file would hold."""
    return str(value)


def config_file(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Path | None:
    """The config file a command reads: `path` when given, else `$CUTBOX_CONFIG`, else the
    installed `/etc/cutbox/cutbox.toml` when it exists, else the documented default (None
    when even that is missing: the code defaults)."""
    if path:
        return Path(path)
    named = (os.environ if env is None else env).get(CONFIG_ENV)
    if named:
        return Path(named)
    for candidate in (INSTALLED_CONFIG, DEFAULT_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def data_dir_origin(
    config: CutboxConfig, path: str | os.PathLike | None = None, env: dict[str, str] | None = None
) -> tuple[Path, str]:
    """Where `station.data_dir` points for this process (made absolute) and what set it: an
    environment override, the config file, or the built-in default."""
    environ = os.environ if env is None else env
    where = Path(config.station.data_dir)
    override = next((n for n in environ if n.upper() == f"{ENV_PREFIX}STATION__DATA_DIR"), None)
    file = config_file(path, env)
    if override:
        origin = f"from ${override}"
    elif file is not None:
        origin = f"station.data_dir in {file}"
    else:
        origin = "the built-in default"
    if not where.is_absolute():
        where, origin = Path.cwd() / where, origin + ", relative to the working directory"
    return where, origin


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> CutboxConfig:
    """Load a TOML file (`config_file(path)`), apply environment overrides, validate."""
    file = config_file(path, env)
    if file is None:
        return validate(_env_overrides(dict(os.environ) if env is None else env), "defaults")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            [f"file not found: {file} (pass an existing file, or omit it for the default)"], str(file)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(file)) from None
    data = _merge(data, _env_overrides(dict(os.environ) if env is None else env))
    return validate(data, str(file))
