"""A spin reports its progress ("view 3/6") and can be cancelled from the API; the API and
the MQTT commands refuse and accept the same requests."""

from __future__ import annotations

import json
import threading
import time

import pytest

from device.comms.commands import CommandDispatcher
from tests.api.conftest import spin_folder


def test_a_spin_reports_progress_and_can_be_cancelled(fresh_box):
    folder = spin_folder(fresh_box, 8)
    before = len(fresh_box.service.store.ids())
    with fresh_box.client() as c:
        c.put("/api/config", json={"source": {"path": str(folder)}, "turntable": {"settle_s": 0.4}}).raise_for_status()
        assert c.get("/api/job").json() == {"job": None}
        assert c.post("/api/cancel").json()["cancelling"] is False  # nothing to cancel
        answer = {}
        spin = threading.Thread(target=lambda: answer.update(r=c.post("/api/spin", json={"steps": 8})))
        spin.start()
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = c.get("/api/job").json()["job"]
            if job and job["done"] >= 2:
                seen.append(job)
                break
            if job:
                seen.append(job)
            time.sleep(0.05)
        assert seen and seen[-1]["kind"] == "spin" and seen[-1]["total"] == 8
        assert seen[-1]["stage"] == f"view {seen[-1]['done']}/8"
        assert c.get("/api/status").json()["job"]["kind"] == "spin"  # the page's poll sees it too
        r = c.post("/api/cancel")
        assert r.json()["cancelling"] is True
        spin.join(60)
        r = answer["r"]
        assert r.status_code == 409 and "cancelled after view" in r.json()["detail"], r.text
        stopped_at = int(r.json()["detail"].split("view ")[1].split("/")[0])
        assert 2 <= stopped_at < 8
        assert c.get("/api/job").json() == {"job": None}
        assert len(fresh_box.service.store.ids()) == before  # a cancelled set keeps nothing
        # and the box works on: the next spin runs to the end
        c.put("/api/config", json={"turntable": {"settle_s": 0}}).raise_for_status()
        assert len(c.post("/api/spin", json={"steps": 2}).json()["captures"]) == 2


BAD = [
    ("spin", {"steps": 361}),
    ("spin", {"steps": 2.5}),
    ("spin", {"steps": "3"}),
    ("spin", {"sku": "a/b"}),
    ("capture", {"sku": "has space inside"}),
    ("capture", {"preset": "x" * 65}),
    ("capture", {"skew": 1}),
    ("calibrate", {"frames": True}),
    ("calibrate", {"frames": 65}),
]


@pytest.mark.parametrize("verb,body", BAD)
def test_the_api_and_mqtt_refuse_the_same_requests(box, verb, body):
    before = len(box.service.store.ids())
    with box.client() as c:
        r = c.post(f"/api/{verb}", json=body)
    assert r.status_code == 422, r.text
    reply = CommandDispatcher(box.service).handle(verb, json.dumps(body).encode())
    assert reply["ok"] is False and reply["error"] == "invalid request", reply
    # the same field is named by both
    assert r.json()["problems"][0].split(":")[0] == reply["details"][0].split(":")[0]
    assert len(box.service.store.ids()) == before


def test_both_clean_a_scanned_sku_alike(box):
    with box.client() as c:
        api = c.post("/api/capture", json={"sku": "  SKU-9 "}).json()
    mqtt = CommandDispatcher(box.service).handle("capture", b'{"sku": "  SKU-9 "}')
    assert api["sku"] == mqtt["result"]["sku"] == "SKU-9"


def test_oversized_presets_and_stroke_lists_are_refused_before_any_work(box):
    with box.client() as c:
        r = c.put("/api/config", json={"compose": {"presets": {"huge": {"width": 20000, "height": 20000}}}})
        assert r.status_code == 422 and r.json()["problems"][0].startswith("compose.presets.huge.width")
        cid = c.post("/api/capture", json={}).json()["id"]
        many_lines = {"keep": [[[1, 1]]] * 201}
        r = c.post(f"/api/captures/{cid}/correct", json=many_lines)
        assert r.status_code == 422 and r.json()["problems"][0].startswith("keep")
        many_points = {"keep": [[[i % 50, i % 40] for i in range(10_001)]] * 2}
        started = time.monotonic()
        r = c.post(f"/api/captures/{cid}/correct", json=many_points)
        assert r.status_code == 422 and "20000 points" in r.text
        assert time.monotonic() - started < 5  # refused on its size, not after 20,000 points of work
        assert c.get("/health/live").status_code == 200


def test_re_exporting_a_spin_view_takes_its_whole_set_along_with_one_crop_box(fresh_box):
    folder = spin_folder(fresh_box, 3)
    with fresh_box.client() as c:
        c.put("/api/config", json={"source": {"path": str(folder)}, "turntable": {"settle_s": 0}}).raise_for_status()
        views = c.post("/api/spin", json={"steps": 3, "sku": "SPIN-1"}).json()["captures"]
        spin_id = views[0]["meta"]["spin_id"]
        lone = c.post("/api/capture", json={"sku": "LONE-1"}).json()
        r = c.post(f"/api/captures/{views[1]['id']}/reexport", json={"preset": "marketplace-white"})
        assert r.status_code == 200, r.text
        again = [c.get(f"/api/captures/{v['id']}").json() for v in views]
        assert [m["preset"] for m in again] == ["marketplace-white"] * 3
        assert {m["meta"]["spin_id"] for m in again} == {spin_id}
        assert [m["meta"]["spin_index"] for m in again] == [0, 1, 2]
        assert [m["meta"]["angle"] for m in again] == [v["meta"]["angle"] for v in views]
        boxes = {tuple(m["meta"]["spin_box"]) for m in again}
        assert len(boxes) == 1  # one crop box for the whole set, as when it was shot
        assert all("jpeg" in {a["name"] for a in m["artifacts"]} for m in again)  # marketplace-white's files
        assert all(m["sku"] == "SPIN-1" and m["meta"]["reexported_from"] == "transparent-png" for m in again)
        assert c.get(f"/api/captures/{lone['id']}").json()["preset"] == "transparent-png"  # not of the set
