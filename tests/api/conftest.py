"""A real box for the API and page tests: the committed model, the bundled sample photos as a
files source, and a real uvicorn server on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from device.api import create_app
from device.service import CutboxService
from tests.box_config import TOKEN, box_config, copy_samples, free_port
from tests.paths import REPO, SAMPLES

ARTIFACTS = REPO / "test-artifacts"


@dataclass
class Box:
    """A running box: its service, app, base URL and where its photos come from."""

    service: CutboxService
    app: object
    url: str
    photos: Path
    data: Path

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


class LiveServer:
    """uvicorn serving an app from a thread; stop() asks it to exit and waits."""

    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1, lifespan="off"
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_box(tmp: Path, **api) -> tuple[Box, LiveServer]:
    photos = copy_samples(tmp / "photos")
    # Settings changes may point the source at other folders of this box's tmp dir.
    station = {"id": "test-booth", "path_roots": [str(tmp)]}
    cfg = box_config(tmp, photos, station=station, compose={"preset": "transparent-png"}, api=api)
    service = CutboxService(cfg).start()
    assert service.ready(), service.status()
    app = create_app(service, cfg)
    server = LiveServer(app)
    url = server.start()
    return Box(service, app, url, photos, tmp / "data"), server


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """One box per test module (loading the model once); tests leave it working."""
    b, server = start_box(tmp_path_factory.mktemp("box"))
    yield b
    server.stop()
    b.service.stop()


def spin_folder(box, n: int) -> Path:
    """A source folder of `n` copies of one sample photo beside the box's photos: a spin's views."""
    folder = box.photos.with_name("spin")
    folder.mkdir(exist_ok=True)
    for i in range(n):
        shutil.copy(box.photos / "shoes.jpg", folder / f"shoes{i}.jpg")
    return folder


@pytest.fixture()
def fresh_box(tmp_path):
    """A box of its own, for tests that break the camera or change settings."""
    b, server = start_box(tmp_path)
    yield b
    server.stop()
    b.service.stop()


@pytest.fixture()
def box_factory(tmp_path):
    """start(**api_settings) -> a box with those [api] settings, stopped after the test."""
    running = []

    def start(**api) -> Box:
        b, server = start_box(tmp_path / f"box{len(running)}", **api)
        running.append((b, server))
        return b

    yield start
    for b, server in running:
        server.stop()
        b.service.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def start_serve(tmp: Path, api_toml: str = "") -> tuple[subprocess.Popen, int]:
    """A real `cutbox serve` process on a free loopback port (two sample photos, the token),
    waited on until ready; `api_toml` adds lines to its [api] section."""
    photos = tmp / "photos"
    photos.mkdir(exist_ok=True)
    for p in sorted(SAMPLES.glob("*.jpg"))[:2]:
        shutil.copy(p, photos / p.name)
    port = free_port()
    cfg = tmp / "cutbox.toml"
    cfg.write_text(
        f'[station]\ndata_dir = "{tmp / "data"}"\n'
        f'[source]\nkind = "files"\npath = "{photos}"\n'
        f'[api]\nhost = "127.0.0.1"\nport = {port}\ntoken = "{TOKEN}"\n{api_toml}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "serve", "--config", str(cfg)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scheme = "https" if "tls_cert" in api_toml else "http"
    verify: ssl.SSLContext | bool = True
    if scheme == "https":
        verify = ssl.create_default_context(cafile=api_toml.split('tls_cert = "')[1].split('"')[0])
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{scheme}://127.0.0.1:{port}/health/ready", timeout=2, verify=verify).status_code == 200:
                return proc, port
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_serve(proc)
            raise RuntimeError("cutbox serve did not come up")
        time.sleep(0.2)


def stop_serve(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
