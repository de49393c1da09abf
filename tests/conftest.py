"""Shared fixtures. Every test runs offline against a tiny random Qwen3 checkpoint built here.

User state is isolated per test: the data dir and the Hugging Face home point into tmp_path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Hypothesis: "ci" (the default, and what CI runs) is derandomized, so a run's examples are the same every
# time and a failure reproduces; it prints the blob to replay a failing example and sets no deadline (timing
# on a shared 2-core machine is noise, not a bug). "dev" (HYPOTHESIS_PROFILE=dev) explores new random
# examples on every run and more of them: use it locally to look for new failures (it keeps failing examples
# in .hypothesis/, git-ignored, and replays them first).
from hypothesis import settings  # noqa: E402 - after the environment above

settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None, database=None)
settings.register_profile("dev", derandomize=False, print_blob=True, deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the drafts/presets data dir at tmp_path so no test touches a real user's files."""
    data = tmp_path / "studio-data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    return data


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen3 checkpoint + ChatML tokenizer, built once per test session."""
    from writing.tiny import build

    return build(tmp_path_factory.mktemp("tiny-qwen3"))


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path):
    from writing.runtime.load import load

    return load(str(tiny_model_dir), dtype="auto")


@pytest.fixture(scope="session")
def tiny_engine(tiny_loaded):
    """One shared LocalEngine, as in the studio (one model per process)."""
    from writing.engines.local import LocalEngine

    return LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype, context=2048)


@pytest.fixture(scope="session")
def tiny128(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint with hidden size 128: every K is a multiple of 128, so the fused int8/int4/bf16
    kernels apply to every layer (the default tiny model's 64 is below their block size)."""
    from writing.tiny import build

    return build(tmp_path_factory.mktemp("tiny128"), hidden_size=128)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Which fused kernel paths this run tested, and which this CPU cannot run (neither failed nor skipped)."""
    from writing.runtime import kernels

    try:
        runnable, missing = kernels.runnable_paths(), kernels.unavailable_paths()
    except kernels.KernelPathError as exc:
        terminalreporter.write_line(f"kernel paths: {exc}")
        return
    if kernels.attempted() and not kernels.load() and runnable:  # tried, and the build failed
        terminalreporter.write_line(f"kernel paths not built here ({kernels.why_not()}): {', '.join(runnable)}")
        runnable = []
    terminalreporter.write_line(f"kernel paths tested: {', '.join([*runnable, kernels.STOCK])}")
    if missing:
        terminalreporter.write_line("kernel paths not runnable on this CPU: "
                                    + "; ".join(f"{path} ({why})" for path, why in missing.items()))
