"""Bearer-token check for every call that changes state.

Read-only calls stay open so a wall display or Prometheus can poll; anything that takes a
picture, moves the turntable, edits config or decides a review needs the token. The token
comes from `api.token`, `api.token_file` or a generated `<data_dir>/api-token`.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False, description="The box's API token (api.token / api.token_file)")


def require_token(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    expected: str = request.app.state.token
    given = creds.credentials if creds is not None and creds.scheme.lower() == "bearer" else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="cutbox"'},
        )
