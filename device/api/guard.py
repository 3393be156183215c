"""The door of the API: who may call, checked before anything of the request is read.

A shared warehouse LAN means anyone can send a request, so an anonymous one is answered
from its headers alone: no body byte is read and nothing is parsed until the token (or
the page's session cookie) checks out. Body sizes are capped by FastAPI's own
`max_body_size` (an app-wide default, raised on the few routes that take pictures or
settings), which refuses a declared Content-Length at once and cuts a streamed body off
at the cap. Every answer also carries the page's security headers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlparse

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from device.api.auth import SESSION_COOKIE, bearer_of, session_valid, token_matches

KiB, MiB = 1024, 1024 * 1024
DEFAULT_BODY_LIMIT = 64 * KiB  # commands: capture, spin, calibrate, review, login
CONFIG_BODY_LIMIT = 256 * KiB  # a settings patch
CORRECTION_BODY_LIMIT = 17 * MiB  # a painted stroke layer as base64 PNG, or polylines
UPLOAD_BODY_LIMIT = 32 * MiB  # a background picture for a preset

# Reachable without the token: the page's shell and scripts (they hold no data), the
# health checks for systemd and load balancers, and the login itself.
PUBLIC_PREFIXES = ("/static/", "/health/")
PUBLIC_PATHS = {"/", "/favicon.ico", "/api/login", "/api/logout", "/api/session"}
READ_METHODS = {"GET", "HEAD"}

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# /docs (only when api.docs is set) is FastAPI's Swagger page: an inline script and a CDN.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def _answer(send: Send, status: int, detail: str, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers + SECURITY_HEADERS})
    await send({"type": "http.response.body", "body": body})


def _same_origin(headers: Headers) -> bool:
    """A state change carried by the cookie alone must come from the box's own page."""
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlparse(origin).netloc == headers.get("host", "")


class RequestGuard:
    """Token or session cookie before the app sees the request; reads may be opened by config."""

    def __init__(self, app: ASGIApp, *, token: str, open_reads: bool) -> None:
        self.app = app
        self.token = token
        self.open_reads = open_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method == "OPTIONS" or is_public(path) or (method in READ_METHODS and self.open_reads):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if token_matches(self.token, bearer_of(headers.get("authorization"))):
            await self.app(scope, receive, send)
            return
        cookie = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        if not session_valid(self.token, cookie):
            await _answer(
                send,
                401,
                "missing or wrong bearer token (or log in on the page)",
                [(b"www-authenticate", b'Bearer realm="cutbox"')],
            )
            return
        if method not in READ_METHODS and not _same_origin(headers):
            await _answer(send, 403, "cross-site request refused")
            return
        await self.app(scope, receive, send)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class SecurityHeaders:
    """CSP, no framing, no sniffing, no referrer on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        docs = scope["path"] == "/docs"

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if docs:
                    extra = [(k, DOCS_CSP.encode() if k == b"content-security-policy" else v) for k, v in extra]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
