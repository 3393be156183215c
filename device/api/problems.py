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

# Answers any call can get: refused at the door, too big, invalid, or the box busy or broken.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "bad request (the detail says why)"},
    401: {"model": Problem, "description": "no token or session"},
    404: {"model": Problem, "description": "no such capture or artifact"},
    413: {"description": "body larger than this route takes"},
    503: {"model": Problem, "description": "the camera or the model is unavailable"},
}


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
