"""Which Host headers the box answers: a guard against DNS rebinding.

A page on another site can make a browser resolve its own name to the box's LAN address
and then read the box's answers as its own; the Host header still carries that other
name, so the box answers only to the names it is known by. By default these are
localhost, the box's host name (also as `<name>.local` for mDNS) and its addresses.
"""

from __future__ import annotations

import socket


def _own_addresses(hostname: str) -> set[str]:
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(hostname, None):
            found.add(str(info[4][0]))
    except OSError:
        pass
    # The address the box would use to reach the LAN (no packet is sent for a UDP connect).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            found.add(s.getsockname()[0])
        except OSError:
            pass
    return found


def default_trusted_hosts(listen_host: str | None = None) -> list[str]:
    hostname = socket.gethostname()
    names = {"localhost", "127.0.0.1", "::1", hostname, f"{hostname}.local", socket.getfqdn()}
    names |= _own_addresses(hostname)
    if listen_host and listen_host not in ("0.0.0.0", "::"):
        names.add(listen_host)
    return sorted(n for n in names if n)


def trusted_hosts(configured: list[str] | None, listen_host: str | None = None) -> list[str]:
    return list(configured) if configured is not None else default_trusted_hosts(listen_host)
