"""A box under test: its configuration (the committed model, copies of the bundled sample
photos as a files source, a data folder under the test's tmp dir, a known API token) and a free
loopback port to serve on."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from device.config import CutboxConfig
from tests.paths import SAMPLES, STUDENT_MODEL

TOKEN = "test-token-0123456789abcdef"


def copy_samples(dest: Path, names: Iterable[str] | None = None) -> Path:
    """Copy the bundled sample photos (all .jpg, or those `names`) into `dest`; returns `dest`.

    The files source may move or mark what it reads, so a test never points it at the repo."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = [SAMPLES / n for n in names] if names is not None else sorted(SAMPLES.glob("*.jpg"))
    for p in paths:
        shutil.copy(p, dest / p.name)
    return dest


def box_config(tmp: Path, photos: Path | None = None, **sections: dict[str, Any]) -> CutboxConfig:
    """A validated config whose source is `photos` (default: the samples copied to tmp/photos),
    data under tmp/data; each keyword is a config section whose keys override the defaults."""
    if photos is None:
        photos = copy_samples(tmp / "photos")
    data: dict[str, dict[str, Any]] = {
        "station": {"data_dir": str(tmp / "data")},
        "source": {"kind": "files", "path": str(photos)},
        "segment": {"model": str(STUDENT_MODEL)},
        "api": {"token": TOKEN},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return CutboxConfig.model_validate(data)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
