#!/usr/bin/env bash
# Install everything the tests need, then run them all. Offline: the tests build their own tiny
# model and GGUF, start their own servers and browser on 127.0.0.1, and clean up after themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-test.txt
bash scripts/install_test_tools.sh
# A missing llama.cpp server or browser is a failure, never a skip.
export STUDIO_REQUIRE_LLAMA_SERVER=1 STUDIO_REQUIRE_BROWSER=1
.venv/bin/ruff check .
set +e
log="$(mktemp)"
.venv/bin/python -m pytest -q -rs "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 5 ]; then echo "no tests were collected: failing" >&2; exit 1; fi
# A skipped test is not a passing one: every skip here (no fused kernel, no llama server, no chattr)
# means part of the studio went untested on this machine.
if [ "$status" -eq 0 ] && tail -n 3 "$log" | grep -q "skipped"; then
    echo "some tests were skipped (see SKIPPED lines above): failing" >&2; exit 1
fi
exit "$status"
