#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: system packages (a real
# Mosquitto broker, Debian's Chromium for the browser tests, shellcheck, systemd-analyze,
# gphoto2, openssl) and the project with its test extra in ./.venv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have mosquitto || need+=(mosquitto)
have chromium || need+=(chromium)
have shellcheck || need+=(shellcheck)
have systemd-analyze || need+=(systemd)
have gphoto2 || need+=(gphoto2)
have openssl || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "installing system packages: ${need[*]}"
  "${sudo[@]}" apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
