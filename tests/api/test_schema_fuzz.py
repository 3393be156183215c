"""Schemathesis, every check on, against the real server: whatever it generates from the
OpenAPI document, the box answers as the document says (status codes, bodies, content types,
Allow headers, the token), accepts what the schema calls valid and refuses what it does not.

The run is the `st run` CLI on a box of its own, with the hooks in schemathesis_hooks.py
(real PNG stroke layers; the box's settings put back after each accepted settings change),
and half of the generated capture ids, artifact names and preset names drawn from what the
box really has, so the calls on one capture reach past "no such capture".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.api.conftest import start_box
from tests.box_config import TOKEN
from tests.paths import REPO

EXAMPLES_PER_OPERATION = 5
SKIP = "/api/preview.mjpeg"  # an endless stream by design; tested with ?frames= elsewhere
HOOKS = REPO / "tests" / "api" / "schemathesis_hooks.py"


def known_values(capture_ids: list[str], presets: list[str]) -> str:
    """schemathesis.toml: dictionaries of real ids and names, each drawn for half the cases."""
    dictionaries = {
        "captures": capture_ids,
        "artifacts": ["original", "alpha", "png", "mask", "meta"],
        "presets": presets,
    }
    uses = {"path.capture_id": "captures", "path.name": "artifacts", "body.preset": "presets", "body.name": "presets"}
    lines = [f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n" for name, values in dictionaries.items()]
    lines.append("[parameters]")
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}' for key, name in uses.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_schemathesis_with_every_check_finds_no_failure(tmp_path):
    box, server = start_box(tmp_path / "box")
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with box.client() as c:
            baseline = {"url": box.url, "token": TOKEN, "config": c.get("/api/config").json()}
            ids = [c.post("/api/capture", json={"sku": f"FUZZ-{i}"}).json()["id"] for i in range(3)]
            presets = sorted(c.get("/api/presets").json()["presets"])
        (tmp_path / "baseline.json").write_text(json.dumps(baseline))
        (tmp_path / "schemathesis.toml").write_text(known_values(ids, presets))
        env = dict(os.environ, SCHEMATHESIS_HOOKS=str(HOOKS), CUTBOX_SCHEMA_BASELINE=str(tmp_path / "baseline.json"))
        started = time.monotonic()
        run = subprocess.run(
            [
                *(sys.executable, "-m", "schemathesis.cli", "run", f"{box.url}/openapi.json"),
                *("--checks", "all", "--max-examples", str(EXAMPLES_PER_OPERATION), "--workers", "1"),
                *("--header", f"Authorization: {auth['Authorization']}"),
                *("--exclude-path", SKIP, "--request-timeout", "60", "--suppress-health-check", "all"),
                "--no-color",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        elapsed = time.monotonic() - started
        summary = run.stdout[run.stdout.find("SUMMARY") :]
        print(f"schemathesis in {elapsed:.0f} s\n{summary}")
        assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
        selected, total = map(int, re.search(r"Selected: (\d+)/(\d+)", summary).groups())
        tested = int(re.search(r"Tested: (\d+)", summary).group(1))
        assert tested == selected == total - 1 >= 27  # every operation but the endless stream
        assert box.service.status()["camera"]["ok"]  # and the box still works
    finally:
        server.stop()
        box.service.stop()
