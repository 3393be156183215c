#!/usr/bin/env bash
# Install or update cutbox on a Raspberry Pi (Raspberry Pi OS Bookworm, 64-bit) and start it.
#
#   sudo tools/install-pi.sh [options]
#
#   --coral=usb|pcie      also install the Edge TPU runtime; pcie (Pi 5 only) also turns on
#                         PCIe, the 4 KB-page kernel and 32-bit DMA in config.txt
#   --offline[=BUNDLE]    no internet: apt packages must be installed already or lie in
#                         BUNDLE/debs/, Python wheels come from BUNDLE/wheelhouse/ (built by
#                         tools/build_wheelhouse.py); BUNDLE defaults to this release's folder
#   --station-id=ID       station id (default: from the hostname); first install only
#   --mqtt-host=HOST      broker to publish to (turns MQTT on); first install only
#   --mqtt-password-file=FILE  copied to /etc/cutbox/mqtt.password (0640 root:cutbox)
#   --with-catalog        also run the catalog receiver on this box (one-box setup)
#   --no-start            install and enable, but do not (re)start the services
#   --rollback            switch back to the release before the current one and restart
#   --check               only check that this machine is a supported Pi, then exit
#
# Each run installs this source tree as a new release under /opt/cutbox/releases/ with its
# own virtualenv, and switches /opt/cutbox/current to it only once it installed and imports;
# the release before stays for --rollback. The technician's /etc/cutbox/cutbox.toml is never
# overwritten: a first install writes it from the default and gives the box its own identity.
set -euo pipefail

ROOT="${CUTBOX_ROOT:-}"  # everything lands under this folder instead of / (installer tests)
PREFIX="$ROOT/opt/cutbox"
ETC="$ROOT/etc/cutbox"
UNIT_DIR="$ROOT/etc/systemd/system"
UDEV_DIR="$ROOT/etc/udev/rules.d"
SERVICE_USER=cutbox
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORAL=""
OFFLINE=0
BUNDLE="$SRC_DIR"
STATION_ID=""
MQTT_HOST=""
MQTT_PASSWORD_FILE=""
CATALOG=0
START=1
CHECK_ONLY=0
ROLLBACK=0
KEEP_RELEASES=2

say() { printf '==> %s\n' "$*"; }
die() { printf 'install-pi: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
  case "$arg" in
    --coral=usb|--coral=pcie) CORAL="${arg#--coral=}" ;;
    --coral|--coral=*) die "say which Coral: --coral=usb (USB Accelerator) or --coral=pcie (M.2/PCIe on a Pi 5)" ;;
    --offline) OFFLINE=1 ;;
    --offline=*) OFFLINE=1; BUNDLE="${arg#--offline=}" ;;
    --station-id=*) STATION_ID="${arg#--station-id=}" ;;
    --mqtt-host=*) MQTT_HOST="${arg#--mqtt-host=}" ;;
    --mqtt-password-file=*) MQTT_PASSWORD_FILE="${arg#--mqtt-password-file=}" ;;
    --with-catalog) CATALOG=1 ;;
    --no-start) START=0 ;;
    --rollback) ROLLBACK=1 ;;
    --check) CHECK_ONLY=1 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) die "unknown option $arg (see --help)" ;;
  esac
done

check_platform() {
  local codename="" arch model=""
  if [[ -r "$ROOT/etc/os-release" ]]; then
    # shellcheck disable=SC1091
    codename="$(. "$ROOT/etc/os-release" && printf '%s' "${VERSION_CODENAME:-}")"
  fi
  arch="$(uname -m)"
  if [[ -r "$ROOT/proc/device-tree/model" ]]; then
    model="$(tr -d '\0' <"$ROOT/proc/device-tree/model")"
  fi
  [[ "$model" == Raspberry\ Pi* ]] || die "this is not a Raspberry Pi (model: ${model:-unknown}); cutbox installs on Raspberry Pi OS Bookworm 64-bit"
  [[ "$arch" == aarch64 ]] || die "need the 64-bit Raspberry Pi OS (uname -m says $arch): LiteRT has no 32-bit wheels"
  [[ "$codename" == bookworm || "$codename" == trixie ]] || die "need Raspberry Pi OS Bookworm (found ${codename:-unknown})"
  PI_MODEL="$model"
}

restart_units() {
  local units=(cutbox.service)
  [[ $CATALOG -eq 1 ]] && units+=(cutbox-catalog.service)
  systemctl enable "${units[@]}"
  if [[ $START -eq 1 ]]; then
    systemctl restart "${units[@]}"
    sleep 5
    systemctl --no-pager --lines=5 status "${units[@]}" || die "a unit did not start: journalctl -u cutbox -e (roll back: $0 --rollback)"
  fi
}

rollback() {
  local previous
  previous="$(readlink "$PREFIX/previous" 2>/dev/null)" || die "no previous release to roll back to (only one installed)"
  [[ -x "$PREFIX/$previous/venv/bin/cutbox" ]] || die "the previous release $previous is incomplete"
  local current
  current="$(readlink "$PREFIX/current")"
  ln -sfn "$previous" "$PREFIX/current.new" && mv -T "$PREFIX/current.new" "$PREFIX/current"
  ln -sfn "$current" "$PREFIX/previous"
  say "rolled back: current is $previous (the newer $current is kept as previous)"
  restart_units
}

apt_packages() {
  local wanted=(python3-venv python3-pip python3-dev python3-picamera2 python3-libcamera rpicam-apps-lite
    python3-gpiozero python3-lgpio gphoto2 mosquitto-clients)
  if [[ -n "$CORAL" ]]; then
    wanted+=(libedgetpu1-std)
  fi
  local missing=() pkg debs=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  # A libedgetpu built for this LiteRT (docs/coral.md) shipped in the bundle wins over Google's 2021 package.
  shopt -s nullglob
  debs=("$BUNDLE"/debs/*.deb)
  shopt -u nullglob
  if [[ $OFFLINE -eq 1 ]]; then
    if [[ ${#debs[@]} -gt 0 ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-download "${debs[@]}"
    elif [[ ${#missing[@]} -gt 0 ]]; then
      die "offline and not installed: ${missing[*]} (put their .deb files into $BUNDLE/debs/, or run once with internet)"
    fi
    return
  fi
  apt-get update -qq
  if [[ "$CORAL" != "" && ! -f "$ROOT/etc/apt/sources.list.d/coral-edgetpu.list" && ${#debs[@]} -eq 0 ]]; then
    install -d -m 0755 "$ROOT/etc/apt/keyrings"
    curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | gpg --dearmor --yes -o "$ROOT/etc/apt/keyrings/coral-edgetpu.gpg"
    echo "deb [signed-by=/etc/apt/keyrings/coral-edgetpu.gpg] https://packages.cloud.google.com/apt coral-edgetpu-stable main" \
      >"$ROOT/etc/apt/sources.list.d/coral-edgetpu.list"
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${wanted[@]}" "${debs[@]}"
}

service_user() {
  # Every group the unit lists in SupplementaryGroups= must exist, or the unit does not start:
  # create the ones Raspberry Pi OS may lack (apex comes with the Coral PCIe driver) first.
  local group
  for group in gpio apex; do
    getent group "$group" >/dev/null || groupadd --system "$group"
  done
  if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/cutbox --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  for group in video render dialout gpio plugdev input apex; do
    getent group "$group" >/dev/null || groupadd --system "$group"
    usermod -a -G "$group" "$SERVICE_USER"
  done
}

install_release() {
  local version release pip_args=()
  version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$SRC_DIR/pyproject.toml" | head -n1)-$(date -u +%Y%m%dT%H%M%SZ)"
  release="releases/$version"
  say "release $version in $PREFIX/$release"
  install -d -m 0755 "$PREFIX/releases"
  install -d -m 0755 "$PREFIX/$release/src"
  tar -C "$SRC_DIR" --exclude=./.git --exclude=./.venv --exclude='__pycache__' --exclude=./cutbox-out \
    --exclude=./wheelhouse --exclude=./debs --exclude=./test-artifacts -cf - . | tar -C "$PREFIX/$release/src" -xf -
  # --system-site-packages: picamera2 and libcamera come from apt, not from PyPI
  python3 -m venv --system-site-packages "$PREFIX/$release/venv"
  if [[ $OFFLINE -eq 1 ]]; then
    [[ -d "$BUNDLE/wheelhouse" ]] || die "offline but no wheelhouse at $BUNDLE/wheelhouse (build it: python -m tools.build_wheelhouse)"
    pip_args=(--no-index --find-links "$BUNDLE/wheelhouse")
  else
    "$PREFIX/$release/venv/bin/pip" install --quiet --upgrade pip
  fi
  # numpy < 2 (tools/constraints-pi.txt): apt's simplejpeg and picamera2 are built for Debian's numpy 1.x
  "$PREFIX/$release/venv/bin/pip" install --quiet "${pip_args[@]}" \
    --constraint "$PREFIX/$release/src/tools/constraints-pi.txt" --editable "$PREFIX/$release/src[pi,serial]"
  local check='import numpy, cv2, ai_edge_litert, device; assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__'
  [[ -n "$ROOT" ]] || check="$check; import picamera2"
  "$PREFIX/$release/venv/bin/python" -c "$check" || die "the new release does not import (numpy/OpenCV/LiteRT/picamera2); the running one is untouched"
  NEW_RELEASE="$release"
}

switch_to() {
  local release="$1" current=""
  current="$(readlink "$PREFIX/current" 2>/dev/null || true)"
  if [[ -d "$PREFIX/venv" && ! -L "$PREFIX/venv" ]]; then
    # the layout before releases: /opt/cutbox/{src,venv} become the previous release
    local legacy
    legacy="releases/legacy-$(date -u +%Y%m%dT%H%M%SZ)"
    install -d "$PREFIX/$legacy"
    mv "$PREFIX/venv" "$PREFIX/$legacy/venv"
    [[ -d "$PREFIX/src" && ! -L "$PREFIX/src" ]] && mv "$PREFIX/src" "$PREFIX/$legacy/src"
    current="$legacy"
  fi
  ln -sfn "$release" "$PREFIX/current.new" && mv -T "$PREFIX/current.new" "$PREFIX/current"
  [[ -n "$current" && "$current" != "$release" ]] && ln -sfn "$current" "$PREFIX/previous"
  # the units and docs name /opt/cutbox/venv and /opt/cutbox/src: they follow current
  ln -sfn current/venv "$PREFIX/venv"
  ln -sfn current/src "$PREFIX/src"
  local keep=() name
  keep+=("$(basename "$release")")
  [[ -L "$PREFIX/previous" ]] && keep+=("$(basename "$(readlink "$PREFIX/previous")")")
  for name in "$PREFIX"/releases/*; do
    name="$(basename "$name")"
    [[ " ${keep[*]} " == *" $name "* ]] || rm -rf "${PREFIX:?}/releases/$name"
  done
  [[ ${#keep[@]} -le $KEEP_RELEASES ]]
}

provision_config() {
  local config="$ETC/cutbox.toml" python="$PREFIX/current/venv/bin/python" sets=()
  install -d -m 0755 "$ETC"
  if [[ ! -f "$ETC/mqtt.password" ]]; then
    # always there (empty: no password): the catalog unit's LoadCredential= needs the file
    install -m 0640 /dev/null "$ETC/mqtt.password"
  fi
  if [[ -n "$MQTT_PASSWORD_FILE" ]]; then
    install -m 0640 "$MQTT_PASSWORD_FILE" "$ETC/mqtt.password"
  fi
  chown "root:$SERVICE_USER" "$ETC/mqtt.password"
  # The data folders are named in the file, never by the units' environment: a hand-run
  # `cutbox calibrate` or `cutbox status` reads this file too and lands where the service looks.
  local pins=(--pin "station.data_dir=/var/lib/cutbox" --pin "mqtt.catalog.data_dir=/var/lib/cutbox-catalog")
  if [[ -f "$config" ]]; then
    say "keeping $config (provisioned before)"
    (cd "$PREFIX/current/src" && "$python" -m tools.provision "$config" "${pins[@]}")
    return
  fi
  local host station machine token
  host="$(hostname)"
  station="${STATION_ID:-$("$python" -m tools.provision --station-id-from "$host")}"
  machine="$(head -c 8 "$ROOT/etc/machine-id" 2>/dev/null || true)"
  [[ -n "$machine" ]] || machine="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  say "provisioning station $station (hostname $host)"
  install -m 0644 "$PREFIX/current/src/firmware_config/cutbox.toml" "$config.new"
  token="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  install -m 0640 /dev/null "$ETC/api-token"
  printf '%s\n' "$token" >"$ETC/api-token"
  chown "root:$SERVICE_USER" "$ETC/api-token"
  sets=(--set "station.id=\"$station\"" "${pins[@]}"
    --set "api.token_file=\"/etc/cutbox/api-token\""
    --set "mqtt.client_id=\"cutbox-$station-$machine\"" --set "mqtt.username=\"$station\"")
  [[ -n "$MQTT_HOST" ]] && sets+=(--set 'mqtt.enabled=true' --set "mqtt.host=\"$MQTT_HOST\"")
  [[ -s "$ETC/mqtt.password" ]] && sets+=(--set 'mqtt.password_file="/etc/cutbox/mqtt.password"')
  [[ "$CORAL" == usb ]] && sets+=(--set 'segment.edgetpu_device="usb"')
  [[ "$CORAL" == pcie ]] && sets+=(--set 'segment.edgetpu_device="pci"')
  (cd "$PREFIX/current/src" && "$python" -m tools.provision "$config.new" "${sets[@]}")
  mv "$config.new" "$config"
}

check_config() {
  # as the service user, so a secret file the service cannot read is caught here
  CONFIG_FILE="$ETC/cutbox.toml"
  local as_service=() under=()
  if [[ -n "$ROOT" ]]; then
    under=(--root "$ROOT")
  else
    as_service=(runuser -u "$SERVICE_USER" --)
  fi
  "${as_service[@]}" "$PREFIX/current/venv/bin/cutbox" config check --config "$CONFIG_FILE" "${under[@]}" || die "fix $CONFIG_FILE (one line per problem above)"
}

boot_config() {
  local boot_config="$ROOT/boot/firmware/config.txt"
  [[ -f "$boot_config" ]] || boot_config="$ROOT/boot/config.txt"
  [[ -f "$boot_config" ]] || die "no config.txt in $ROOT/boot/firmware or $ROOT/boot"
  local fragments=()
  if [[ "$PI_MODEL" == *"Raspberry Pi 5"* ]]; then
    fragments+=("$PREFIX/current/src/firmware_config/config-pi5.txt")
    [[ "$CORAL" == pcie ]] && fragments+=("$PREFIX/current/src/firmware_config/config-pi5-coral-pcie.txt")
  else
    fragments+=("$PREFIX/current/src/firmware_config/config-pi4.txt")
  fi
  local block
  block="$(printf '# >>> cutbox >>>\n'; cat "${fragments[@]}"; printf '# <<< cutbox <<<\n')"
  if grep -q '^# >>> cutbox >>>' "$boot_config"; then
    local current_block
    current_block="$(sed -n '/^# >>> cutbox >>>/,/^# <<< cutbox <<</p' "$boot_config")"
    [[ "$current_block" == "$block" ]] && return 0
    sed -i '/^# >>> cutbox >>>/,/^# <<< cutbox <<</d' "$boot_config"  # replaced below (e.g. --coral=pcie added)
  else
    cp -a "$boot_config" "$boot_config.before-cutbox"
  fi
  printf '\n%s\n' "$block" >>"$boot_config"
  NEEDS_REBOOT=1
  BOOT_CONFIG="$boot_config"
}

check_platform
if [[ $CHECK_ONLY -eq 1 ]]; then
  say "supported: $PI_MODEL"
  exit 0
fi
[[ $EUID -eq 0 ]] || die "run as root: sudo $0 $*"
if [[ "$CORAL" == pcie && "$PI_MODEL" != *"Raspberry Pi 5"* ]]; then
  die "--coral=pcie needs a Pi 5 (this is $PI_MODEL): use the USB Accelerator, --coral=usb"
fi
if [[ $ROLLBACK -eq 1 ]]; then
  rollback
  exit 0
fi

say "apt packages${OFFLINE:+ (offline: $OFFLINE)}"
apt_packages
say "service user $SERVICE_USER and its groups"
service_user
install_release
switch_to "$NEW_RELEASE"
say "configuration in $ETC"
provision_config
check_config

say "udev rules (Coral, turntable serial port, scanner)"
install -d -m 0755 "$UDEV_DIR"
install -m 0644 "$PREFIX/current/src/firmware_config/udev/99-cutbox.rules" "$UDEV_DIR/99-cutbox.rules"
udevadm control --reload-rules
udevadm trigger

NEEDS_REBOOT=0
BOOT_CONFIG=""
say "boot config ($PI_MODEL)"
boot_config

say "systemd units"
install -d -m 0755 "$UNIT_DIR"
install -m 0644 "$PREFIX/current/src/systemd/cutbox.service" "$UNIT_DIR/cutbox.service"
install -m 0644 "$PREFIX/current/src/systemd/cutbox-catalog.service" "$UNIT_DIR/cutbox-catalog.service"
systemctl daemon-reload
restart_units

say "done: open http://$(hostname -I | awk '{print $1}'):8080/ (API token: $ETC/api-token)"
if [[ $NEEDS_REBOOT -eq 1 ]]; then
  say "$BOOT_CONFIG changed (camera/Coral): reboot once (sudo reboot)"
fi
