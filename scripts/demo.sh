#!/usr/bin/env bash
# Set up, then make a 4-minute narrated video from a sample prompt, offline (no keys,
# no network). Extra arguments go to `storyreel make`, e.g. --segments 6 --lang ru.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
exec .venv/bin/storyreel make "A video about the history of coffee" --yes --out out/demo.mp4 "$@"
