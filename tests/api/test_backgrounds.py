"""Preset background pictures come from an upload into the data folder: checked, stored as
PNG, then usable by a preset (a path outside the folders stays refused)."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_an_uploaded_background_is_used_by_a_preset(fresh_box):
    teal = np.zeros((300, 400, 3), np.uint8)
    teal[:] = (0, 128, 128)
    with fresh_box.client() as c:
        r = c.put("/api/backgrounds/studio-teal", content=png_bytes(teal), headers={"Content-Type": "image/png"})
        assert r.status_code == 200, r.text
        up = r.json()
        assert (up["width"], up["height"]) == (400, 300) and up["path"].startswith(str(fresh_box.data))
        preset = {"background": "image", "image": up["path"], "width": 400, "height": 400, "formats": ["jpeg"]}
        r = c.put("/api/config", json={"compose": {"presets": {"teal": preset}}})
        assert r.status_code == 200, r.text
        meta = c.post("/api/capture", json={"preset": "teal"}).json()
        jpeg = c.get(f"/api/captures/{meta['id']}/artifacts/jpeg").content
        out = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
        assert np.abs(out[3, 3].astype(int) - [0, 128, 128]).max() < 12  # the corner is the uploaded teal


def test_hostile_uploads_are_refused_with_a_reason(fresh_box):
    with fresh_box.client() as c:
        assert c.put("/api/backgrounds/x", content=b"not an image at all").status_code == 400
        assert c.put("/api/backgrounds/../etc", content=b"x").status_code in (400, 404)
        assert c.put("/api/backgrounds/Bad Name", content=png_bytes(np.zeros((8, 8, 3), np.uint8))).status_code == 422
        bomb = Image.new("L", (9000, 9000))  # 81 MP: over the limit, refused from its header
        buf = io.BytesIO()
        bomb.save(buf, format="PNG")
        r = c.put("/api/backgrounds/bomb", content=buf.getvalue())
        assert r.status_code == 400, r.text
        assert c.put("/api/backgrounds/big", content=b"\0" * (33 * 1024 * 1024)).status_code == 413
    with fresh_box.client(token=None) as anon:
        assert anon.put("/api/backgrounds/x", content=b"x").status_code == 401
    assert not list((fresh_box.data / "backgrounds").glob("*")) if (fresh_box.data / "backgrounds").exists() else True
