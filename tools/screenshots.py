"""The README's pictures of the operator page, made again from the real page.

`python -m tools.screenshots [--out docs/screenshots]` starts a box of its own (the bundled
sample photos as a files source, the committed model, a throw-away data folder, loopback
only), makes a few captures through the API, and photographs the page in headless Chromium
(Debian's /usr/bin/chromium, driven by playwright) at a desktop size and at 390 px:

    desktop.png          the page after a capture: live view, before/after, review, gallery
    desktop-editor.png   the correction editor, zoomed in with a stroke painted
    phone.png            the page on a 390 x 844 phone
    phone-editor.png     the editor on that phone

Nothing is fetched from outside the box; the pictures change only when the page does.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "device" / "samples"
MODEL = REPO / "models" / "cutbox-student-int8.tflite"
CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# (SKU, preset) of the captures the pictures show, oldest first.
SHOTS = [("SHOE-2", "transparent-png"), ("CAP-48", "marketplace-white"), ("MUG-7", "transparent-png")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_box(tmp: Path, token: str):
    """(service, uvicorn server, url) for a box on the bundled samples."""
    import uvicorn

    from device.api import create_app
    from device.config import CutboxConfig
    from device.service import CutboxService

    photos = tmp / "photos"
    photos.mkdir()
    for p in sorted(SAMPLES.glob("*.jpg")):
        shutil.copy(p, photos / p.name)
    config = CutboxConfig.model_validate(
        {
            "station": {"id": "booth-1", "data_dir": str(tmp / "data")},
            "source": {"kind": "files", "path": str(photos)},
            "segment": {"model": str(MODEL)},
            "compose": {"preset": "transparent-png"},
            "api": {"token": token, "host": "127.0.0.1"},
        }
    )
    service = CutboxService(config).start()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service, config), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the box did not start")
        time.sleep(0.05)
    return service, server, f"http://127.0.0.1:{port}"


def _loaded(page, selector: str) -> None:
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)", arg=selector
    )


def _open(browser, url: str, token: str, viewport: dict):
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    assert context.request.post(url + "/api/login", data={"token": token}).ok
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_selector("#gallery-list li[data-id]")
    page.fill("#sku", "JACKET-3")
    page.click("#capture-btn")  # the latest result: a capture made on this page
    page.wait_for_function("() => document.querySelector('#message').textContent.startsWith('Captured')")
    _loaded(page, "#result-before, #result-after, #gallery-list img, #live")
    page.wait_for_timeout(500)
    return page


def _editor(page, path: Path, zoom_presses: int) -> None:
    page.click("#fix-latest")
    page.wait_for_function("() => document.querySelector('#strokes').width === document.querySelector('#base').width")
    for _ in range(zoom_presses):
        page.keyboard.press("+")
    box = page.locator("#strokes").bounding_box()
    stack = page.locator("#canvas-stack").bounding_box()
    x, y = stack["x"] + stack["width"] * 0.45, stack["y"] + stack["height"] * 0.35
    page.click("#tool-remove")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + min(box["width"], stack["width"]) * 0.1, y, steps=6)
    page.mouse.up()
    page.screenshot(path=str(path))
    page.keyboard.press("Escape")


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="cutbox-shots-") as tmp:
        service, server, url = _start_box(Path(tmp), token)
        try:
            import httpx

            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
                for sku, preset in SHOTS:
                    c.post("/api/capture", json={"sku": sku, "preset": preset}).raise_for_status()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
                try:
                    page = _open(browser, url, token, DESKTOP)
                    page.screenshot(path=str(out / "desktop.png"), full_page=True)
                    _editor(page, out / "desktop-editor.png", 2)
                    page.context.close()
                    page = _open(browser, url, token, PHONE)
                    page.screenshot(path=str(out / "phone.png"))
                    _editor(page, out / "phone-editor.png", 1)
                    page.context.close()
                finally:
                    browser.close()
        finally:
            server.should_exit = True
            service.stop()
    return [out / n for n in ("desktop.png", "desktop-editor.png", "phone.png", "phone-editor.png")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="folder for the PNGs")
    args = parser.parse_args(argv)
    for path in take(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
