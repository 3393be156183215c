"""The operator page in a real headless Chromium against a real server: capture with the
button, paint a correction, work the review queue and settings, see the camera-lost banner."""

from __future__ import annotations

import io
import re
import shutil
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from device.api.auth import SESSION_COOKIE
from tests.box_config import TOKEN

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TABLET = {"width": 1024, "height": 768}


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str, *, token: str | None = TOKEN, viewport=TABLET) -> tuple[Page, list[str]]:
    """A fresh tablet-sized tab; any request that leaves the box is blocked and recorded."""
    context = browser.new_context(viewport=viewport)
    if token:  # log in as the page does: the token once, for a session cookie
        assert context.request.post(url + "/api/login", data={"token": token}).ok
    outside: list[str] = []
    host = urlparse(url).netloc

    def guard(route):
        if urlparse(route.request.url).netloc != host:
            outside.append(route.request.url)
            return route.abort()
        return route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    page.js_errors = errors  # type: ignore[attr-defined]
    return page, outside


def alpha_of(box, capture_id: str) -> np.ndarray:
    with box.client() as c:
        r = c.get(f"/api/captures/{capture_id}/artifacts/alpha")
    r.raise_for_status()
    return np.asarray(Image.open(io.BytesIO(r.content)))


def latest_id(box) -> str:
    with box.client() as c:
        return c.get("/api/captures", params={"limit": 1}).json()[0]["id"]


def test_the_page_logs_in_once_and_keeps_no_token(browser, box, artifacts_dir):
    page, outside = open_page(browser, box.url, token=None)
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    page.fill("#token-input", "wrong-token-0123456789")
    page.click("#token-save")
    expect(page.locator("#token-error")).to_contain_text("refused")
    page.fill("#token-input", TOKEN)
    page.click("#token-save")
    expect(dialog).to_be_hidden()
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
    assert TOKEN not in page.evaluate("JSON.stringify(localStorage) + document.cookie")
    # The live view (an <img>) carries the cookie: it shows frames, not a refusal.
    page.wait_for_function(
        "() => { const i = document.querySelector('#live'); return i.complete && i.naturalWidth > 0; }"
    )
    page.reload()
    expect(page.locator("#token-dialog")).to_be_hidden()
    page.click("#open-settings")
    page.click("#forget-token")
    expect(dialog).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert outside == [] and page.js_errors == []
    page.context.close()


def test_a_capture_with_the_button_shows_the_result(browser, box, artifacts_dir):
    page, outside = open_page(browser, box.url)
    before = len(box.service.store.ids())
    page.click("#capture-btn")
    expect(page.locator("#message")).to_contain_text("Captured", timeout=30_000)
    page.wait_for_function(
        "() => { const i = document.querySelector('#result-after'); return i.complete && i.naturalWidth > 0; }"
    )
    page.wait_for_function(
        "() => { const i = document.querySelector('#result-before'); return i.complete && i.naturalWidth > 0; }"
    )
    assert len(box.service.store.ids()) == before + 1
    shown = page.get_attribute("#result-after", "src")
    assert latest_id(box) in shown
    # The checkerboard sits behind the transparent cut-out.
    assert "gradient" in page.eval_on_selector(".pane.checker", "e => getComputedStyle(e).backgroundImage")
    page.wait_for_timeout(400)  # let the live view draw its first frame for the screenshot
    page.screenshot(path=str(artifacts_dir / "page-after-capture.png"))
    # The space bar takes the next one.
    first = latest_id(box)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Space")
    page.wait_for_function("id => !document.querySelector('#result-after').src.includes(id)", arg=first, timeout=30_000)
    assert len(box.service.store.ids()) == before + 2
    assert latest_id(box) in page.get_attribute("#result-after", "src")
    assert outside == [] and page.js_errors == []
    page.context.close()


def test_painting_a_correction_changes_the_alpha_where_painted(browser, box, artifacts_dir):
    page, _ = open_page(browser, box.url)
    page.click("#capture-btn")
    expect(page.locator("#message")).to_contain_text("Captured", timeout=30_000)
    cid = latest_id(box)
    before = alpha_of(box, cid)
    h, w = before.shape
    page.click("#fix-latest")
    expect(page.locator("#editor")).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('#base').width > 0 && document.querySelector('#strokes').width === document.querySelector('#base').width"
    )
    page.wait_for_timeout(200)
    box_ = page.locator("#strokes").bounding_box()

    def drag(fx0, fy0, fx1, fy1):
        page.mouse.move(box_["x"] + fx0 * box_["width"], box_["y"] + fy0 * box_["height"])
        page.mouse.down()
        for t in np.linspace(0, 1, 8)[1:]:
            page.mouse.move(
                box_["x"] + (fx0 + t * (fx1 - fx0)) * box_["width"],
                box_["y"] + (fy0 + t * (fy1 - fy0)) * box_["height"],
            )
        page.mouse.up()

    page.click("#tool-keep")
    drag(0.04, 0.05, 0.20, 0.05)  # a keep stroke across the top-left background
    page.click("#tool-remove")
    drag(0.35, 0.5, 0.65, 0.5)  # a remove stroke through the middle of the product
    page.screenshot(path=str(artifacts_dir / "page-correction-painted.png"))
    page.click("#apply-correction")
    expect(page.locator("#message")).to_contain_text("Corrected", timeout=30_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts_dir / "page-correction-applied.png"))
    after = alpha_of(box, cid)
    keep_y, keep_x = int(0.05 * h), int(0.12 * w)
    remove_y, remove_x = int(0.5 * h), int(0.5 * w)
    assert after[keep_y, keep_x] == 255 and after[remove_y, remove_x] == 0
    changed = np.abs(after.astype(int) - before.astype(int)) > 0
    assert changed[keep_y, keep_x] or changed[remove_y, remove_x]
    # Far from both strokes the matte is what the model made (give or take the refined edge).
    assert after[int(0.95 * h), int(0.95 * w)] == before[int(0.95 * h), int(0.95 * w)]
    with box.client() as c:
        meta = c.get(f"/api/captures/{cid}").json()
    assert meta["corrections"] == 1
    assert page.js_errors == []
    page.context.close()


def test_the_review_queue_on_the_page(browser, box_factory, artifacts_dir):
    b = box_factory(review_threshold=1.0)  # every capture is doubtful
    page, _ = open_page(browser, b.url)
    page.click("#capture-btn")
    expect(page.locator("#message")).to_contain_text("review queue", timeout=30_000)
    item = page.locator("#review-list li[data-id]")
    expect(item).to_have_count(1)
    expect(page.locator("#review-count")).to_have_text("1")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts_dir / "page-review-queue.png"))
    item.click()
    expect(page.locator("#editor")).to_be_visible()
    page.click("#approve")
    expect(page.locator("#editor")).to_be_hidden()
    expect(page.locator("#review-list li[data-id]")).to_have_count(0)
    assert b.service.store.list()[0]["review_state"] == "approved"
    page.context.close()


def test_the_settings_form_switches_preset_and_background(browser, box_factory):
    b = box_factory()
    page, _ = open_page(browser, b.url)
    page.click("#open-settings")
    expect(page.locator("#settings")).to_be_visible()
    page.select_option("#preset", "marketplace-white")
    page.check("input[name=background][value=transparent]")
    page.click("#save-settings")
    expect(page.locator("#message")).to_contain_text("Settings saved")
    with b.client() as c:
        presets = c.get("/api/presets").json()
    assert presets["current"] == "marketplace-white"
    assert presets["presets"]["marketplace-white"]["background"] == "transparent"
    expect(page.locator("#capture-preset")).to_have_value("marketplace-white")
    page.context.close()


def test_the_camera_lost_banner_appears_and_clears(browser, box_factory, artifacts_dir):
    b = box_factory()
    page, _ = open_page(browser, b.url)
    page.click("#capture-btn")
    expect(page.locator("#message")).to_contain_text("Captured", timeout=30_000)
    expect(page.locator("#alerts .banner")).to_have_count(0)
    expect(page.locator("#pill-model")).to_have_text("model on cpu")  # no Coral here, and it says why
    assert "no Coral found" in page.locator("#pill-model").get_attribute("title")
    expect(page.locator("#pill-disk")).to_have_text(re.compile(r"^disk \d+% · 1 today$"))  # disk use, captures today
    away = b.photos.with_name("photos-away")
    shutil.move(b.photos, away)
    banner = page.locator("#alerts .banner[data-kind=camera]")
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text("Camera lost")
    expect(page.locator("#pill-camera")).to_have_text("camera lost")
    page.screenshot(path=str(artifacts_dir / "page-camera-lost.png"))
    shutil.move(away, b.photos)
    expect(banner).to_have_count(0, timeout=10_000)
    page.click("#capture-btn")
    expect(page.locator("#message")).to_contain_text("Captured", timeout=30_000)
    page.context.close()


def test_the_page_fits_a_portrait_tablet(browser, box, artifacts_dir):
    page, outside = open_page(browser, box.url, viewport={"width": 768, "height": 1024})
    page.wait_for_timeout(500)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    btn = page.locator("#capture-btn").bounding_box()
    assert btn["height"] >= 70 and btn["width"] >= 600  # a big target for a thumb
    page.screenshot(path=str(artifacts_dir / "page-portrait.png"), full_page=True)
    assert outside == []
    page.context.close()


def test_a_validation_error_shows_its_actual_message(browser, box):
    page, _ = open_page(browser, box.url)
    page.fill("#sku", "no spaces allowed!")
    page.click("#capture-btn")
    message = page.locator("#message.error")
    expect(message).to_contain_text("sku:", timeout=10_000)
    assert "invalid request" not in message.text_content()  # the problem itself, not the headline
    assert page.js_errors == []
    page.context.close()


def test_the_offline_banner_shows_when_the_box_dies_and_polling_resumes(browser, tmp_path, artifacts_dir):
    from .conftest import LiveServer, start_box

    b, server = start_box(tmp_path)
    try:
        page, _ = open_page(browser, b.url)
        expect(page.locator("#station")).to_have_text("test-booth", timeout=10_000)
        server.stop()  # the box goes away
        banner = page.locator("#alerts .banner[data-kind=connection]")
        expect(banner).to_be_visible(timeout=10_000)
        expect(banner).to_contain_text("does not answer")
        page.screenshot(path=str(artifacts_dir / "page-offline.png"))
        server = LiveServer(b.app, port=server.port)  # back on the same address
        server.start()
        expect(banner).to_have_count(0, timeout=10_000)  # the poll came back by itself
        expect(page.locator("#pill-camera")).to_have_text("camera ok")
        assert page.js_errors == []
        page.context.close()
    finally:
        server.stop()
        b.service.stop()


PHONE = {"width": 390, "height": 844}


def test_the_page_is_usable_on_a_phone(browser, box, artifacts_dir):
    page, outside = open_page(browser, box.url, viewport=PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    def inside(selector):
        r = page.locator(selector).bounding_box()
        assert r is not None and r["x"] >= 0 and r["x"] + r["width"] <= PHONE["width"] + 0.5, (selector, r)

    for sel in ("#open-settings", "#capture-btn", "#sku", "#capture-preset", "#calibrate-btn"):
        inside(sel)
    page.screenshot(path=str(artifacts_dir / "page-phone.png"), full_page=True)
    page.click("#capture-btn")
    expect(page.locator("#message")).to_contain_text("Captured", timeout=30_000)
    for sel in ("#reexport-preset", "#reexport-btn", "#download-one"):
        inside(sel)
    page.click("#fix-latest")
    expect(page.locator("#editor")).to_be_visible()
    for sel in (
        "#editor .editor-head button",
        "#zoom-in",
        "#zoom-out",
        "#tool-pan",
        "#apply-correction",
        "#approve",
        "#reject",
        "#tool-keep",
        "#tool-remove",
    ):
        inside(sel)
    page.screenshot(path=str(artifacts_dir / "page-phone-editor.png"))
    page.keyboard.press("Escape")
    page.click("#open-settings")
    for sel in ("#save-settings", "#forget-token", "#preset", "#flash-setting"):
        inside(sel)
    assert outside == [] and page.js_errors == []
    page.context.close()
