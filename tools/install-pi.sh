#!/usr/bin/env bash
# Install cutbox on a Raspberry Pi (Raspberry Pi OS Bookworm, 64-bit) and start it.
#
#   sudo tools/install-pi.sh [--coral] [--with-catalog] [--no-start] [--check]
#
# Safe to run again (after a git pull, say): every step checks before it changes anything,
# the technician's /etc/cutbox/cutbox.toml is never overwritten, and the service restarts
# on the new code.
#   --coral         also install the Edge TPU runtime (libedgetpu1-std) from Google's apt repo
#   --with-catalog  also run the catalog receiver on this box (one-box setup)
#   --no-start      install and enable, but do not (re)start the services
#   --check         only check that this machine is a supported Pi, then exit
set -euo pipefail

PREFIX=/opt/cutbox
ETC=/etc/cutbox
SERVICE_USER=cutbox
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORAL=0
CATALOG=0
START=1
CHECK_ONLY=0

say() { printf '==> %s\n' "$*"; }
die() { printf 'install-pi: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
  case "$arg" in
    --coral) CORAL=1 ;;
    --with-catalog) CATALOG=1 ;;
    --no-start) START=0 ;;
    --check) CHECK_ONLY=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown option $arg (see --help)" ;;
  esac
done

check_platform() {
  local codename="" arch model=""
  if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  fi
  arch="$(uname -m)"
  if [[ -r /proc/device-tree/model ]]; then
    model="$(tr -d '\0' </proc/device-tree/model)"
  fi
  [[ "$model" == Raspberry\ Pi* ]] || die "this is not a Raspberry Pi (model: ${model:-unknown}); cutbox installs on Raspberry Pi OS Bookworm 64-bit"
  [[ "$arch" == aarch64 ]] || die "need the 64-bit Raspberry Pi OS (uname -m says $arch): LiteRT has no 32-bit wheels"
  [[ "$codename" == bookworm || "$codename" == trixie ]] || die "need Raspberry Pi OS Bookworm (found ${codename:-unknown})"
  PI_MODEL="$model"
}

check_platform
if [[ $CHECK_ONLY -eq 1 ]]; then
  say "supported: $PI_MODEL"
  exit 0
fi
[[ $EUID -eq 0 ]] || die "run as root: sudo $0 $*"

say "apt packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  python3-venv python3-pip python3-dev \
  python3-picamera2 python3-libcamera rpicam-apps-lite \
  python3-gpiozero python3-lgpio \
  gphoto2 mosquitto-clients rsync

if [[ $CORAL -eq 1 ]]; then
  say "Coral Edge TPU runtime"
  if [[ ! -f /etc/apt/sources.list.d/coral-edgetpu.list ]]; then
    install -d -m 0755 /etc/apt/keyrings
    curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | gpg --dearmor --yes -o /etc/apt/keyrings/coral-edgetpu.gpg
    echo "deb [signed-by=/etc/apt/keyrings/coral-edgetpu.gpg] https://packages.cloud.google.com/apt coral-edgetpu-stable main" \
      >/etc/apt/sources.list.d/coral-edgetpu.list
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libedgetpu1-std
  # PCIe Coral needs the gasket/apex kernel driver (see docs/coral.md); USB Coral does not.
fi

say "service user $SERVICE_USER"
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/cutbox --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi
for group in video render dialout gpio plugdev input apex; do
  if getent group "$group" >/dev/null; then
    usermod -a -G "$group" "$SERVICE_USER"
  fi
done
getent group apex >/dev/null || groupadd --system apex

say "code and virtualenv in $PREFIX"
install -d -m 0755 "$PREFIX"
rsync -a --delete --exclude .git --exclude .venv --exclude '__pycache__' --exclude 'cutbox-out' "$SRC_DIR/" "$PREFIX/src/"
if [[ ! -x "$PREFIX/venv/bin/python" ]]; then
  # --system-site-packages: picamera2 and libcamera come from apt, not from PyPI
  python3 -m venv --system-site-packages "$PREFIX/venv"
fi
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
"$PREFIX/venv/bin/pip" install --quiet --editable "$PREFIX/src[pi,serial]"
"$PREFIX/venv/bin/python" -c 'import picamera2, ai_edge_litert' || die "picamera2 or LiteRT does not import in $PREFIX/venv"

say "configuration in $ETC"
install -d -m 0755 "$ETC"
if [[ ! -f "$ETC/cutbox.toml" ]]; then
  install -m 0644 "$PREFIX/src/firmware_config/cutbox.toml" "$ETC/cutbox.toml"
fi
CONFIG_FILE="$ETC/cutbox.toml"
"$PREFIX/venv/bin/cutbox" config check --config "$CONFIG_FILE" || die "fix $ETC/cutbox.toml (one line per problem above)"

say "udev rules (Coral, turntable serial port)"
install -m 0644 "$PREFIX/src/firmware_config/udev/99-cutbox.rules" /etc/udev/rules.d/99-cutbox.rules
udevadm control --reload-rules
udevadm trigger

say "boot config ($PI_MODEL)"
BOOT_CONFIG=/boot/firmware/config.txt
[[ -f "$BOOT_CONFIG" ]] || BOOT_CONFIG=/boot/config.txt
if [[ "$PI_MODEL" == *"Raspberry Pi 5"* ]]; then
  FRAGMENT="$PREFIX/src/firmware_config/config-pi5.txt"
else
  FRAGMENT="$PREFIX/src/firmware_config/config-pi4.txt"
fi
NEEDS_REBOOT=0
if ! grep -q '^# >>> cutbox >>>' "$BOOT_CONFIG"; then
  cp -a "$BOOT_CONFIG" "$BOOT_CONFIG.before-cutbox"
  { echo; echo '# >>> cutbox >>>'; cat "$FRAGMENT"; echo '# <<< cutbox <<<'; } >>"$BOOT_CONFIG"
  NEEDS_REBOOT=1
fi

say "systemd units"
install -m 0644 "$PREFIX/src/systemd/cutbox.service" /etc/systemd/system/cutbox.service
install -m 0644 "$PREFIX/src/systemd/cutbox-catalog.service" /etc/systemd/system/cutbox-catalog.service
systemctl daemon-reload
UNITS=(cutbox.service)
[[ $CATALOG -eq 1 ]] && UNITS+=(cutbox-catalog.service)
systemctl enable "${UNITS[@]}"
if [[ $START -eq 1 ]]; then
  systemctl restart "${UNITS[@]}"
  sleep 5
  systemctl --no-pager --lines=5 status "${UNITS[@]}" || die "a unit did not start: journalctl -u cutbox -e"
fi

say "done: open http://$(hostname -I | awk '{print $1}'):8080/"
if [[ $NEEDS_REBOOT -eq 1 ]]; then
  say "$BOOT_CONFIG changed (camera/Coral): reboot once (sudo reboot)"
fi
