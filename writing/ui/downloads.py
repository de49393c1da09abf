"""Private temporary folders for downloads and exports (the blog .md, the long-form .md, Library exports).

- One folder per process, made by tempfile.mkdtemp: a random name (not guessable) and mode 0700, so no
  other account on the machine can list or read what is in it. Each file goes in a fresh 0700 subfolder
  of it (one per download: two drafts with the same title never collide) and is made 0600.
- Deleted when the process exits (atexit), and pruned while it runs: a subfolder older than
  MAX_AGE_S is deleted at the next download. Gradio copies a returned file into its own cache when the
  handler returns, so the original is not needed after that; an hour is ample.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import threading
import time
import uuid
from pathlib import Path

MAX_AGE_S = 3600.0
PREFIX = "writing-studio-"

_lock = threading.Lock()
_root: Path | None = None


def root() -> Path:
    """This process's private folder (created on first use, removed at exit)."""
    global _root
    with _lock:
        if _root is None or not _root.is_dir():
            _root = Path(tempfile.mkdtemp(prefix=PREFIX))  # mode 0700, random name
            atexit.register(shutil.rmtree, _root, True)
        return _root


def new_folder(*, max_age_s: float = MAX_AGE_S) -> Path:
    """A fresh private (0700) folder for one download; old ones are pruned first."""
    base = root()
    prune(max_age_s=max_age_s)
    folder = base / uuid.uuid4().hex
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)  # whatever the umask
    return folder


def private(path: str | os.PathLike[str]) -> str:
    """Make a written file readable by this account only (0600); returns its path as a string."""
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return str(path)


def prune(*, max_age_s: float = MAX_AGE_S, now: float | None = None) -> int:
    """Delete this process's download folders older than `max_age_s`; returns how many."""
    base = _root
    if base is None or not base.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = 0
    for entry in base.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed += 1
        except OSError:
            continue  # gone meanwhile
    return removed
