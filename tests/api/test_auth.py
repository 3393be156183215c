"""Who may call: the token (or the page's session cookie) guards changes and reads; the login
cookie is HttpOnly and SameSite=Strict; only the box's own host names are answered; every
answer carries the security headers; CORS is closed."""

from __future__ import annotations

import httpx
import pytest

from device.api.auth import SESSION_COOKIE
from tests.box_config import TOKEN

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE_ID = "20240101T000000000Z-abcdef01"
PUBLIC = {"/api/login", "/api/logout", "/api/session", "/health/live", "/health/ready"}


def routes(app, methods: set[str]) -> list[tuple[str, str]]:
    """Every (method, path) the app routes with one of `methods`, from its own route table."""
    out = []
    for path, ops in app.openapi()["paths"].items():
        for method in ops:
            if method.upper() in methods and path not in PUBLIC:
                out.append((method.upper(), path.replace("{capture_id}", SAMPLE_ID).replace("{name}", "jpeg")))
    return out


def test_the_app_has_the_state_changing_routes_we_expect(box):
    assert {
        ("POST", "/api/capture"),
        ("POST", "/api/spin"),
        ("POST", "/api/calibrate"),
        ("PUT", "/api/config"),
        ("PUT", "/api/preset"),
        ("POST", f"/api/review/{SAMPLE_ID}/approve"),
        ("POST", f"/api/review/{SAMPLE_ID}/reject"),
        ("POST", f"/api/captures/{SAMPLE_ID}/correct"),
    } <= set(routes(box.app, STATE_CHANGING))


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789", ""])
def test_every_state_changing_route_refuses_a_call_without_the_right_token(box, token):
    before = len(box.service.store.ids())
    with box.client(token=token) as c:
        for method, path in routes(box.app, STATE_CHANGING):
            r = c.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert r.headers.get("www-authenticate", "").startswith("Bearer")
    assert len(box.service.store.ids()) == before  # nothing was captured


def test_reading_needs_the_token_by_default(box):
    reads = routes(box.app, {"GET"}) + [("GET", "/openapi.json")]
    assert ("GET", "/api/captures") in reads and ("GET", "/api/preview.mjpeg") in reads
    with box.client(token=None) as c:
        for method, path in reads:
            assert c.request(method, path).status_code == 401, path
        # Only the page's shell, its scripts, the health checks and the login stay open.
        for path in ("/", "/static/app.js", "/health/live", "/api/session"):
            assert c.get(path).status_code == 200, path
    with box.client() as c:
        assert c.get("/api/captures").status_code == 200 and c.get("/openapi.json").status_code == 200


def test_reads_can_be_opened_by_config_while_changes_stay_guarded(box_factory):
    b = box_factory(open_reads=True)
    with b.client(token=None) as c:
        for path in ("/api/status", "/api/captures", "/api/review", "/api/presets", "/api/config", "/metrics"):
            assert c.get(path).status_code == 200, path
        assert c.post("/api/capture", json={}).status_code == 401


def test_the_login_sets_an_httponly_strict_cookie_that_opens_reads_and_changes(box):
    with httpx.Client(base_url=box.url, timeout=60) as c:
        assert c.post("/api/login", json={"token": "wrong-token-0123456789"}).status_code == 401
        assert c.get("/api/session").json()["authenticated"] is False
        r = c.post("/api/login", json={"token": TOKEN})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=") and TOKEN not in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
        assert c.get("/api/session").json()["authenticated"] is True
        assert c.get("/api/captures").status_code == 200
        assert c.post("/api/calibrate", json={"frames": 0}).status_code == 422  # past the door, refused on content
        # A state change that rides on the cookie from another site's page is refused.
        r = c.post("/api/capture", json={}, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        c.post("/api/logout")
        assert c.get("/api/captures").status_code == 401


def test_a_forged_or_expired_session_cookie_is_refused(box):
    from device.api.auth import session_value

    forged = session_value("another-token-0123456789", 3600)
    expired = session_value(TOKEN, -10)
    for value in (forged, expired, "9999999999.00", "garbage"):
        with httpx.Client(base_url=box.url, cookies={SESSION_COOKIE: value}, timeout=30) as c:
            assert c.get("/api/captures").status_code == 401, value


def test_only_the_box_own_host_names_are_answered(box):
    with box.client() as c:
        assert c.get("/api/status", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding
        assert c.get("/api/status", headers={"Host": "localhost"}).status_code == 200


def test_trusted_hosts_are_configurable(box_factory):
    b = box_factory(trusted_hosts=["booth-7.example"])
    with b.client() as c:
        assert c.get("/health/live").status_code == 400  # 127.0.0.1 is not on the list now
        assert c.get("/health/live", headers={"Host": "booth-7.example"}).status_code == 200


def test_every_answer_carries_the_security_headers_and_artifacts_are_not_stored(box):
    with box.client() as c:
        for path in ("/", "/api/status", "/api/captures/nope"):
            h = c.get(path).headers
            assert "frame-ancestors 'none'" in h["content-security-policy"], path
            assert "script-src 'self'" in h["content-security-policy"]
            assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert c.get("/docs").status_code == 404  # no Swagger page that would load from a CDN
        meta = c.post("/api/capture", json={}).json()
        art = c.get(f"/api/captures/{meta['id']}/artifacts/original")
        assert "no-store" in art.headers["cache-control"]


def test_capture_meta_names_no_server_path(box):
    with box.client() as c:
        meta = c.post("/api/capture", json={}).json()
    assert str(box.photos) not in str(meta) and str(box.data) not in str(meta)
    assert meta["frame"]["source"].startswith("file:") and "/" not in meta["frame"]["source"]


def test_the_config_view_never_shows_the_token(box):
    with box.client() as c:
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


def test_docs_can_be_turned_on_for_those_with_the_token(box_factory):
    b = box_factory(docs=True)
    with b.client(token=None) as c:
        assert c.get("/docs").status_code == 401
    with b.client() as c:
        r = c.get("/docs")
        assert r.status_code == 200 and "swagger" in r.text.lower()
        assert "cdn.jsdelivr.net" in r.headers["content-security-policy"]  # the page's own CSP stays strict
        assert "cdn.jsdelivr.net" not in c.get("/").headers["content-security-policy"]
