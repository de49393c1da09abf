"""The Hypothesis profile the session runs under is the one HYPOTHESIS_PROFILE names (tests/conftest.py), whatever
test modules were collected before this one: a module that loads its own profile changes every test's settings."""

from __future__ import annotations

import os

from hypothesis import settings


def test_the_session_profile_is_the_one_named():
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    profile = settings.get_profile(name)
    current = settings.default
    assert (current.derandomize, current.max_examples, current.database) == (
        profile.derandomize, profile.max_examples, profile.database), f"not the {name!r} profile: {current}"
