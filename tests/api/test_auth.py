"""Every call that changes state needs the bearer token; reading stays open; CORS is closed."""

from __future__ import annotations

import pytest

from .conftest import TOKEN

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE_ID = "20240101T000000000Z-abcdef01"


def state_changing_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app routes that is not a read, from its own route table."""
    out = []
    for path, ops in app.openapi()["paths"].items():
        for method in ops:
            if method.upper() in STATE_CHANGING:
                out.append((method.upper(), path.replace("{capture_id}", SAMPLE_ID).replace("{name}", "jpeg")))
    return out


def test_the_app_has_the_state_changing_routes_we_expect(box):
    routes = set(state_changing_routes(box.app))
    assert {
        ("POST", "/api/capture"),
        ("POST", "/api/spin"),
        ("POST", "/api/calibrate"),
        ("PUT", "/api/config"),
        ("PUT", "/api/preset"),
        ("POST", f"/api/review/{SAMPLE_ID}/approve"),
        ("POST", f"/api/review/{SAMPLE_ID}/reject"),
        ("POST", f"/api/captures/{SAMPLE_ID}/correct"),
    } <= routes


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789", ""])
def test_every_state_changing_route_refuses_a_call_without_the_right_token(box, token):
    before = len(box.service.store.ids())
    with box.client(token=token) as c:
        for method, path in state_changing_routes(box.app):
            r = c.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert r.headers.get("www-authenticate", "").startswith("Bearer")
    assert len(box.service.store.ids()) == before  # nothing was captured


def test_reading_needs_no_token(box):
    with box.client(token=None) as c:
        for path in (
            "/health/live",
            "/api/status",
            "/api/captures",
            "/api/review",
            "/api/presets",
            "/api/config",
            "/metrics",
            "/openapi.json",
            "/docs",
            "/",
        ):
            assert c.get(path).status_code == 200, path


def test_the_config_view_never_shows_the_token(box):
    with box.client(token=None) as c:
        cfg = c.get("/api/config").json()
    assert cfg["api"]["token"] == "***" and TOKEN not in str(cfg)


def test_cors_is_closed_by_default(box):
    with box.client(token=None) as c:
        r = c.options(
            "/api/capture", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in r.headers
        r = c.get("/api/status", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_cors_opens_only_to_configured_origins(box_factory):
    b = box_factory(cors_origins=["http://tablet.local:8080"])
    with b.client(token=None) as c:
        ok = c.options(
            "/api/capture",
            headers={
                "Origin": "http://tablet.local:8080",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert ok.headers.get("access-control-allow-origin") == "http://tablet.local:8080"
        other = c.get("/api/status", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
