"""The page's tools for one capture and for the booth, in real headless Chromium: export a
capture again in another preset, download it as a ZIP, calibrate with progress and a clear
result or error, zoom and pan in the brush editor, the flash when a job is done or fails."""

from __future__ import annotations

import io
import os
import re
import shutil
import time
import zipfile

import numpy as np
import pytest
from playwright.sync_api import expect

from .test_page import alpha_of, browser, latest_id, open_page  # noqa: F401  (the module's Chromium fixture)

pytestmark = pytest.mark.browser


def test_a_capture_is_exported_again_and_downloaded_from_the_result_card(browser, fresh_box):  # noqa: F811
    page, outside = open_page(browser, fresh_box.url)
    page.fill("#sku", "MUG-7")
    page.click("#capture-btn")
    expect(page.locator("#message")).to_contain_text("Captured", timeout=30_000)
    expect(page.locator("#flash")).to_have_attribute("data-last", "ok")
    cid = latest_id(fresh_box)
    expect(page.locator("#reexport-preset")).to_have_value("transparent-png")
    expect(page.locator("#reexport-btn")).to_be_disabled()  # the preset it already has
    page.select_option("#reexport-preset", "marketplace-white")
    page.click("#reexport-btn")
    expect(page.locator("#message")).to_contain_text("Exported again as marketplace-white", timeout=30_000)
    meta = fresh_box.service.store.meta(cid)
    assert meta["preset"] == "marketplace-white" and meta["sku"] == "MUG-7"
    expect(page.locator("#result-after")).to_have_attribute("src", re.compile(f"{cid}/artifacts/jpeg"))
    page.wait_for_function(
        "() => { const i = document.querySelector('#result-after'); return i.complete && i.naturalWidth > 0; }"
    )
    expect(page.locator("#flash")).to_have_attribute("data-count", "2")
    with page.expect_download() as dl:
        page.click("#download-one")
    assert dl.value.suggested_filename == f"cutbox-MUG-7-{cid}.zip"
    names = zipfile.ZipFile(io.BytesIO(open(dl.value.path(), "rb").read())).namelist()
    folder = f"MUG-7/{cid}/"
    exported = {folder + a["filename"] for a in meta["artifacts"]}
    assert any(n.endswith(".jpg") for n in exported)  # marketplace-white's JPEG, not the old PNG
    assert {folder + "original.jpg", folder + "alpha.png", folder + "meta.json"} | exported == set(names)
    assert outside == [] and page.js_errors == []
    page.context.close()


def test_calibrate_shows_its_progress_and_then_a_clear_error_or_result(browser, fresh_box, artifacts_dir):  # noqa: F811
    page, _ = open_page(browser, fresh_box.url)
    page.on("dialog", lambda d: d.accept())  # "take everything out of the booth"
    # The bundled photos differ in size: a camera that changes mode while calibrating.
    page.click("#calibrate-btn")
    expect(page.locator("#message")).to_contain_text("Calibration failed: frames changed size", timeout=30_000)
    expect(page.locator("#message")).to_have_class("error")
    expect(page.locator("#flash")).to_have_attribute("data-last", "bad")
    expect(page.locator("#calibrate-btn")).to_be_enabled()
    # A hot folder that gets one frame of the empty booth every 0.3 s: a camera's pace.
    hot = fresh_box.photos.with_name("hot")
    hot.mkdir()
    with fresh_box.client() as c:
        change = {
            "source": {"kind": "hotfolder", "path": str(hot), "poll_interval_s": 0.05},
            "booth": {"plate_frames": 6},
        }
        c.put("/api/config", json=change).raise_for_status()
    page.evaluate(
        """() => { window.jobTexts = [];
        new MutationObserver(() => window.jobTexts.push(document.querySelector('#job-text').textContent))
          .observe(document.querySelector('#job-text'), {childList: true, characterData: true, subtree: true}); }"""
    )
    page.click("#calibrate-btn")
    for i in range(6):
        time.sleep(0.3)
        shutil.copy(fresh_box.photos / "shoes.jpg", hot / f".frame{i}.tmp")
        os.replace(hot / f".frame{i}.tmp", hot / f"frame{i}.jpg")
    expect(page.locator("#message")).to_contain_text("Calibrated: a clean plate of 6 frames", timeout=60_000)
    expect(page.locator("#flash")).to_have_attribute("data-last", "ok")
    seen = page.evaluate("window.jobTexts")
    assert any(re.fullmatch(r"calibrate frame [1-5]/6", t) for t in seen), seen
    assert (fresh_box.data / "plate").is_dir()
    expect(page.locator("#job")).to_be_hidden()
    page.screenshot(path=str(artifacts_dir / "page-calibrated.png"))
    assert page.js_errors == []
    page.context.close()


def test_the_brush_editor_zooms_and_pans_and_paints_where_the_zoomed_picture_shows(browser, box, artifacts_dir):  # noqa: F811
    with box.client() as c:
        meta = c.post("/api/capture", json={}).json()
    cid = meta["id"]
    before = alpha_of(box, cid)
    h, w = before.shape
    page, _ = open_page(browser, box.url)
    page.locator(f"#gallery-list li[data-id='{cid}'] img").click()
    expect(page.locator("#editor")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#strokes').width === document.querySelector('#base').width")
    page.wait_for_timeout(200)
    whole = page.locator("#strokes").bounding_box()
    page.keyboard.press("+")
    expect(page.locator("#zoom-level")).to_have_text("150%")
    page.click("#zoom-in")
    expect(page.locator("#zoom-level")).to_have_text("225%")
    zoomed = page.locator("#strokes").bounding_box()
    assert zoomed["width"] == pytest.approx(whole["width"] * 2.25, rel=0.01)
    # The wheel zooms about the pointer: the picture's point under it stays under it.
    stack = page.locator("#canvas-stack").bounding_box()
    px, py = stack["x"] + stack["width"] * 0.4, stack["y"] + stack["height"] * 0.4
    b0 = page.locator("#strokes").bounding_box()
    fx, fy = (px - b0["x"]) / b0["width"], (py - b0["y"]) / b0["height"]
    page.mouse.move(px, py)
    page.mouse.wheel(0, -100)
    expect(page.locator("#zoom-level")).to_have_text("281%")
    b1 = page.locator("#strokes").bounding_box()
    assert b1["x"] + fx * b1["width"] == pytest.approx(px, abs=2)
    assert b1["y"] + fy * b1["height"] == pytest.approx(py, abs=2)
    # Pan: space + drag moves the picture and paints nothing.
    page.keyboard.down("Space")
    page.mouse.move(px, py)
    page.mouse.down()
    page.mouse.move(px + 60, py + 40, steps=5)
    page.mouse.up()
    page.keyboard.up("Space")
    b2 = page.locator("#strokes").bounding_box()
    assert (b2["x"] - b1["x"], b2["y"] - b1["y"]) == (pytest.approx(60, abs=2), pytest.approx(40, abs=2))
    assert page.evaluate("state.painted") is False
    # Paint a remove stroke on the zoomed picture: it lands where the picture showed it.
    page.click("#tool-remove")
    b = page.locator("#strokes").bounding_box()
    stack = page.locator("#canvas-stack").bounding_box()
    cx, cy = stack["x"] + stack["width"] / 2, stack["y"] + stack["height"] / 2
    fx, fy = (cx - b["x"]) / b["width"], (cy - b["y"]) / b["height"]
    page.mouse.move(cx - 10, cy)
    page.mouse.down()
    page.mouse.move(cx + 10, cy, steps=4)
    page.mouse.up()
    page.screenshot(path=str(artifacts_dir / "page-editor-zoomed.png"))
    page.click("#apply-correction")
    expect(page.locator("#message")).to_contain_text("Corrected", timeout=30_000)
    after = alpha_of(box, cid)
    assert after[int(fy * h), int(fx * w)] == 0
    far = (int((fy + 0.3) % 1 * h), int((fx + 0.3) % 1 * w))
    assert after[far] == before[far] or np.abs(int(after[far]) - int(before[far])) < 255
    expect(page.locator("#zoom-level")).to_have_text("281%")  # the view stays while correcting
    page.keyboard.press("0")
    expect(page.locator("#zoom-level")).to_have_text("100%")
    assert page.js_errors == []
    page.context.close()


def test_the_flash_can_be_turned_off_for_this_tablet(browser, box):  # noqa: F811
    page, _ = open_page(browser, box.url)
    page.click("#open-settings")
    page.uncheck("#flash-setting")
    page.click("#settings button[value=close]")
    page.click("#capture-btn")
    expect(page.locator("#message")).to_contain_text("Captured", timeout=30_000)
    assert page.get_attribute("#flash", "data-count") is None
    page.reload()
    page.click("#open-settings")
    expect(page.locator("#flash-setting")).not_to_be_checked()
    page.context.close()
