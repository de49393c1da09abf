"""Data dir rules: --data-dir > STUDIO_DATA_DIR > /data on a Space > the platform per-user folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from writing.library import paths


@pytest.fixture(autouse=True)
def no_override():
    paths.set_data_dir(None)
    yield
    paths.set_data_dir(None)


def test_env_var_is_used_and_created(isolated_user_state: Path) -> None:
    assert not isolated_user_state.exists()
    assert paths.data_dir() == isolated_user_state
    assert isolated_user_state.is_dir()


def test_flag_beats_env(tmp_path: Path) -> None:
    paths.set_data_dir(tmp_path / "flag")
    assert paths.data_dir() == (tmp_path / "flag").resolve()


def test_platform_default_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STUDIO_DATA_DIR")
    monkeypatch.setattr(paths, "SPACE_DATA", tmp_path / "no-such-data")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert paths.resolve_data_dir() == tmp_path / ".local" / "share" / "writing-studio"


def test_space_uses_persistent_data_else_warns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STUDIO_DATA_DIR")
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    monkeypatch.setattr(paths, "SPACE_DATA", tmp_path / "missing")
    assert paths.is_ephemeral() is True
    space_data = tmp_path / "data"
    space_data.mkdir()
    monkeypatch.setattr(paths, "SPACE_DATA", space_data)
    assert paths.is_ephemeral() is False
    assert paths.data_dir() == space_data / "writing-studio"
    paths.set_data_dir(tmp_path / "elsewhere")  # an explicit folder outside /data on a Space is temporary
    assert paths.is_ephemeral() is True


def test_not_a_space_is_never_ephemeral(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert paths.is_ephemeral() is False


def test_set_data_dir_from_the_cli(tmp_path: Path) -> None:
    import studio

    args = studio.build_parser().parse_args(["--data-dir", str(tmp_path / "cli")])
    assert args.data_dir == str(tmp_path / "cli")
