"""kill -9 a real writer process at random points while it autosaves; nothing committed may be lost.

The writer (tests/support/store_writer.py) prints `SAVED <id> <version> <user>` after each save returns. After each
kill the database must open, pass PRAGMA integrity_check, and hold for every draft the last version the
writer reported, or the one after it (killed between COMMIT and print), with exactly that text.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.store_writer import content_for
from writing.library.store import DraftStore

WRITER = Path(__file__).with_name("support") / "store_writer.py"
ROUNDS = 60


def expected_text(draft_id: str, version: int) -> str:
    return "" if version == 0 else content_for(draft_id, version)


def run_and_kill(db: Path, seed: int, rng: random.Random) -> list[tuple[str, int, str]]:
    """Start the writer, kill -9 it at a random moment, return its SAVED reports (in order)."""
    proc = subprocess.Popen([sys.executable, str(WRITER), str(db), str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 0.12))  # sometimes while it opens the database / creates the schema
        else:
            ready = proc.stdout.readline()
            assert ready.strip() == "READY", (ready, proc.stderr.read())
            time.sleep(rng.uniform(0.0, 0.25))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, f"writer ended by itself ({proc.returncode}): {err[-2000:]}"
    assert "ERROR" not in out, out
    reports = []
    for line in out.splitlines():
        if line.startswith("SAVED "):
            _, draft_id, version, user = line.split()
            reports.append((draft_id, int(version), user))
    return reports


@pytest.mark.slow
def test_kill_9_during_autosave_never_loses_a_committed_draft(tmp_path: Path) -> None:
    db = tmp_path / "drafts.sqlite3"
    rng = random.Random(20261129)
    last: dict[str, tuple[int, str]] = {}  # draft id -> (last reported version, user)
    killed_after_saves = 0
    started = time.monotonic()
    for round_no in range(ROUNDS):
        for draft_id, version, user in run_and_kill(db, seed=round_no, rng=rng):
            last[draft_id] = (version, user)
            killed_after_saves += 1
        with DraftStore(db) as store:  # opening runs WAL recovery after the crash
            assert store.integrity() == "ok", f"round {round_no}"
            for draft_id, (version, user) in last.items():
                draft = store.get(draft_id, user=user)
                stored = draft.content
                if stored != expected_text(draft_id, version):
                    # killed after COMMIT but before the report line: the next version is committed
                    assert stored == expected_text(draft_id, version + 1), (
                        f"round {round_no}: draft {draft_id} lost version {version} (has {stored[:60]!r})")
                    last[draft_id] = (version + 1, user)
    elapsed = time.monotonic() - started
    print(f"{ROUNDS} kills, {len(last)} drafts, {killed_after_saves} reported saves, {elapsed:.1f}s")
    assert len(last) >= ROUNDS // 2, "the writer should have committed drafts in most rounds"
    assert elapsed < 60
