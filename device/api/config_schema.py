"""The JSON schema of a settings patch (`PUT /api/config`), as the OpenAPI document shows it.

A patch is cutbox.toml's sections with any subset of their keys, so its schema is the config
models' own with nothing required, less the keys only the config file may set (`station.*`,
secrets' files, TLS files, the outbox): a client or a schema-driven test sees exactly which
keys and values the box takes. What the schema cannot say (a rule between keys, a path
outside the box's folders, a model that does not load) is answered 409, not 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from device.box.path_roots import FILE_ONLY_KEYS
from device.config import CutboxConfig

PATCH_NAME = "ConfigPatch"
REF_PREFIX = "#/components/schemas/"


def _strip_required(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for value in node.values():
            _strip_required(value)
    elif isinstance(node, list):
        for value in node:
            _strip_required(value)


def _drop_key(schema: dict[str, Any], dotted: str) -> None:
    """Remove `a.b.c` from the (inlined) schema."""
    node = schema
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.get("properties", {}).get(part, {})
    node.get("properties", {}).pop(last, None)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with each `$ref` replaced by its definition (the config has no cycles), and
    without defaults: a patch leaves out what it keeps, and inline schemas generate faster."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].removeprefix(REF_PREFIX)], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "default"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def config_patch_schema() -> dict[str, Any]:
    full = CutboxConfig.model_json_schema(ref_template=REF_PREFIX + "{model}")
    patch = _inline(full, full.pop("$defs", {}))
    patch["properties"].pop("station", None)
    for key in sorted(FILE_ONLY_KEYS):
        if not key.startswith("station."):
            _drop_key(patch, key)
    _strip_required(patch)
    patch["title"] = PATCH_NAME
    patch["description"] = "Any sections and keys of cutbox.toml; what is left out keeps its value."
    return patch


PATCH_BODY = {"$ref": REF_PREFIX + PATCH_NAME, "examples": [{"compose": {"preset": "transparent-png"}}]}


def use_config_patch_schema(app: FastAPI) -> None:
    """Put the patch schema into the app's OpenAPI document under `ConfigPatch`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        if PATCH_NAME not in schemas:
            schemas[PATCH_NAME] = config_patch_schema()
            put = schema["paths"]["/api/config"]["put"]
            put["requestBody"] = {"required": True, "content": {"application/json": {"schema": PATCH_BODY}}}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
