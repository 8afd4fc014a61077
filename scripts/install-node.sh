#!/usr/bin/env bash
# Install the LoaXa edge agent on a village node (Raspberry Pi OS / Debian), from this checkout.
#
#   sudo bash scripts/install-node.sh [--enrol https://hq… CODE | --bundle DIR | --config node.yaml] [options]
#
# Installs only what a node needs (espeak-ng, ffmpeg, alsa-utils, gpiod; a venv with loaxa[edge]),
# the service user `loaxa` (groups audio, gpio, video; the gpio group and its udev rule are created
# where the OS has none), /etc/loaxa with the node's files, and the systemd unit; validates the
# config, then enables and starts the service. Re-running it updates in place (changed files are
# kept as .bak-DATE). See docs/INSTALL-NODE.md.
#
# Options:
#   --config FILE   the node's config → /etc/loaxa/node.yaml (default: keep the existing one, or place the
#                   production example to edit)
#   --bundle DIR    a provisioning bundle from HQ (node.yaml, ca.crt, hq_ed25519.pub, mqtt-password)
#   --enrol URL CODE  fetch the bundle from HQ with a one-time enrolment code (edge-agent enroll)
#   --destdir DIR   write files under DIR, touch nothing else (packaging, CI)
#   --dry-run       print what would be done
#   --no-apt        do not install Debian packages
#   --no-enable     install the unit but do not start it
#   --skip-venv     use the existing .venv of the checkout
set -euo pipefail
# shellcheck source=install-lib.sh
source "$(dirname "$0")/install-lib.sh"

CONFIG=""
BUNDLE=""
ENROL_URL=""
ENROL_CODE=""
while (($#)); do
  parse_common "$@"
  if ((SHIFT)); then shift "$SHIFT"; continue; fi
  case "$1" in
    --config) [ $# -ge 2 ] || die "{option} needs a value" "option=$1"; CONFIG="$(realpath "$2")"; shift 2 ;;
    --bundle) [ $# -ge 2 ] || die "{option} needs a value" "option=$1"; BUNDLE="$(realpath "$2")"; shift 2 ;;
    --enrol) [ $# -ge 3 ] || die "{option} needs a value" "option=$1"; ENROL_URL=$2; ENROL_CODE=$3; shift 3 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "Unknown option {option} (see --help)" "option=$1" ;;
  esac
done
(( (${#CONFIG} > 0) + (${#BUNDLE} > 0) + (${#ENROL_URL} > 0) <= 1 )) ||
  die "Give only one of --config, --bundle, --enrol"
if [ -n "$BUNDLE" ]; then
  for f in node.yaml ca.crt hq_ed25519.pub mqtt-password; do
    [ -f "$BUNDLE/$f" ] || die "The bundle {dir} has no {file}" "dir=$BUNDLE" "file=$f"
  done
fi
require_root

USER_NAME=loaxa
ETC=/etc/loaxa
NODE_YAML=$ETC/node.yaml

# shellcheck source=packages.sh
source "$PREFIX/scripts/packages.sh"
apt_install "${NODE_PACKAGES[@]}"

# plain Debian has no gpio group; Raspberry Pi OS has one (and its own udev rule)
ensure_group gpio
install_dir /etc/udev/rules.d 0755 root root
rules="$(mktemp)"
echo 'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"' > "$rules"
install_file "$rules" /etc/udev/rules.d/60-loaxa-gpiochip.rules 0644 root root
rm -f "$rules"
command -v udevadm >/dev/null && system_run udevadm trigger --subsystem-match=gpio || true

ensure_user "$USER_NAME" /var/lib/loaxa audio gpio video
make_venv edge
check_reachable "$USER_NAME" "$PREFIX/.venv/bin/edge-agent"

install_dir "$ETC" 0750 root "$USER_NAME"
if [ -n "$ENROL_URL" ]; then
  step "Enrolling with HQ {url}" "url=$ENROL_URL"
  run "$PREFIX/.venv/bin/edge-agent" enroll "$ENROL_URL" "$ENROL_CODE" --dir "$DESTDIR$ETC" ||
    die "Enrolment failed: nothing was installed; check the address and the code, or ask HQ for a new code"
elif [ -n "$BUNDLE" ]; then
  step "Installing the provisioning bundle {dir}" "dir=$BUNDLE"
  install_file "$BUNDLE/node.yaml" "$NODE_YAML" 0640 root "$USER_NAME"
  install_file "$BUNDLE/ca.crt" "$ETC/ca.crt" 0644 root "$USER_NAME"
  install_file "$BUNDLE/hq_ed25519.pub" "$ETC/hq_ed25519.pub" 0644 root "$USER_NAME"
  install_file "$BUNDLE/mqtt-password" "$ETC/mqtt-password" 0640 root "$USER_NAME"
elif [ -n "$CONFIG" ]; then
  install_file "$CONFIG" "$NODE_YAML" 0640 root "$USER_NAME"
elif [ ! -f "$DESTDIR$NODE_YAML" ]; then
  install_file "$PREFIX/firmware_configs/speaker-node.example.yaml" "$NODE_YAML" 0640 root "$USER_NAME"
  warn "Placed the example config {path}: edit the lines marked EDIT (or provision the node from HQ)" \
    "path=$NODE_YAML"
fi

render_unit loaxa-edge-agent.service

step "Checking {path}" "path=$NODE_YAML"
check=("$PREFIX/.venv/bin/edge-agent" check-config --config "$DESTDIR$NODE_YAML")
if ((DRY_RUN)); then
  run "${check[@]}"
elif [ -n "$DESTDIR" ]; then
  # paths inside the config name the target machine (/etc/loaxa/…), not DESTDIR: report, do not stop
  "${check[@]}" || warn "The config does not validate here (its paths name the target machine): {path}" \
    "path=$NODE_YAML"
elif [ "$(id -u)" -ne 0 ]; then
  "${check[@]}" || die "The config is not valid yet: fix {path}, then run this script again" "path=$NODE_YAML"
else
  runuser -u "$USER_NAME" -- "${check[@]}" ||
    die "The config is not valid yet: fix {path}, then run this script again" "path=$NODE_YAML"
fi

enable_service loaxa-edge-agent.service
step "Done. Check the node: {cmd}" "cmd=sudo -u $USER_NAME $PREFIX/.venv/bin/edge-agent doctor --config $NODE_YAML"
