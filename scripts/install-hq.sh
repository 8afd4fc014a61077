#!/usr/bin/env bash
# Install the LoaXa HQ server on the commune's machine (Debian 12), from this checkout.
#
#   sudo bash scripts/install-hq.sh [--config hq.yaml] [--broker-name NAME ...] [options]
#
# Installs what HQ needs (Mosquitto, espeak-ng, ffmpeg; a venv with loaxa[hq]), the service user
# `loaxa-hq`, /etc/loaxa/hq.yaml, the commune CA and the broker's certificate (with --broker-name),
# and the systemd unit; validates the config, then enables and starts HQ. Debian's own mosquitto
# service is stopped when HQ runs its embedded broker (both would want port 1883).
#
# Options:
#   --config FILE        HQ config → /etc/loaxa/hq.yaml (default: keep the existing one, or place the example)
#   --broker-name NAME   a host name or IP nodes use to reach the broker (repeatable): creates the commune CA
#                        and the server certificate in /var/lib/loaxa-hq/tls if they do not exist
#   --postgresql         also install the PostgreSQL server (default database: SQLite in the data dir)
#   --destdir DIR / --dry-run / --no-apt / --no-enable / --skip-venv   as in install-node.sh
set -euo pipefail
# shellcheck source=install-lib.sh
source "$(dirname "$0")/install-lib.sh"

CONFIG=""
NAMES=()
POSTGRES=0
while (($#)); do
  parse_common "$@"
  if ((SHIFT)); then shift "$SHIFT"; continue; fi
  case "$1" in
    --config) [ $# -ge 2 ] || die "{option} needs a value" "option=$1"; CONFIG="$(realpath "$2")"; shift 2 ;;
    --broker-name) [ $# -ge 2 ] || die "{option} needs a value" "option=$1"; NAMES+=("$2"); shift 2 ;;
    --postgresql) POSTGRES=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "Unknown option {option} (see --help)" "option=$1" ;;
  esac
done
require_root

USER_NAME=loaxa-hq
ETC=/etc/loaxa
HQ_YAML=$ETC/hq.yaml
DATA=/var/lib/loaxa-hq
HQ=("$PREFIX/.venv/bin/hq-server")

# shellcheck source=packages.sh
source "$PREFIX/scripts/packages.sh"
apt_install "${HQ_PACKAGES[@]}"
((POSTGRES)) && apt_install postgresql

ensure_user "$USER_NAME" "$DATA"
make_venv hq
check_reachable "$USER_NAME" "${HQ[0]}"

install_dir "$ETC" 0750 root "$USER_NAME"
install_dir "$DATA" 0750 "$USER_NAME" "$USER_NAME"
if [ -n "$CONFIG" ]; then
  install_file "$CONFIG" "$HQ_YAML" 0640 root "$USER_NAME"
elif [ ! -f "$DESTDIR$HQ_YAML" ]; then
  install_file "$PREFIX/firmware_configs/hq.example.yaml" "$HQ_YAML" 0640 root "$USER_NAME"
  warn "Placed the example config {path}: edit the lines marked EDIT" "path=$HQ_YAML"
fi

# as_hq CMD...: run as the service user (files it creates stay its own); plain under --destdir
as_hq() {
  if [ -n "$DESTDIR" ] || [ "$(id -u)" -ne 0 ]; then run "$@"; else run runuser -u "$USER_NAME" -- "$@"; fi
}

if ((${#NAMES[@]})); then
  tls="$DESTDIR$DATA/tls"
  if [ ! -f "$tls/ca.crt" ]; then
    step "Creating the commune CA in {dir}" "dir=$DATA/tls"
    as_hq "${HQ[@]}" make-ca --config "$DESTDIR$HQ_YAML" --out "$tls"
  fi
  if [ ! -f "$tls/server.crt" ]; then
    args=(); for n in "${NAMES[@]}"; do args+=(--name "$n"); done
    step "Issuing the broker certificate for {names}" "names=${NAMES[*]}"
    as_hq "${HQ[@]}" make-server-cert --ca-dir "$tls" --out "$tls" "${args[@]}"
  fi
fi

render_unit loaxa-hq.service

step "Checking {path}" "path=$HQ_YAML"
if ((DRY_RUN)); then
  run "${HQ[@]}" check-config --config "$DESTDIR$HQ_YAML"
elif ! as_hq "${HQ[@]}" check-config --config "$DESTDIR$HQ_YAML"; then
  if [ -n "$DESTDIR" ]; then
    warn "The config does not validate here (its paths name the target machine): {path}" "path=$HQ_YAML"
  else
    die "The config is not valid yet: fix {path}, then run this script again" "path=$HQ_YAML"
  fi
fi

# HQ's embedded broker and Debian's mosquitto.service both want 127.0.0.1:1883
if ! grep -Eq '^broker:' "$DESTDIR$HQ_YAML" && systemctl is-enabled mosquitto.service >/dev/null 2>&1; then
  step "Stopping Debian's mosquitto service: HQ runs its own broker"
  system_run systemctl disable --now mosquitto.service
fi

enable_service loaxa-hq.service
step "Done. Create the first administrator: {cmd}" \
  "cmd=sudo -u $USER_NAME ${HQ[0]} create-user --config $HQ_YAML --username admin --role admin"
