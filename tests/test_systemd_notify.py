"""sd_notify over a real unix datagram socket, the way systemd listens for it."""

from __future__ import annotations

import os
import socket

from device.box.systemd_notify import Notifier


def listener(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    return sock, path


def test_ready_status_and_watchdog_reach_the_socket(tmp_path):
    sock, path = listener(tmp_path)
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.watchdog_interval_s == 10.0
    assert n.ready("idle, model loaded")
    assert sock.recv(512) == b"READY=1\nSTATUS=idle, model loaded"
    assert n.watchdog()
    assert sock.recv(512) == b"WATCHDOG=1"
    assert not n.watchdog()  # rate limited to twice per WatchdogSec: the hot loop may call it per frame
    assert n.watchdog(force=True)
    assert sock.recv(512) == b"WATCHDOG=1"
    assert n.status("spin 3/24\nsecond line dropped")
    assert sock.recv(512) == b"STATUS=spin 3/24"
    n.close()
    sock.close()


def test_abstract_socket_address(tmp_path):
    name = f"cutbox-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    n = Notifier({"NOTIFY_SOCKET": "@" + name})
    assert n.stopping()
    assert sock.recv(64) == b"STOPPING=1"
    sock.close()


def test_outside_systemd_everything_is_a_no_op():
    n = Notifier({})
    assert not n.enabled
    assert not n.ready() and not n.watchdog(force=True) and not n.status("x")


def test_watchdog_meant_for_another_process_is_ignored(tmp_path):
    _, path = listener(tmp_path)
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"})
    assert n.watchdog_interval_s is None
    assert not n.watchdog(force=True)


def test_vanished_socket_does_not_crash_the_service(tmp_path):
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.ready() is False
