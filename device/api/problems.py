"""What an error answer looks like, in the OpenAPI schema as on the wire.

Every refusal is `{"detail": "...", "problems": ["key: what is wrong", ...]}` (a 503 adds
`kind`), including FastAPI's own request validation, whose default schema (a list of
`ValidationError` objects) the box does not use: the schema is corrected so clients and
schemathesis read the same shape the box sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel


class Problem(BaseModel):
    detail: str
    problems: list[str] | None = None
    kind: str | None = None


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}},
        "kind": {"type": "string"},
    },
}

Responses = dict[int | str, dict[str, Any]]
# Answers any call can get: refused at the door, too big, invalid, or the box busy or broken.
COMMON_RESPONSES: Responses = {
    400: {"model": Problem, "description": "bad request (the detail says why)"},
    401: {"model": Problem, "description": "no token or session"},
    404: {"model": Problem, "description": "no such capture, artifact or preset"},
    413: {"description": "body larger than this route takes"},
    422: {"model": Problem, "description": "the request does not fit this schema; `problems` names each part"},
    503: {"model": Problem, "description": "the camera or the model is unavailable"},
}
# A change carried by the page's session cookie alone, sent from another site's page.
CROSS_SITE: Responses = {403: {"model": Problem, "description": "cross-site request refused"}}
# Well formed, but the box's state does not allow it (a camera that changed mode, a cancelled job).
CONFLICT: Responses = {
    409: {"model": Problem, "description": "refused in the box's present state (the detail says why)"}
}
CHANGE_RESPONSES: Responses = {**CROSS_SITE, **CONFLICT}


def use_problem_for_validation_errors(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemas = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = PROBLEM_SCHEMA
            schemas.pop("ValidationError", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
