"""The gallery's API: captures found by SKU, day and review state, one ZIP per selection,
deletion with the token."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile


def test_search_download_and_delete(fresh_box):
    with fresh_box.client() as c:
        a = c.post("/api/capture", json={"sku": "SHIRT-1"}).json()
        b = c.post("/api/capture", json={"sku": "SHOE-2"}).json()
        today = dt.date.today().isoformat()
        assert [m["id"] for m in c.get("/api/captures", params={"sku": "shirt"}).json()] == [a["id"]]
        assert len(c.get("/api/captures", params={"day": today}).json()) == 2
        assert c.get("/api/captures", params={"day": "2001-01-01"}).json() == []
        assert c.get("/api/captures", params={"day": "yesterday"}).status_code == 422
        assert c.get("/api/captures", params={"review_state": "bogus"}).status_code == 422
        state = a["review_state"]
        assert a["id"] in [m["id"] for m in c.get("/api/captures", params={"review_state": state}).json()]

        r = c.get("/api/captures.zip", params={"day": today, "sku": "SH"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert f"cutbox-{today}-SH.zip" in r.headers["content-disposition"]
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert any(n.startswith(f"SHIRT-1/{a['id']}/") and n.endswith(".png") for n in names)
        assert any(n.startswith(f"SHOE-2/{b['id']}/") for n in names)
        assert f"SHIRT-1/{a['id']}/original.jpg" in names
        assert c.get("/api/captures.zip", params={"sku": "NOTHING"}).status_code == 404

        # One capture: its original, alpha, every exported file and the box's meta, byte for byte.
        r = c.get(f"/api/captures/{a['id']}/zip")
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert f"cutbox-SHIRT-1-{a['id']}.zip" in r.headers["content-disposition"]
        assert r.headers["cache-control"] == "no-store, private"
        zf = zipfile.ZipFile(io.BytesIO(r.content))
        folder = f"SHIRT-1/{a['id']}/"
        assert all(n.startswith(folder) for n in zf.namelist())
        for art in a["artifacts"]:
            assert (
                zf.read(folder + art["filename"]) == c.get(f"/api/captures/{a['id']}/artifacts/{art['name']}").content
            )
        assert zf.read(folder + "alpha.png") == c.get(f"/api/captures/{a['id']}/artifacts/alpha").content
        assert zf.read(folder + "original.jpg") == c.get(f"/api/captures/{a['id']}/artifacts/original").content
        assert json.loads(zf.read(folder + "meta.json"))["id"] == a["id"]
        assert c.get("/api/captures/20990101T000000000Z-00000000/zip").status_code == 404

        with fresh_box.client(token=None) as anon:
            assert anon.delete(f"/api/captures/{a['id']}").status_code == 401
            assert anon.get("/api/captures.zip").status_code == 401
            assert anon.get(f"/api/captures/{a['id']}/zip").status_code == 401
        r = c.delete(f"/api/captures/{a['id']}")
        assert r.status_code == 200 and r.json()["deleted"] == a["id"] and r.json()["bytes"] > 0
        assert c.get(f"/api/captures/{a['id']}").status_code == 404
        assert c.delete(f"/api/captures/{a['id']}").status_code == 404
        assert [m["id"] for m in c.get("/api/captures").json()] == [b["id"]]
