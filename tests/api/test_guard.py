"""Big bodies against a real `cutbox serve` process: an anonymous 200 MB upload is refused from
its headers (no byte of it read), an operator's upload is cut off at the route's cap, and the
process's memory hardly moves either way."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import httpx
import pytest

from .conftest import TOKEN, start_serve, stop_serve

MiB = 1024 * 1024
BODY = 200 * MiB
CHUNK = b"x" * MiB


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real `cutbox serve` on a free loopback port: (pid, port)."""
    proc, port = start_serve(tmp_path_factory.mktemp("serve"))
    yield proc.pid, port
    stop_serve(proc)


def stream(port: int, pid: int, method: str, path: str, *, token: str | None, declare: bool, limit_s: float = 5.0):
    """Send up to 200 MB as fast as the server takes it; stop at its answer.
    Returns (status, seconds to the answer, MB sent, peak RSS growth in MB)."""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    head.append(f"Content-Length: {BODY}" if declare else "Transfer-Encoding: chunked")
    if token:
        head.append(f"Authorization: Bearer {token}")
    base = rss_mb(pid)
    peak = base
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(0.05)
        started = time.monotonic()
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        answer = b""
        while time.monotonic() - started < limit_s:
            if select.select([s], [], [], 0)[0]:
                answer = s.recv(65536)
                break
            if sent < BODY:
                piece = CHUNK if declare else b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
                try:
                    sent += s.send(piece)  # partial sends are fine: the byte count is what matters
                except (TimeoutError, BlockingIOError):
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    answer = s.recv(65536) if select.select([s], [], [], 1)[0] else b""
                    break
            else:
                time.sleep(0.01)
            peak = max(peak, rss_mb(pid))
        elapsed = time.monotonic() - started
    time.sleep(0.3)
    peak = max(peak, rss_mb(pid))
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else None
    return status, elapsed, sent / MiB, peak - base


@pytest.mark.parametrize(
    "method,path,declare",
    [
        ("POST", "/api/captures/20240101T000000000Z-abcdef01/correct", True),
        ("POST", "/api/captures/20240101T000000000Z-abcdef01/correct", False),
        ("PUT", "/api/config", True),
        ("PUT", "/api/config", False),
    ],
)
def test_an_anonymous_200_mb_body_is_refused_at_once_and_costs_no_memory(served, method, path, declare):
    pid, port = served
    status, elapsed, sent_mb, grown_mb = stream(port, pid, method, path, token=None, declare=declare)
    print(
        f"{method} {path} declared={declare}: {status} in {elapsed:.3f} s, {sent_mb:.0f} MB sent, RSS +{grown_mb:.1f} MB"
    )
    assert status in (401, 413)
    assert elapsed < 1.0
    assert grown_mb < 50
    assert httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5).status_code == 200


@pytest.mark.parametrize("declare", [True, False])
def test_an_operator_body_past_the_route_cap_is_cut_off_with_413(served, declare):
    pid, port = served
    path = "/api/captures/20240101T000000000Z-abcdef01/correct"
    status, elapsed, sent_mb, grown_mb = stream(port, pid, "POST", path, token=TOKEN, declare=declare)
    print(f"operator declared={declare}: {status} in {elapsed:.3f} s, {sent_mb:.0f} MB sent, RSS +{grown_mb:.1f} MB")
    assert status == 413
    assert sent_mb < 100  # cut off well before the end
    assert grown_mb < 50
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert c.put("/api/config", content=b"{" + b" " * 300_000 + b"}").status_code == 413  # settings: 256 KiB
        assert c.post("/api/capture", content=b"{" + b" " * 100_000 + b"}").status_code == 413  # commands: 64 KiB
        assert c.get("/api/status").status_code == 200
