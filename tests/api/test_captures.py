"""Capture, list, fetch and correct captures through the HTTP API of a real server."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_a_capture_is_stored_scored_and_downloadable(box):
    with box.client() as c:
        r = c.post("/api/capture", json={"sku": "SKU-123"})
        assert r.status_code == 200, r.text
        meta = r.json()
        assert meta["sku"] == "SKU-123" and meta["preset"] == "transparent-png"
        assert 0.0 <= meta["quality"] <= 1.0 and meta["review_state"] in ("pending", "none")
        assert meta["review"] == (meta["quality"] < box.service.config.api.review_threshold)  # threshold 0.5 in tests
        assert {"segment", "matte", "compose", "export", "quality"} <= set(meta["timings_ms"])
        names = {a["name"] for a in meta["artifacts"]}
        assert {"png", "mask"} <= names
        png = c.get(f"/api/captures/{meta['id']}/artifacts/png")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png_pixels(png.content).shape[2] == 4  # RGBA: transparent background
        original = png_pixels(c.get(f"/api/captures/{meta['id']}/artifacts/original").content)
        alpha = png_pixels(c.get(f"/api/captures/{meta['id']}/artifacts/alpha").content)
        assert original.shape[:2] == alpha.shape == (meta["frame"]["height"], meta["frame"]["width"])
        small = png_pixels(c.get(f"/api/captures/{meta['id']}/artifacts/original", params={"max_side": 100}).content)
        assert max(small.shape[:2]) == 100
        assert c.get(f"/api/captures/{meta['id']}").json()["id"] == meta["id"]
        assert meta["id"] in [m["id"] for m in c.get("/api/captures").json()]


def test_a_capture_can_name_another_preset(box):
    with box.client() as c:
        meta = c.post("/api/capture", json={"preset": "marketplace-white"}).json()
        assert meta["preset"] == "marketplace-white"
        jpeg = c.get(f"/api/captures/{meta['id']}/artifacts/jpeg")
        assert jpeg.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(jpeg.content)).size == (2000, 2000)


def test_bad_capture_requests_get_clear_errors(box):
    with box.client() as c:
        r = c.post("/api/capture", json={"preset": "no-such-preset"})  # no such preset: 404, naming the known ones
        assert r.status_code == 404 and "marketplace-white" in r.json()["detail"]
        r = c.post("/api/capture", json={"sku": "../../etc"})
        assert r.status_code == 422 and any(p.startswith("sku") for p in r.json()["problems"])
        r = c.post("/api/capture", json={"bogus": 1})
        assert r.status_code == 422
        assert c.get("/api/captures/20990101T000000000Z-00000000").status_code == 404
        assert c.get("/health/live").json() == {"status": "ok"}  # still serving


def test_path_traversal_on_artifact_routes_is_refused(box):
    secret = box.data.parent / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    with box.client() as c:
        meta = c.post("/api/capture").json()
        cid = meta["id"]
        attempts = [
            f"/api/captures/{cid}/artifacts/..%2F..%2Fsecret.txt",
            f"/api/captures/{cid}/artifacts/%2e%2e",
            f"/api/captures/{cid}/artifacts/meta.json",
            "/api/captures/..%2F..%2F/artifacts/jpeg",
            "/api/captures/%2e%2e/artifacts/original",
            "/api/captures/..%2Fdata/artifacts/original",
            f"/api/captures/{cid}%2F..%2F..%2F/artifacts/original",
            f"/api/captures/{cid}/artifacts/%2Fetc%2Fpasswd",
            "/api/captures/%00/artifacts/original",
        ]
        for path in attempts:
            r = c.get(path)
            assert r.status_code in (400, 404, 405, 422), (path, r.status_code)
            assert b"SECRET-CONTENT" not in r.content and b"root:" not in r.content
        r = c.get(f"/api/captures/{cid}/artifacts/..%2Fmeta")
        assert r.status_code in (400, 404)


def test_a_correction_paints_the_alpha_and_replaces_the_capture(box):
    with box.client() as c:
        meta = c.post("/api/capture").json()
        cid, w, h = meta["id"], meta["frame"]["width"], meta["frame"]["height"]
        before = png_pixels(c.get(f"/api/captures/{cid}/artifacts/alpha").content)
        # Keep a patch of the top-left background, remove a band through the middle.
        keep = [[[10, 25], [60, 25]]]
        remove = [[[w * 0.3, h * 0.5], [w * 0.7, h * 0.5]]]
        r = c.post(f"/api/captures/{cid}/correct", json={"keep": keep, "remove": remove, "brush_px": 16})
        assert r.status_code == 200, r.text
        after_meta = r.json()
        assert after_meta["id"] == cid and after_meta["corrections"] == 1 and after_meta["review_state"] == "corrected"
        after = png_pixels(c.get(f"/api/captures/{cid}/artifacts/alpha").content)
        assert after[25, 35] == 255 and after[int(h * 0.5), int(w * 0.5)] == 0
        assert before[25, 35] < 255 or before[int(h * 0.5), int(w * 0.5)] > 0  # something did change
        old_png = {a["sha256"] for a in meta["artifacts"] if a["name"] == "png"}
        new_png = {a["sha256"] for a in after_meta["artifacts"] if a["name"] == "png"}
        assert old_png != new_png
        # A second correction adds to the first instead of forgetting it.
        c.post(f"/api/captures/{cid}/correct", json={"keep": [[[w - 40, h - 40]]], "brush_px": 20}).raise_for_status()
        again = png_pixels(c.get(f"/api/captures/{cid}/artifacts/alpha").content)
        assert again[25, 35] == 255 and again[int(h * 0.5), int(w * 0.5)] == 0 and again[h - 40, w - 40] == 255


def test_a_correction_from_a_painted_png_layer(box):
    with box.client() as c:
        meta = c.post("/api/capture").json()
        cid, w, h = meta["id"], meta["frame"]["width"], meta["frame"]["height"]
        layer = np.zeros((h // 2, w // 2, 4), np.uint8)  # half size: the server scales it
        layer[5:25, 5:40] = (0, 255, 0, 255)  # keep
        buf = io.BytesIO()
        Image.fromarray(layer, "RGBA").save(buf, "PNG")
        data_url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
        c.post(f"/api/captures/{cid}/correct", json={"mask_png": data_url}).raise_for_status()
        alpha = png_pixels(c.get(f"/api/captures/{cid}/artifacts/alpha").content)
        assert alpha[20:40, 20:70].min() == 255


def test_bad_corrections_are_refused_and_the_box_keeps_working(box):
    with box.client() as c:
        cid = c.post("/api/capture").json()["id"]
        assert c.post(f"/api/captures/{cid}/correct", json={"mask_png": "not base64!"}).status_code == 400
        assert c.post(f"/api/captures/{cid}/correct", json={"mask_png": "aGVsbG8="}).status_code == 400
        assert c.post(f"/api/captures/{cid}/correct", json={}).status_code == 422
        assert c.post(f"/api/captures/{cid}/correct", json={"keep": [[[1e300, -1e300], [5, 5]]]}).status_code == 200
        assert (
            c.post("/api/captures/20990101T000000000Z-00000000/correct", json={"keep": [[[1, 1]]]}).status_code == 404
        )
        assert c.post("/api/capture").status_code == 200


def test_a_capture_is_re_exported_in_another_preset_keeping_its_id_strokes_and_review(box):
    with box.client() as c:
        meta = c.post("/api/capture", json={"sku": "RE-1"}).json()
        cid, w, h = meta["id"], meta["frame"]["width"], meta["frame"]["height"]
        c.post(f"/api/captures/{cid}/correct", json={"remove": [[[w * 0.3, h * 0.5], [w * 0.7, h * 0.5]]]})
        fixed = c.get(f"/api/captures/{cid}").json()
        r = c.post(f"/api/captures/{cid}/reexport", json={"preset": "marketplace-white"})
        assert r.status_code == 200, r.text
        again = r.json()
        assert again["id"] == cid and again["sku"] == "RE-1" and again["preset"] == "marketplace-white"
        assert again["corrections"] == 1 and again["review_state"] == fixed["review_state"]
        assert again["meta"]["reexported_from"] == "transparent-png" and again["created"] == fixed["created"]
        jpeg = c.get(f"/api/captures/{cid}/artifacts/jpeg")
        assert jpeg.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(jpeg.content)).size == (2000, 2000)
        alpha = png_pixels(c.get(f"/api/captures/{cid}/artifacts/alpha").content)
        assert alpha[int(h * 0.5), int(w * 0.5)] == 0  # the correction's stroke still holds
        r = c.post(f"/api/captures/{cid}/reexport", json={"preset": "no-such"})
        assert r.status_code == 404 and "marketplace-white" in r.json()["detail"]
        assert (
            c.post("/api/captures/20990101T000000000Z-00000000/reexport", json={"preset": "lifestyle"}).status_code
            == 404
        )
        assert c.post(f"/api/captures/{cid}/reexport", json={}).status_code == 422
        assert c.get(f"/api/captures/{cid}").json()["preset"] == "marketplace-white"  # the refusals changed nothing
