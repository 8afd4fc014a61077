#!/usr/bin/env bash
# Set up a fresh Debian machine for LoaXa development and CI: every system package (scripts/packages.sh),
# then a venv with the package and all its extras. Idempotent: re-running only installs what is missing.
# A village node or the HQ machine is installed with scripts/install-node.sh / install-hq.sh instead,
# which install only what that machine needs.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=packages.sh
source scripts/packages.sh
APT_PACKAGES=("${DEV_PACKAGES[@]}")

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts a system-wide mosquitto/postgresql on install; LoaXa runs its own on free loopback ports.

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.loaxa-installed
# cv2 comes from opencv-contrib-python-headless (OpenCV 5's HOG people detector lives only there); both wheels
# write the same cv2/ folder, so a venv that still has the plain one gets a clean reinstall of contrib.
if .venv/bin/python -m pip show -q opencv-python-headless > /dev/null 2>&1; then
  echo "==> replacing opencv-python-headless with opencv-contrib-python-headless"
  .venv/bin/python -m pip uninstall -q -y opencv-python-headless opencv-contrib-python-headless
  rm -f "$stamp"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing loaxa[edge,hq,dev] into .venv (log: .venv/pip-install.log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e '.[edge,hq,dev]'; } > .venv/pip-install.log 2>&1; then
    tail -40 .venv/pip-install.log
    echo "pip install failed; full log in .venv/pip-install.log" >&2
    exit 1
  fi
  touch "$stamp"
fi
echo "==> setup done"
