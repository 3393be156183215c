"""The answers the OpenAPI document promises, one by one (the schemathesis run covers them all)."""

from __future__ import annotations


def test_a_method_a_path_does_not_serve_gets_405_listing_every_method_it_does(box):
    with box.client() as c:
        r = c.request("OPTIONS", "/api/captures/abc")
        assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET"
        r = c.patch("/api/config", json={})
        assert r.status_code == 405 and r.headers["allow"] == "GET, PUT"


def test_a_settings_patch_that_breaks_the_schema_is_422_and_one_that_breaks_a_rule_is_409(fresh_box):
    with fresh_box.client() as c:
        assert c.put("/api/config", json={"matte": {"work_px": "big"}}).status_code == 422
        r = c.put("/api/config", json={"compose": {"preset": "nope"}})  # a rule between keys
        assert r.status_code == 409 and r.json()["problems"][0].startswith("compose")
        r = c.put("/api/config", json={"export": {"webp_quality": 58.0}})  # JSON's 58.0 is 58
        assert r.status_code == 200 and r.json()["config"]["export"]["webp_quality"] == 58
        schema = c.get("/openapi.json").json()
        patch = schema["components"]["schemas"]["ConfigPatch"]
        assert "station" not in patch["properties"] and "token_file" not in patch["properties"]["api"]["properties"]


def test_path_names_and_days_are_checked_against_their_schema_patterns(box):
    with box.client() as c:
        assert c.get("/api/captures/bad.id").status_code == 422
        assert c.get("/api/captures/abc/artifacts/Bad").status_code == 422
        assert c.get("/api/captures", params={"day": "0"}).status_code == 422  # not 1970-01-01
        assert c.get("/api/captures", params={"day": "2026-12-07"}).status_code == 200
        assert c.post("/api/capture", json={"sku": " SKU-1\r\n"}).json()["sku"] == "SKU-1"
