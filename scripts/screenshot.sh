#!/usr/bin/env bash
# Refresh the README pictures: docs/screenshot.png (the studio with the tiny random model, built in a
# temporary folder: the Blog tab, dark, a brief filled in) and docs/workspace.png (a blog post with its story
# bible and the Revisions panel comparing two typed versions). The tests take the same picture into a
# temporary folder only; this script is the one thing that rewrites the tracked file. Needs Chromium
# (/usr/bin/chromium, or STUDIO_CHROMIUM) and the test requirements (bash scripts/setup.sh requirements-test.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False TOKENIZERS_PARALLELISM=false
"$PYTHON" -m tests.support.screenshot "${1:-docs/screenshot.png}"
exec "$PYTHON" -m tests.support.workspace_shot "${2:-docs/workspace.png}"
