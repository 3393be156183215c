"""One error hierarchy for the whole box, and error text for people.

Every failure cutbox raises on purpose is a `CutboxError`, of one of five kinds that say what
the caller can do about it: fix the request (`BadRequest`, `Invalid`), ask for something that
exists (`NotFound`), wait for the box's state to change (`Conflict`), or try again later
(`Unavailable`). Only the API turns a kind into an HTTP status code; the CLI turns it into an
exit code and MQTT commands into an `ok: false` reply. Each kind also derives from the
built-in exception it used to be (`ValueError`, `KeyError`, `RuntimeError`), so code written
against those still catches it.
"""

from __future__ import annotations


class CutboxError(Exception):
    """Base of everything cutbox raises on purpose; `problems` lists one line per problem."""

    def __init__(self, message: str = "", problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else ([message] if message else [])


class BadRequest(CutboxError, ValueError):
    """The caller asked for something invalid (an unknown preset, a step count out of range)."""


class Invalid(BadRequest):
    """The request is well formed but its content does not validate (a config patch)."""


class NotFound(CutboxError, KeyError):
    """No capture, artifact or file by that name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "not found"


class Conflict(CutboxError, RuntimeError):
    """The request is fine but the box's state does not allow it yet (no clean plate, a plate
    that no longer fits the camera)."""


class Unavailable(CutboxError, RuntimeError):
    """Something the box cannot do right now: the model is not loaded, a driver failed."""


class CameraError(Unavailable):
    """The frame source failed; the message says why in one line."""


class DiskFull(Unavailable):
    """The data disk is (nearly) full: a new capture is refused, nothing stored is touched."""


# The name the service layer has always used for "cannot do that right now".
ServiceError = Unavailable


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The exception's message on one line (whitespace collapsed), at most `limit` characters;
    its type name when it has no message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:limit]
