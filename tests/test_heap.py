"""writing/runtime/heap.py: freed holes in the middle of the C heap go back to the OS (glibc), as qload needs.

Run in a fresh process, so the heap starts as glibc leaves it after importing torch: the pattern is the one a
quantising load makes (temporaries and kept tensors interleaved on the heap, then the temporaries freed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from writing.runtime import heap

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json
import torch
from writing.runtime import heap
from writing.runtime.cpu import current_rss_bytes
MB = 2**20
big = torch.ones(20 * MB, dtype=torch.uint8)  # mapped, then freed: glibc's mmap threshold rises to 20 MB
del big
temps, kept = [], []
for _ in range(40):  # 8 MB temporaries below small kept blocks: the heap cannot shrink past the kept ones
    temps.append(torch.ones(8 * MB, dtype=torch.uint8))
    kept.append(torch.ones(MB, dtype=torch.uint8))
del temps
held = current_rss_bytes()
released = heap.trim()
print("RESULT " + json.dumps({"held": held, "after": current_rss_bytes(), "released": released,
                              "kept": sum(int(k.sum()) for k in kept)}))
"""


def test_trim_gives_freed_heap_holes_back_to_the_os():
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("RESULT ")).removeprefix("RESULT "))
    assert result["kept"] == 40 * 2**20  # the kept blocks are intact
    if not heap.available():  # musl, macOS, Windows: nothing to call, and it says so
        assert result["released"] is False
        return
    assert result["released"] is True
    # 320 MB of 8 MB holes were resident; trimming gives nearly all of them back
    assert result["held"] - result["after"] > 250 * 2**20, result
