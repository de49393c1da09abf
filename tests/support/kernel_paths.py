"""The fused kernel paths a test can run on this machine, and a switch onto one of them (or onto none)."""

from __future__ import annotations

from unittest import mock

from writing.runtime import kernels

FUSED = kernels.load()
PATHS = [*(kernels.runnable_paths() if FUSED else []), kernels.STOCK]  # every fused path this CPU runs, then stock


def on_path(path: str):
    """A fused path via the kernels' switch; "stock" as on a machine where no kernel is loaded (ARM64)."""
    if path == kernels.STOCK:
        return mock.patch.dict(kernels._state, {"path": kernels.STOCK})
    return kernels.use_path(path)
