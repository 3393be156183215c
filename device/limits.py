"""What the box accepts from outside, in one place: the API, the MQTT commands and the
config models all take their bounds from here, so a spin, a stroke list or an output size
that one door refuses is refused by every door."""

from __future__ import annotations

MAX_SPIN_STEPS = 360  # one view per degree; every view's matte is held until the set is composed
MAX_PLATE_FRAMES = 64  # frames of the empty booth averaged into a clean plate
MAX_OUTPUT_SIDE = 8192  # preset width/height in px (a 20000 px square took 38 s and 187 MB)
MAX_NAME_CHARS = 64  # preset names
MAX_STROKE_LINES = 200  # polylines per keep or remove list
MAX_STROKE_POINTS = 20_000  # points of all polylines of one correction together
MAX_STROKE_PNG_CHARS = 16_000_000  # base64 of a 12 MP stroke layer (mostly transparent) fits comfortably
