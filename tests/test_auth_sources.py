"""Where a credential came from, as its errors say it (issue 16: the surviving mutants of
writing/access/auth.py): every error names the source and the line or flag number, counted from 1,
and nothing of the entry; comments may be indented; a Windows line end makes a single pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from writing.access.auth import ENV_VAR, AuthError, Credentials, load_credentials


def error(**sources) -> str:
    with pytest.raises(AuthError) as caught:
        load_credentials(**sources)
    return str(caught.value)


def test_an_auth_flag_error_names_which_flag_counting_from_one() -> None:
    assert error(pairs=["alice:a", "bob"], env={}) == "--auth #2: expected user:password, but the entry has no ':'"


def test_an_auth_file_error_names_the_file_and_the_line_counting_from_one(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("alice:a\nbob\n", encoding="utf-8")
    message = error(auth_file=path, env={})
    assert message == "--auth-file users.txt line 2: expected user:password, but the entry has no ':'"


def test_a_studio_auth_error_names_the_variable_and_the_line() -> None:
    message = error(env={ENV_VAR: "alice:a\n:nobody\n"})
    assert message == f"{ENV_VAR} line 2: expected user:password, but the user name before ':' is empty"


def test_indented_comments_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("  # the team\nalice:a\n\t# bob left\n", encoding="utf-8")
    assert load_credentials(auth_file=path, env={ENV_VAR: "   # nobody yet\ncarol:c\n"}) == {"alice": "a", "carol": "c"}


def test_a_single_pair_ending_in_a_windows_line_break_may_hold_a_comma() -> None:
    assert load_credentials(env={ENV_VAR: "alice:a,b\r"}) == {"alice": "a,b"}
    assert load_credentials(env={ENV_VAR: "alice:a,b\r\n"}) == {"alice": "a,b"}


def test_the_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "dora:d\n")
    assert load_credentials(pairs=["alice:a"]) == {"alice": "a", "dora": "d"}


def test_an_auth_file_that_is_not_a_file_or_not_utf8_says_so(tmp_path: Path) -> None:
    assert error(auth_file=tmp_path, env={}) == f"--auth-file {tmp_path}: cannot read it (Is a directory)"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("josé:contraseña\n".encode("latin-1"))
    assert error(auth_file=latin, env={}) == f"--auth-file {latin}: not UTF-8 text"


def test_a_studio_is_open_exactly_when_no_user_is_configured() -> None:
    assert not Credentials({})
    assert Credentials({"alice": "a"})
