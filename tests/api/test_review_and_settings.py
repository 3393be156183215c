"""The review queue (approve, reject), presets and validated config updates."""

from __future__ import annotations

import cv2


def test_captures_under_the_threshold_wait_for_review_and_leave_on_a_decision(fresh_box):
    with fresh_box.client() as c:
        r = c.put("/api/config", json={"api": {"review_threshold": 1.0}})  # everything is doubtful now
        assert r.status_code == 200 and r.json()["restart_required"] == []
        first = c.post("/api/capture").json()
        second = c.post("/api/capture").json()
        assert first["review"] is True and first["review_state"] == "pending"
        queue = [m["id"] for m in c.get("/api/review").json()]
        assert queue == [second["id"], first["id"]]
        assert c.get("/api/status").json()["review_queue"] == 2
        assert c.post(f"/api/review/{first['id']}/approve").json()["review_state"] == "approved"
        assert c.post(f"/api/review/{second['id']}/reject").json()["review_state"] == "rejected"
        assert c.get("/api/review").json() == []
        assert c.post("/api/review/20990101T000000000Z-00000000/approve").status_code == 404
        c.put("/api/config", json={"api": {"review_threshold": 0.0}}).raise_for_status()
        assert c.post("/api/capture").json()["review_state"] == "none"


def test_presets_are_listed_and_switched(fresh_box):
    with fresh_box.client() as c:
        p = c.get("/api/presets").json()
        assert p["current"] == "transparent-png" and "marketplace-white" in p["presets"]
        assert c.put("/api/preset", json={"name": "marketplace-white"}).json()["current"] == "marketplace-white"
        assert c.post("/api/capture").json()["preset"] == "marketplace-white"
        r = c.put("/api/preset", json={"name": "nope"})
        assert r.status_code == 404 and "transparent-png" in r.json()["detail"]


def test_config_updates_are_validated_and_errors_name_the_key(fresh_box):
    with fresh_box.client() as c:
        r = c.put("/api/config", json={"segment": {"threads": 0}})
        assert r.status_code == 422 and any(p.startswith("segment.threads") for p in r.json()["problems"])
        r = c.put("/api/config", json={"compose": {"presets": {"transparent-png": {"bogus": 1}}}})
        assert r.status_code == 422 and any(
            "compose.presets.transparent-png.bogus" in p and "unknown key" in p for p in r.json()["problems"]
        )
        r = c.put("/api/config", json={"nosuchsection": {}})
        assert r.status_code == 422 and "nosuchsection" in r.text
        r = c.put("/api/config", json=["not", "an", "object"])
        assert r.status_code == 422
        # A good change applies at once; the background of the current preset becomes a colour.
        r = c.put(
            "/api/config",
            json={
                "compose": {
                    "presets": {
                        "transparent-png": {
                            "background": "color",
                            "color": "#ff0000",
                            "formats": ["jpeg", "mask", "meta"],
                        }
                    }
                }
            },
        )
        assert r.status_code == 200 and r.json()["changed"] == ["compose"]
        assert c.get("/api/config").json()["compose"]["presets"]["transparent-png"]["color"] == "#ff0000"
        meta = c.post("/api/capture").json()
        assert "jpeg" in {a["name"] for a in meta["artifacts"]}
        # Keys that only take effect after a restart are named.
        r = c.put("/api/config", json={"api": {"port": 9999}, "mqtt": {"keepalive_s": 60}})
        assert set(r.json()["restart_required"]) == {"api.port", "mqtt"}
        # The redacted token round-trips without changing the token.
        cfg = c.get("/api/config").json()
        c.put("/api/config", json={"api": cfg["api"]}).raise_for_status()
        assert c.post("/api/capture").status_code == 200


def test_a_correction_is_rescored_and_stays_in_review_while_below_the_threshold(fresh_box):
    # A badly out-of-focus shot: the model cannot find a clean edge, it scores far below 0.5.
    hard = fresh_box.photos.with_name("hard")
    hard.mkdir()
    photo = cv2.imread(str(fresh_box.photos / "shoes.jpg"))
    cv2.imwrite(str(hard / "blurred.jpg"), cv2.GaussianBlur(photo, (0, 0), 25))
    with fresh_box.client() as c:
        c.put("/api/config", json={"source": {"path": str(hard)}}).raise_for_status()
        meta = c.post("/api/capture").json()
        cid, w, h = meta["id"], meta["frame"]["width"], meta["frame"]["height"]
        assert meta["review_state"] == "pending" and meta["quality"] < 0.5
        # A small fix does not make it a good cut-out: re-scored, still doubtful, still queued.
        fixed = c.post(f"/api/captures/{cid}/correct", json={"keep": [[[10, 25], [40, 25]]], "brush_px": 8}).json()
        assert fixed["corrections"] == 1 and fixed["updated"] > meta["updated"]
        assert fixed["meta"]["quality"]["score"] == fixed["quality"] < 0.5  # the new matte's own score
        assert fixed["review"] is True and fixed["review_state"] == "pending"
        assert cid in [m["id"] for m in c.get("/api/review").json()]
        # Once its score clears the threshold, a correction takes it out of the queue.
        c.put("/api/config", json={"api": {"review_threshold": 0.0}}).raise_for_status()
        fixed = c.post(f"/api/captures/{cid}/correct", json={"remove": [[[w - 30, h - 30]]], "brush_px": 8}).json()
        assert fixed["corrections"] == 2
        assert fixed["review"] is False and fixed["review_state"] == "corrected"
        assert cid not in [m["id"] for m in c.get("/api/review").json()]
