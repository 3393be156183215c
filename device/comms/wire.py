"""The MQTT wire contract shared by the box and the catalog: topics, the meta and receipt schemas,
the client factory.

Only paho and pydantic are imported here, so the catalog receiver (which may run on a server
without the camera and model stack) needs nothing else from the box side. The meta model is
what the receiver checks every meta message against before anything reaches its index: a
message a station can send is a message an attacker with a station login can send.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from device.config import MqttConfig

META_SCHEMA = "cutbox.capture.meta/1"
STATUS_SCHEMA = "cutbox.status/1"
RECEIPT_SCHEMA = "cutbox.receipt/1"

# topic levels a receiver accepts (a station id, a capture id, an artifact name)
LEVEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
LEVEL = re.compile(LEVEL_PATTERN)
SHA256_PATTERN = r"^[0-9a-f]{64}$"

MAX_REVISION = 2**31 - 1
MAX_META_BYTES = 256 * 1024
MAX_ARTIFACTS = 64

Level = Annotated[str, StringConstraints(pattern=LEVEL_PATTERN)]
Short = Annotated[str, StringConstraints(max_length=256)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]


def topic_root(station_id: str) -> str:
    return f"cutbox/{station_id}"


def capture_topic(station_id: str, capture_id: str, name: str) -> str:
    return f"{topic_root(station_id)}/captures/{capture_id}/{name}"


def receipt_topic(station_id: str, capture_id: str) -> str:
    """Where the catalog confirms a stored capture to its station (the ACL lets a station read
    only its own)."""
    return f"{topic_root(station_id)}/receipts/{capture_id}"


class MetaArtifact(BaseModel):
    """One artifact as the meta lists it; the receiver checks the stored sha256 against it."""

    model_config = ConfigDict(strict=True, extra="allow")

    name: Level
    filename: Short | None = None
    content_type: Short | None = None
    bytes: int = Field(ge=0, le=1 << 40)
    sha256: Sha256
    topic: Annotated[str, StringConstraints(max_length=1024)] | None = None


class CaptureMeta(BaseModel):
    """`cutbox.capture.meta/1` (device/comms/SCHEMA.md). Known keys have strict types and
    bounds; unknown top-level keys are allowed (adding keys keeps `/1`)."""

    model_config = ConfigDict(strict=True, extra="allow")

    schema_: str = Field(alias="schema", pattern=r"^cutbox\.capture\.meta/1$")
    station: Level | None = None
    capture_id: Level
    sku: Short | None = None
    spin_id: Short | None = None
    angle: float | None = Field(None, ge=-1e6, le=1e6)
    preset: Short | None = None
    model: Short | None = None
    quality: float | None = Field(None, ge=-1e6, le=1e6)
    review: bool = False
    timings_ms: dict[Short, float] = Field(default_factory=dict, max_length=64)
    artifacts: list[MetaArtifact] = Field(max_length=MAX_ARTIFACTS)
    extra: dict[Short, Any] = Field(default_factory=dict, max_length=256)
    revision: int = Field(0, ge=0, le=MAX_REVISION)

    @field_validator("artifacts")
    @classmethod
    def _unique_names(cls, value: list[MetaArtifact]) -> list[MetaArtifact]:
        names = [a.name for a in value]
        if len(set(names)) != len(names) or "meta" in names:
            raise ValueError("artifact names must be unique and not 'meta'")
        return value


class MetaError(ValueError):
    """A meta payload that is not a valid `cutbox.capture.meta/1` document (the reason says why)."""


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_meta(payload: bytes) -> CaptureMeta:
    """Bytes -> checked meta, or `MetaError` with a one-line reason. UTF-8 JSON only (no BOM,
    no NaN), at most `MAX_META_BYTES`."""
    if len(payload) > MAX_META_BYTES:
        raise MetaError(f"meta is {len(payload)} bytes (at most {MAX_META_BYTES})")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetaError(f"meta is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        doc = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise MetaError(f"meta is not JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise MetaError(f"meta is a JSON {type(doc).__name__}, not an object")
    try:
        return CaptureMeta.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "meta"
        raise MetaError(
            f"meta does not follow {META_SCHEMA}: {where}: {first['msg']} ({exc.error_count()} errors)"
        ) from None
    except RecursionError:
        raise MetaError("meta is nested too deeply") from None


def parse_revision(value: str | int | None) -> int:
    """The `revision` user property: absent = 0; else 1-10 decimal digits up to `MAX_REVISION`."""
    if value is None or value == "":
        return 0
    text = str(value)
    if not re.fullmatch(r"[0-9]{1,10}", text) or int(text) > MAX_REVISION:
        raise ValueError(f"revision {text[:40]!r} is not a whole number from 0 to {MAX_REVISION}")
    return int(text)


class Receipt(BaseModel):
    """`cutbox.receipt/1`: the catalog stored this version of the capture (all artifacts checked)."""

    model_config = ConfigDict(strict=True, extra="allow")

    schema_: str = Field(RECEIPT_SCHEMA, alias="schema", pattern=r"^cutbox\.receipt/1$")
    station: Level
    capture_id: Level
    meta_sha256: Sha256
    revision: int = Field(0, ge=0, le=MAX_REVISION)
    stored_at: float = Field(ge=0)

    @field_validator("stored_at")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("stored_at must be finite")
        return value

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


def parse_receipt(topic: str, payload: bytes, station_id: str) -> Receipt:
    """A receipt as the station reads it: valid JSON of its own station and the topic's capture
    id, or `ValueError` saying why not."""
    receipt = Receipt.model_validate_json(payload[:4096])
    capture_id = topic.rsplit("/", 1)[-1]
    if receipt.station != station_id or receipt.capture_id != capture_id:
        raise ValueError(f"it names {receipt.station}/{receipt.capture_id}")
    return receipt


def make_client(cfg: MqttConfig, client_id: str, **kwargs) -> mqtt.Client:
    """A paho MQTT v5 client with the configured credentials and TLS (shared with the receiver)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=False,
        **kwargs,
    )
    if cfg.username is not None:
        client.username_pw_set(cfg.username, cfg.read_password())
    if cfg.tls.enabled:
        client.tls_set(
            ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
            certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
            keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
        )
        client.tls_insecure_set(cfg.tls.insecure)
    return client
