"""Schemathesis hooks for the schema run (loaded through SCHEMATHESIS_HOOKS).

- `base64-png`: the format the correction's stroke layer declares; generated as real small
  PNG layers (green = keep, red = remove, transparent), so schema-valid data is valid.
- After a settings change the run made is answered 200, the box's starting settings are put
  back, so one generated config (a camera that is not there) does not decide every later case.
"""

from __future__ import annotations

import base64
import json
import os

import cv2
import httpx
import numpy as np
import schemathesis
from hypothesis import strategies as st

BASELINE_ENV = "CUTBOX_SCHEMA_BASELINE"


def _layer(width: int, height: int, colour: tuple[int, int, int, int], data_url: bool) -> str:
    image = np.zeros((height, width, 4), np.uint8)
    image[height // 4 : height // 4 * 3 + 1, width // 4 : width // 4 * 3 + 1] = colour
    ok, png = cv2.imencode(".png", image)
    assert ok
    text = base64.b64encode(png.tobytes()).decode()
    return "data:image/png;base64," + text if data_url else text


KEEP, REMOVE, NOTHING = (0, 255, 0, 255), (0, 0, 255, 255), (0, 0, 0, 0)  # BGRA
schemathesis.openapi.format(
    "base64-png",
    st.builds(
        _layer,
        st.integers(1, 64),
        st.integers(1, 64),
        st.sampled_from([KEEP, REMOVE, NOTHING]),
        st.booleans(),
    ),
)


@schemathesis.hook
def after_call(context, case, response):
    if case.method.upper() != "PUT" or case.path != "/api/config" or response.status_code != 200:
        return
    baseline = json.loads(open(os.environ[BASELINE_ENV], encoding="utf-8").read())
    r = httpx.put(
        baseline["url"] + "/api/config",
        json=baseline["config"],
        headers={"Authorization": f"Bearer {baseline['token']}"},
        timeout=60,
    )
    r.raise_for_status()
