"""2 MB pages for the weights (writing/runtime/pages.py): the setting torch's allocator reads, the system's
mode, and, in a fresh process that imports `writing` before torch, large tensors really on 2 MB pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from writing.runtime import cpu, pages

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("text", "mode"), [("always [madvise] never\n", "madvise"),
                                            ("[always] madvise never", "always"),
                                            ("always madvise [never]", "never"), ("garbled", "unknown")])
def test_the_systems_mode_is_read_from_its_setting(tmp_path: Path, text: str, mode: str):
    setting = tmp_path / "enabled"
    setting.write_text(text)
    assert cpu.huge_page_mode(setting) == mode
    assert cpu.huge_page_mode(tmp_path / "missing") == "unknown"  # not Linux


def test_enable_asks_only_where_nobody_said(monkeypatch):
    monkeypatch.delenv(pages.ENV, raising=False)
    pages.enable()
    assert os.environ[pages.ENV] == "1"
    monkeypatch.setenv(pages.ENV, "0")  # the writer's opt-out stands
    pages.enable()
    assert os.environ[pages.ENV] == "0"


PROBE = """
import json, os
import writing  # first: before torch allocates anything
import torch
from writing.runtime import cpu, pages
before = cpu.huge_page_bytes()
weights = torch.empty(64 << 20, dtype=torch.uint8)
weights.fill_(1)  # touched: the pages exist now
print(json.dumps({"env": os.environ.get(pages.ENV), "mode": cpu.huge_page_mode(), "before": before,
                  "after": cpu.huge_page_bytes(), "sum": int(weights[::4096].sum()), "line": pages.describe()}))
"""


@pytest.mark.parametrize("setting", [None, "0"])
def test_a_fresh_studio_process_puts_large_tensors_on_2mb_pages_unless_told_not_to(setting: str | None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop(pages.ENV, None)
    if setting is not None:
        env[pages.ENV] = setting
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["sum"] == (64 << 20) // 4096  # the memory works whatever its page size
    gained = found["after"] - found["before"]
    if setting == "0":
        assert found["env"] == "0"
        if found["mode"] == "madvise":  # nobody asked: 4 KB pages
            assert gained == 0, found
            assert "4 KB pages" in found["line"]
    else:
        assert found["env"] == "1"
        if found["mode"] in ("madvise", "always"):  # asked (or given to all): most of the 64 MB on 2 MB pages
            assert gained >= 32 << 20, found
            assert "2 MB pages" in found["line"]
        else:  # "never" or not Linux: nothing to ask for, and nothing breaks
            assert gained == 0
