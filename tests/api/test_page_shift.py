"""The page for a whole shift, in real headless Chromium: today's gallery with thumbnails,
search and filter, a ZIP download, delete, a spin's progress and its cancel, review keys."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.api.conftest import spin_folder

from .test_page import browser, open_page  # noqa: F401  (the module's Chromium fixture)

pytestmark = pytest.mark.browser


def test_the_gallery_shows_searches_downloads_and_deletes(browser, fresh_box, artifacts_dir):  # noqa: F811
    with fresh_box.client() as c:
        shirt = c.post("/api/capture", json={"sku": "SHIRT-1"}).json()
        shoe = c.post("/api/capture", json={"sku": "SHOE-2"}).json()
    page, outside = open_page(browser, fresh_box.url)
    tiles = page.locator("#gallery-list li[data-id]")
    expect(tiles).to_have_count(2, timeout=10_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#gallery-list img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(artifacts_dir / "page-gallery.png"), full_page=True)
    page.fill("#filter-sku", "shoe")
    expect(tiles).to_have_count(1)
    expect(tiles.first).to_have_attribute("data-id", shoe["id"])
    # The ZIP of what is shown: SKU and today's date.
    with page.expect_download() as dl:
        page.click("#zip-link")
    data = open(dl.value.path(), "rb").read()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names and all(n.startswith(f"SHOE-2/{shoe['id']}/") for n in names)
    assert dl.value.suggested_filename.startswith("cutbox-") and dl.value.suggested_filename.endswith("-shoe.zip")
    page.fill("#filter-sku", "")
    page.select_option("#filter-state", "rejected")
    expect(page.locator("#gallery-list .empty")).to_be_visible()
    page.select_option("#filter-state", "")
    expect(tiles).to_have_count(2)
    page.on("dialog", lambda d: d.accept())  # the confirm() before deleting
    page.locator(f"#gallery-list li[data-id='{shirt['id']}'] .del").click()
    expect(tiles).to_have_count(1)
    assert not fresh_box.service.store.exists(shirt["id"])
    assert outside == [] and page.js_errors == []
    page.context.close()


def test_a_spin_shows_its_progress_and_can_be_cancelled(browser, fresh_box, artifacts_dir):  # noqa: F811
    folder = spin_folder(fresh_box, 8)
    with fresh_box.client() as c:
        c.put("/api/config", json={"source": {"path": str(folder)}, "turntable": {"settle_s": 0.5}}).raise_for_status()
    before = len(fresh_box.service.store.ids())
    page, _ = open_page(browser, fresh_box.url)
    page.fill("#spin-steps", "8")
    page.click("#spin-btn")
    expect(page.locator("#job")).to_be_visible(timeout=10_000)
    expect(page.locator("#job-text")).to_have_text(re.compile(r"spin view [2-6]/8"), timeout=30_000)
    assert page.eval_on_selector("#job-bar", "b => b.max") == 8
    page.screenshot(path=str(artifacts_dir / "page-spin-progress.png"))
    page.click("#cancel-btn")
    expect(page.locator("#message")).to_contain_text("Spin cancelled", timeout=30_000)
    expect(page.locator("#job")).to_be_hidden()
    assert len(fresh_box.service.store.ids()) == before
    assert page.js_errors == []
    page.context.close()


def test_review_with_the_keyboard(browser, box_factory):  # noqa: F811
    b = box_factory(review_threshold=1.0)  # every capture waits for review
    with b.client() as c:
        first = c.post("/api/capture", json={}).json()
        second = c.post("/api/capture", json={}).json()
    page, _ = open_page(browser, b.url)
    page.locator(f"#review-list li[data-id='{second['id']}']").click()
    expect(page.locator("#editor")).to_be_visible()
    page.keyboard.press("x")
    expect(page.locator("#tool-remove")).to_have_class("tool remove active")
    size = int(page.input_value("#brush-size"))
    page.keyboard.press("]")
    assert int(page.input_value("#brush-size")) > size
    page.keyboard.press("a")  # approve: the editor closes
    expect(page.locator("#editor")).to_be_hidden()
    expect(page.locator("#review-list li[data-id]")).to_have_count(1)
    page.locator("#review-list li[data-id]").click()
    expect(page.locator("#editor")).to_be_visible()
    page.keyboard.press("r")
    expect(page.locator("#editor")).to_be_hidden()
    states = {m["id"]: m["review_state"] for m in b.service.store.list()}
    assert states == {second["id"]: "approved", first["id"]: "rejected"}
    assert page.js_errors == []
    page.context.close()
