"""The box's status: everything the page's banners and /health/ready need, in one small dict,
with the alerts an operator must act on (camera lost, model not loaded, broker down, outbox
filling up)."""

from __future__ import annotations

from typing import Any


def alerts(
    camera_error: str | None,
    pipeline_error: str | None,
    mqtt: dict,
    depth: int,
    limit: int,
    storage: dict | None = None,
    booth: dict | None = None,
) -> list[dict]:
    out = []
    free, floor = (storage or {}).get("free_bytes"), (storage or {}).get("min_free_bytes", 0)
    if free is not None and floor and free < 2 * floor:
        low = free < floor
        out.append(
            {
                "kind": "disk",
                "level": "error" if low else "warning",
                "message": f"Disk nearly full: {free / 1e6:.0f} MB free, "
                + (
                    "new captures are refused until space is freed"
                    if low
                    else f"captures stop below {floor / 1e6:.0f} MB free"
                ),
            }
        )
    if camera_error:
        out.append({"kind": "camera", "level": "error", "message": f"Camera lost: {camera_error}"})
    if pipeline_error:
        out.append({"kind": "pipeline", "level": "error", "message": f"Model not loaded: {pipeline_error}"})
    if booth and booth.get("mode") == "generic" and str(booth.get("reason", "")).startswith("plate does not fit"):
        out.append(
            {
                "kind": "plate",
                "level": "warning",
                "message": f"Booth mode off for the last capture, cut out in generic mode: {booth['reason']}",
            }
        )
    if mqtt.get("enabled") and not mqtt.get("connected"):
        out.append(
            {
                "kind": "broker",
                "level": "warning",
                "message": "Broker down: captures wait in the outbox and go out when it is back",
            }
        )
    full = bool(mqtt.get("outbox_full", False))
    if mqtt.get("enabled") and (full or depth >= 0.8 * limit):
        out.append(
            {
                "kind": "outbox",
                "level": "error" if full else "warning",
                "message": f"Outbox filling up: {depth} of {limit} captures waiting" + (" (full)" if full else ""),
            }
        )
    return out


def mqtt_status(publisher: dict, default_limit: int) -> dict:
    """The publisher's status flattened for the page: scalars, outbox depth, limit, fullness."""
    raw = publisher.get("outbox")
    outbox: dict = raw if isinstance(raw, dict) else {}
    return {
        **{k: v for k, v in publisher.items() if isinstance(v, (str, int, float, bool, type(None)))},
        "outbox_depth": int(outbox.get("depth", 0)),
        "outbox_max": int(outbox.get("max_captures", default_limit)),
        "outbox_full": bool(outbox.get("full", False)),
        "dropped_captures": int(outbox.get("dropped_captures", 0)),
        "awaiting_receipt": int(outbox.get("awaiting_receipt", 0)),
        "oldest_unreceipted": outbox.get("oldest_unreceipted"),
    }


def box_status(
    *,
    station: str,
    camera: dict[str, Any],
    pipeline: dict[str, Any],
    mqtt: dict,
    preset: str,
    review_queue: int,
    captures: int,
    last_capture: str | None,
    last_error: dict | None,
    heartbeat: tuple[float, str],
    storage: dict | None = None,
    job: dict | None = None,
    settings: dict | None = None,
) -> dict:
    settings = settings or {"restart_pending": [], "saved_to": None, "error": None}
    return {
        "settings": settings,
        "job": job,
        "station": station,
        "camera": camera,
        "pipeline": pipeline,
        "mqtt": mqtt,
        "preset": preset,
        "review_queue": review_queue,
        "captures": captures,
        "last_capture": last_capture,
        "last_error": last_error,
        "heartbeat": {"age_s": round(heartbeat[0], 3), "last": heartbeat[1]},
        "storage": storage or {},
        "alerts": alerts(
            camera.get("error"),
            pipeline.get("error"),
            mqtt,
            mqtt["outbox_depth"],
            mqtt["outbox_max"],
            storage,
            pipeline.get("booth"),
        )
        + settings_alerts(settings),
    }


def settings_alerts(settings: dict) -> list[dict]:
    out = []
    if settings.get("restart_pending"):
        keys = ", ".join(settings["restart_pending"])
        out.append(
            {
                "kind": "restart",
                "level": "warning",
                "message": f"Saved, but the box still runs the old value until it is restarted: {keys}",
            }
        )
    if settings.get("error"):
        out.append({"kind": "settings", "level": "warning", "message": settings["error"]})
    return out
