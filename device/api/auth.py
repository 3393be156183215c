"""Who may call: the box's bearer token, or the session cookie a page login sets.

Every call that changes state needs one of them, and so do reads unless `api.open_reads`
is set, because the captures are a customer's product photos and the LAN is shared. The
page cannot put a header on `<img>` and MJPEG requests, so `POST /api/login` trades the token
for an HttpOnly, SameSite=Strict cookie that the browser sends with them. The cookie is
signed with the token itself: it survives a restart of the box and dies when the token
changes. The check runs in `RequestGuard` before a body is read; the route dependencies
below repeat it so the OpenAPI schema shows which calls need it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

SESSION_COOKIE = "cutbox_session"
bearer = HTTPBearer(auto_error=False, description="The box's API token (api.token / api.token_file)")


def _sign(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"cutbox-session:{expires}".encode(), hashlib.sha256).hexdigest()


def session_value(token: str, lifetime_s: float, now: float | None = None) -> str:
    """A cookie value good for `lifetime_s`: `<expiry>.<hmac>`."""
    expires = int((now or time.time()) + lifetime_s)
    return f"{expires}.{_sign(token, expires)}"


def session_valid(token: str, value: str | None, now: float | None = None) -> bool:
    if not value or "." not in value:
        return False
    expires_text, _, mac = value.partition(".")
    if not expires_text.isdigit() or int(expires_text) < (now or time.time()):
        return False
    return hmac.compare_digest(mac.encode(), _sign(token, int(expires_text)).encode())


def token_matches(token: str, given: str | None) -> bool:
    return given is not None and bool(given) and hmac.compare_digest(given.encode(), token.encode())


def bearer_of(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def unauthorized() -> HTTPException:
    return HTTPException(
        status_code=401,
        detail="missing or wrong bearer token (or log in on the page)",
        headers={"WWW-Authenticate": 'Bearer realm="cutbox"'},
    )


def _authenticated(request: Request, creds: HTTPAuthorizationCredentials | None) -> bool:
    token: str = request.app.state.token
    given = creds.credentials if creds is not None and creds.scheme.lower() == "bearer" else None
    return token_matches(token, given) or session_valid(token, request.cookies.get(SESSION_COOKIE))


def require_token(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    """For calls that change state."""
    if not _authenticated(request, creds):
        raise unauthorized()


def require_reader(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    """For calls that read: the token, unless `api.open_reads`."""
    if not request.app.state.open_reads and not _authenticated(request, creds):
        raise unauthorized()
