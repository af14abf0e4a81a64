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
extra=""
[ "${1:-}" = "test" ] && extra="[test]"
# pip's own chatter goes to a log; it is shown only when the install fails
if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e ".${extra}"; } \
    > .venv/setup.log 2>&1; then
  tail -n 40 .venv/setup.log >&2
  echo "setup failed; the whole log is in .venv/setup.log" >&2
  exit 1
fi
