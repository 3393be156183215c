"""One `gphoto2 --shell` process per tethered camera: the camera is opened and claimed once.

Starting `gphoto2` for every shot re-detects the camera, opens a new PTP session and, on
many bodies, re-reads the card's whole file list before the shutter fires; the shell keeps
one session open between shots. The protocol is the shell's own text: each command line
is answered by its output and the next prompt (`gphoto2: {<local dir>} <camera dir>> `);
a failed command prints `*** Error (<code>: '<message>') ***` on stdout and the details
on stderr (kept in a file here, so a full pipe can never block the camera).
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from device.sources.base import SourceError

log = logging.getLogger(__name__)

PROMPT = re.compile(rb"gphoto2: \{[^}\n]*\} [^\n]*> $")
OVERWRITE = re.compile(rb"Overwrite\? \[y\|n\] $")
ERROR = re.compile(r"^\*\*\* Error \((-?\d+): '([^']*)'\) \*\*\*", re.MULTILINE)
SAVED = re.compile(r"^Saving file as (.+?)\s*$", re.MULTILINE)


class SessionClosed(SourceError):
    """The gphoto2 process is gone (camera unplugged, gphoto2 crashed): open a new one."""


@dataclass(frozen=True)
class Reply:
    """What one shell command answered."""

    output: str
    details: str  # what gphoto2 wrote to stderr meanwhile
    code: int | None = None  # gphoto2's error code when the command failed
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code is None

    def saved(self) -> list[str]:
        return SAVED.findall(self.output)


class ShellSession:
    """A running `gphoto2 ... --shell`, started in `cwd`; `run()` one command at a time."""

    def __init__(self, command: list[str], cwd: Path, timeout_s: float):
        self.command = [*command, "--shell"]
        self.cwd = cwd
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen | None = None
        self._stderr: IO[bytes] | None = None
        self._stderr_seen = 0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def open(self) -> None:
        """Start the shell; it detects and opens the camera before its first prompt, so no
        camera (or one another program holds) fails here with gphoto2's reason."""
        self._stderr = tempfile.TemporaryFile()
        self._stderr_seen = 0
        self._proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(os.environ, LANG="C", LC_ALL="C"),
        )
        self._read_to_prompt(self.timeout_s)
        log.info("gphoto2: camera session open (pid %d)", self._proc.pid)

    def run(self, line: str, timeout_s: float | None = None) -> Reply:
        """Send one command and wait for the next prompt (at most timeout_s: then the
        session is killed, because a shell stuck mid-command cannot be trusted again)."""
        if not self.alive or self._proc is None or self._proc.stdin is None:
            raise SessionClosed("gphoto2 session is not open")
        try:
            self._proc.stdin.write(line.encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SessionClosed(self._gone_reason("")) from None
        out = self._read_to_prompt(self.timeout_s if timeout_s is None else timeout_s)
        details = self._new_details()
        # the shell echoes the command line (once by readline, once itself): drop the echoes
        lines = [ln for ln in out.splitlines() if ln.strip() != line.strip()]
        text = "\n".join(lines)
        err = ERROR.search(text)
        if err:
            return Reply(text, details, int(err.group(1)), err.group(2))
        return Reply(text, details)

    def _read_to_prompt(self, timeout_s: float) -> str:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                if self._proc is not proc:  # closed from another thread (the service stopping)
                    raise SessionClosed("the gphoto2 session was closed during the command")
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close(kill=True)
                    raise SourceError(
                        f"gphoto2 did not answer within {timeout_s:g} s (camera asleep, or autofocus cannot lock?)"
                    )
                if not sel.select(min(left, 0.5)):
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                if self._proc is not proc:
                    raise SessionClosed("the gphoto2 session was closed during the command")
                if not chunk:
                    raise SessionClosed(self._gone_reason(buf.decode(errors="replace")))
                buf += chunk
                if PROMPT.search(buf):
                    return PROMPT.sub(b"", buf).decode(errors="replace")
                if OVERWRITE.search(buf):  # never waits on a question: keep the file that is there
                    assert self._proc.stdin is not None
                    self._proc.stdin.write(b"n\n")
                    self._proc.stdin.flush()

    def _new_details(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(self._stderr_seen)
        data = self._stderr.read()
        self._stderr_seen += len(data)
        return data.decode(errors="replace")

    def _gone_reason(self, out: str) -> str:
        from device.sources.gphoto2 import error_line

        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        text = self._new_details() + out
        self.close(kill=True)
        return error_line(text)

    def close(self, kill: bool = False) -> None:
        """`exit` (the camera is released cleanly), or kill when the shell is stuck."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            if not kill and proc.stdin is not None:
                try:
                    proc.stdin.write(b"exit\n")
                    proc.stdin.close()
                    proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
