"""Data dir rules: --data-dir > STUDIO_DATA_DIR > /data on a Space > the platform per-user folder."""

from __future__ import annotations

import os
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


def test_set_data_dir_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """--data-dir reaches the studio: main() opens the drafts database there (over STUDIO_DATA_DIR)."""
    import studio
    import writing.ui.app as app_module
    from tests.support.hardening import FixedTextEngine
    from writing.library.store import DB_NAME

    launched: dict = {}
    monkeypatch.setattr(studio, "make_engine", lambda args: FixedTextEngine("x"))
    monkeypatch.setattr(app_module, "launch", lambda app, **kw: launched.update(app=app, **kw))
    chosen = tmp_path / "cli"
    assert studio.main(["--data-dir", str(chosen), "--port", "1"]) == 0
    assert launched, "the studio was never launched"
    assert paths.data_dir() == chosen.resolve()
    assert f"[studio] drafts: {chosen.resolve() / DB_NAME}" in capsys.readouterr().out
    assert (chosen / DB_NAME).is_file()  # the database was created there, not in STUDIO_DATA_DIR
    assert not (Path(os.environ["STUDIO_DATA_DIR"]) / DB_NAME).exists()
