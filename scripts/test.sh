#!/usr/bin/env bash
# Set up (idempotent) and run every check: ruff, mypy (strict on the contract and the pure modules,
# listed in pyproject.toml), then the whole pytest suite (unit + integration against real Mosquitto,
# espeak-ng, ffmpeg, OpenCV, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
