"""MQTT commands `cmd/<verb>`: validate, run on the service, answer with a result dict.

The dispatcher knows nothing about MQTT; the publisher feeds it (verb, payload bytes) and
sends back what it returns. Every failure (bad JSON, unknown verb, bad field, the handler
raising) becomes an `ok: false` reply; nothing here raises to the caller. The handler is the
same core object the CLI and the API use (`device.service.CutboxService`), typed here as a
Protocol so this module does not import it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from pydantic import ValidationError

from device.types import Capture
from device.workflows.requests import (
    BoxRequest,
    CalibrateRequest,
    CaptureRequest,
    EmptyRequest,
    ReexportRequest,
    SetPresetRequest,
    SpinRequest,
)

log = logging.getLogger(__name__)
RESULT_SCHEMA = "cutbox.cmd.result/1"


class CommandHandler(Protocol):
    def capture(self, sku: str | None = None, preset: str | None = None) -> Capture: ...
    def spin(self, steps: int | None = None, sku: str | None = None) -> list[Capture]: ...
    def calibrate(self, frames: int | None = None) -> dict: ...
    def cancel(self) -> dict: ...
    def reexport(self, capture_id: str, preset: str) -> Capture: ...
    def set_preset(self, name: str) -> Any: ...
    def status(self) -> dict: ...


# The same request models as the API's (device.workflows.requests): one set of limits.
REQUESTS: dict[str, type[BoxRequest]] = {
    "capture": CaptureRequest,
    "spin": SpinRequest,
    "calibrate": CalibrateRequest,
    "set-preset": SetPresetRequest,
    "reexport": ReexportRequest,
    "status": EmptyRequest,
    "cancel": EmptyRequest,
}


def capture_summary(capture: Capture) -> dict:
    """What a command reply says about a capture: id, sku, and each artifact's size and sha256."""
    return {
        "capture_id": capture.id,
        "sku": capture.sku,
        "review": capture.review,
        "artifacts": [{"name": a.name, "bytes": len(a.data), "sha256": a.sha256} for a in capture.artifacts],
    }


def _error(verb: str, error: str, details: list[str] | None = None) -> dict:
    return {"schema": RESULT_SCHEMA, "ok": False, "verb": verb, "error": error, "details": details or []}


class CommandDispatcher:
    """Turns (verb, raw payload) into a call on the handler and a JSON-able reply."""

    def __init__(self, handler: CommandHandler):
        self.handler = handler
        self.counts = {"ok": 0, "error": 0}

    def handle(self, verb: str, payload: bytes | str | None) -> dict:
        reply = self._handle(verb, payload)
        self.counts["ok" if reply["ok"] else "error"] += 1
        return reply

    def _handle(self, verb: str, payload: bytes | str | None) -> dict:
        model = REQUESTS.get(verb)
        if model is None:
            return _error(verb, f"unknown verb {verb!r}", [f"known verbs: {', '.join(REQUESTS)}"])
        try:
            text = payload.decode("utf-8") if isinstance(payload, bytes) else (payload or "")
            data = json.loads(text) if text.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(verb, f"payload is not valid JSON: {exc}")
        if not isinstance(data, dict):
            return _error(verb, "payload must be a JSON object")
        try:
            req = model.model_validate(data)
        except ValidationError as exc:
            details = [f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}" for e in exc.errors()]
            return _error(verb, "invalid request", details)
        try:
            result = self._call(verb, req)
        except Exception as exc:  # the handler failed: report it, keep serving
            log.exception("command %s failed", verb)
            return _error(verb, f"{type(exc).__name__}: {exc}")
        return {"schema": RESULT_SCHEMA, "ok": True, "verb": verb, "result": result}

    def _call(self, verb: str, req: Any) -> Any:
        h = self.handler
        if isinstance(req, CaptureRequest):
            return capture_summary(h.capture(sku=req.sku, preset=req.preset))
        if isinstance(req, SpinRequest):
            caps = h.spin(req.steps, sku=req.sku)
            return {"captures": [capture_summary(c) for c in caps], "count": len(caps)}
        if isinstance(req, CalibrateRequest):
            return h.calibrate(req.frames) if req.frames is not None else h.calibrate()
        if verb == "cancel":
            return h.cancel()
        if isinstance(req, ReexportRequest):
            return capture_summary(h.reexport(req.capture_id, req.preset))
        if isinstance(req, SetPresetRequest):
            out = h.set_preset(req.name)
            return out if isinstance(out, dict) else {"preset": req.name}
        return h.status()
