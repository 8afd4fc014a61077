#!/usr/bin/env bash
# Set up (idempotent) and run the one-machine demo: embedded Mosquitto, HQ, a simulated village
# loudspeaker node; one bulletin is signed, sent, spoken by espeak-ng and written to a WAV file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/loaxa-sim demo "$@"
