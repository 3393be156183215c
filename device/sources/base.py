"""The one interface every frame source offers, so the pipeline never cares where frames come from."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from device.errors import Unavailable
from device.types import Frame

_counter = itertools.count(1)


class SourceError(Unavailable):
    """A source that cannot give frames (camera missing, folder gone, no more files); one line."""


@runtime_checkable
class FrameSource(Protocol):
    """A camera, folder or file list.

    `frames()` yields frames until the source is exhausted or closed; `grab()` returns the
    next one (raising SourceError when there is none); `close()` releases the device.
    """

    def frames(self) -> Iterator[Frame]: ...

    def grab(self) -> Frame: ...

    def close(self) -> None: ...


def new_frame_id(prefix: str) -> str:
    """Short id unique within the process: the source kind, a counter and the time."""
    return f"{prefix}-{next(_counter):06d}-{int(time.time() * 1000) % 100_000_000:08d}"
