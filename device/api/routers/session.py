"""The page's login: the token once, then an HttpOnly session cookie (see device.api.auth)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from device.api.auth import SESSION_COOKIE, session_valid, session_value, token_matches, unauthorized

router = APIRouter(prefix="/api", tags=["session"])


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(..., min_length=1, max_length=512, description="The box's API token")


@router.post("/login", responses={401: {"description": "wrong token"}}, max_body_size=4096)
def login(request: Request, body: Login, response: Response) -> dict:
    """Trade the token for a session cookie the page's images and live view carry."""
    state = request.app.state
    if not token_matches(state.token, body.token):
        raise unauthorized()
    lifetime = int(state.session_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(state.token, lifetime),
        max_age=lifetime,
        httponly=True,
        samesite="strict",
        secure=state.tls,
        path="/",
    )
    return {"authenticated": True, "expires_in_s": lifetime}


@router.post("/logout", max_body_size=4096)
def logout(response: Response) -> dict:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return {"authenticated": False}


@router.get("/session")
def session(request: Request) -> dict:
    """Whether this browser is logged in, and whether reads are open without it."""
    state = request.app.state
    return {
        "authenticated": session_valid(state.token, request.cookies.get(SESSION_COOKIE)),
        "open_reads": state.open_reads,
    }
