"""The Hypothesis profiles in tests/conftest.py: derandomized by default (CI), random with HYPOTHESIS_PROFILE=dev."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent


def test_the_default_profile_is_derandomized():
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        assert settings.default.derandomize and settings.default.deadline is None and settings.default.print_blob


def test_the_session_runs_the_profile_named_whatever_modules_were_collected():
    """A test module that loads a profile of its own changes every test's settings (test_linear_parsers did)."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    profile, current = settings.get_profile(name), settings.default
    assert (current.derandomize, current.max_examples, current.database) == (
        profile.derandomize, profile.max_examples, profile.database), f"not the {name!r} profile: {current}"


PROBE = """
import sys
from hypothesis import given, settings, strategies as st
seen = []
@given(st.integers())
def probe(x):
    seen.append(x)
probe()
print(settings.default.derandomize, hash(tuple(seen)))
"""


def _examples(profile: str | None, where: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"} | {"PYTHONPATH": str(ROOT)}
    if profile:
        env["HYPOTHESIS_PROFILE"] = profile
    code = "import tests.conftest\n" + PROBE  # the profiles as the test suite registers them
    result = subprocess.run([sys.executable, "-c", code], cwd=where, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_ci_repeats_its_examples_and_dev_does_not(tmp_path):
    first, second = _examples(None, tmp_path), _examples("ci", tmp_path)
    assert first == second and first.startswith("True"), (first, second)
    assert not (tmp_path / ".hypothesis").exists()  # ci keeps no example database
    dev = {_examples("dev", tmp_path) for _ in range(2)}
    assert all(d.startswith("False") for d in dev) and len(dev) == 2, dev


@given(st.text())
@settings(max_examples=5)
def test_a_property_runs_under_the_active_profile(text):
    assert isinstance(text, str)
