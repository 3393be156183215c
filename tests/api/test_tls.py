"""`api.tls_cert` / `api.tls_key`: the box serves https with a certificate made by the
openssl command in docs/security.md, and the session cookie is then Secure."""

from __future__ import annotations

import ssl
import subprocess

import httpx

from device.api.auth import SESSION_COOKIE

from .conftest import TOKEN, start_serve, stop_serve


def make_box_certificate(folder, names=("localhost",), addresses=("127.0.0.1",)):
    """The documented way: a self-signed P-256 certificate naming the box, valid ~2 years."""
    crt, key = folder / "box.crt", folder / "box.key"
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{a}" for a in addresses])
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "825", "-keyout", str(key), "-out", str(crt), "-subj", f"/CN={names[0]}",
         "-addext", f"subjectAltName={san}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


def test_the_box_serves_https_with_its_own_certificate(tmp_path):
    crt, key = make_box_certificate(tmp_path)
    proc, port = start_serve(tmp_path, f'tls_cert = "{crt}"\ntls_key = "{key}"')
    try:
        trust = ssl.create_default_context(cafile=str(crt))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust, timeout=30) as c:
            r = c.post("/api/login", json={"token": TOKEN})
            assert r.status_code == 200
            assert "Secure" in r.headers["set-cookie"] and r.headers["set-cookie"].startswith(SESSION_COOKIE)
            assert c.get("/api/status").status_code == 200  # the cookie rides along over https
        # Plain http on the same port is not answered as http, and an untrusting client refuses the box.
        try:
            plain = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).status_code
        except httpx.TransportError:
            plain = None
        assert plain != 200
        try:
            httpx.get(f"https://127.0.0.1:{port}/health/live", timeout=5)
            raise AssertionError("an unknown certificate was accepted")
        except httpx.ConnectError:
            pass
    finally:
        stop_serve(proc)
