#!/usr/bin/env bash
# Create .venv and install StoryReel into it (with the test tools when given "test").
# Everything comes from PyPI: FFmpeg (imageio-ffmpeg), eSpeak NG (espeakng-loader),
# PocketSphinx and its English model, the Roboto font. No other download happens.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "test" ]; then
  .venv/bin/python -m pip install --quiet -e '.[test]'
else
  .venv/bin/python -m pip install --quiet -e .
fi
