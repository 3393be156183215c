"""Against real `cutbox serve` processes: a setting changed through the API outlives a restart,
and one that needs a restart is reported as such until the box restarts."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import TOKEN, start_serve, stop_serve


def client(port: int) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)


@pytest.mark.slow
def test_settings_survive_a_restart_and_restart_only_keys_are_flagged(tmp_path):
    proc, port = start_serve(tmp_path)
    try:
        with client(port) as c:
            r = c.put("/api/config", json={"api": {"review_threshold": 0.9, "session_hours": 8}})
            assert r.status_code == 200, r.text
            assert r.json()["restart_required"] == ["api.session_hours"] and r.json()["saved"] is True
            assert c.put("/api/preset", json={"name": "transparent-png"}).status_code == 200
            st = c.get("/api/status").json()
            assert st["settings"]["restart_pending"] == ["api.session_hours"]
            assert any(a["kind"] == "restart" and "api.session_hours" in a["message"] for a in st["alerts"])
    finally:
        stop_serve(proc)
    saved = json.loads((tmp_path / "cutbox.overrides.json").read_text())
    assert saved == {"api": {"review_threshold": 0.9, "session_hours": 8.0}, "compose": {"preset": "transparent-png"}}
    proc, port = start_serve(tmp_path)  # the same config file, restarted
    try:
        with client(port) as c:
            cfg = c.get("/api/config").json()
            assert cfg["api"]["review_threshold"] == 0.9 and cfg["api"]["session_hours"] == 8.0
            assert c.get("/api/presets").json()["current"] == "transparent-png"
            st = c.get("/api/status").json()
            assert st["settings"]["restart_pending"] == [] and not [a for a in st["alerts"] if a["kind"] == "restart"]
    finally:
        stop_serve(proc)
