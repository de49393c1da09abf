"""Where user data (drafts database, user presets) lives.

Order: `--data-dir` (set_data_dir) > env STUDIO_DATA_DIR > /data when it exists and is writable
(Hugging Face Space persistent storage) > the platform's per-user data folder.
Stdlib only: the store's crash-test subprocess imports this and must start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "STUDIO_DATA_DIR"
SPACE_DATA = Path("/data")  # persistent storage mount on a Hugging Face Space

# Set once by the CLI (--data-dir); None means "not given". Process-wide on purpose: one studio, one data dir.
_override: Path | None = None


def set_data_dir(path: str | os.PathLike[str] | None) -> None:
    """Use `path` as the data dir for this process (None clears the override)."""
    global _override
    _override = None if path is None else Path(path).expanduser().resolve()


def platform_data_dir() -> Path:
    """The platform convention for per-user application data."""
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("APPDATA")
        return (Path(base) if base else home / "AppData" / "Roaming") / "WritingStudio"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "WritingStudio"
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base) if base else home / ".local" / "share") / "writing-studio"


def _space_data_usable() -> bool:
    return SPACE_DATA.is_dir() and os.access(SPACE_DATA, os.W_OK | os.X_OK)


def resolve_data_dir() -> Path:
    """The data dir by the rules above, without creating it."""
    if _override is not None:
        return _override
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    if _space_data_usable():
        return SPACE_DATA / "writing-studio"
    return platform_data_dir()


def data_dir() -> Path:
    """The data dir, created on first use (a failure to create it raises OSError for the caller to report)."""
    path = resolve_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_ephemeral() -> bool:
    """True on a Hugging Face Space without persistent storage: drafts vanish when the Space restarts."""
    if not os.environ.get("SPACE_ID"):
        return False
    if _override is not None or os.environ.get(ENV_VAR):
        # An explicit folder on a Space is only persistent if it lies under /data.
        chosen = resolve_data_dir()
        return not (_space_data_usable() and chosen.resolve().is_relative_to(SPACE_DATA))
    return not _space_data_usable()
