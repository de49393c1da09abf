"""Login credentials for a shared studio: --auth user:password (repeatable), --auth-file, env.

Every source holds whole `user:password` pairs, one per line (--auth: one per flag). A pair is split
on its FIRST ':', so a user name has no ':' and a password may hold any character: ':', ',', '#',
spaces (kept as typed, up to the end of the line). Blank lines and lines starting with '#' are skipped.

STUDIO_AUTH (a Hugging Face Space secret) used to be comma- or newline-separated, which is ambiguous:
"alice:abc,def:ghi" silently meant alice/"abc" plus a user "def". It is now newline-separated only,
and a single-line value containing a comma is REFUSED rather than guessed: read either way, one of
the two readings locks someone out or admits a user nobody meant to create, without a word. The error
explains the format; write the pairs on separate lines, or end a single pair with a newline when the
password really contains a comma.

No error message ever repeats any part of an entry: a malformed line may be a password, or a piece of
one (a line break pasted into it), so errors name the source and line number only. Passwords are
compared in constant time; none is ever printed.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from pathlib import Path

from writing.errors import StudioError

ENV_VAR = "STUDIO_AUTH"


class AuthError(StudioError):
    """A credential entry is malformed (the message names where, never what)."""


def parse_pair(text: str, *, where: str) -> tuple[str, str]:
    """One `user:password` entry -> (user, password). `where` names it in errors ("STUDIO_AUTH line 2")."""
    user, sep, password = text.partition(":")
    user = user.strip()
    if not sep:
        raise AuthError(f"{where}: expected user:password, but the entry has no ':'")
    if not user:
        raise AuthError(f"{where}: expected user:password, but the user name before ':' is empty")
    if not password:
        raise AuthError(f"{where}: expected user:password, but the password after ':' is empty")
    if any(ch.isspace() or ord(ch) < 32 for ch in user):
        raise AuthError(f"{where}: the user name (before the first ':') has spaces or control characters")
    return user, password


def _entries(text: str, source: str) -> Iterable[tuple[str, str]]:
    """(where, entry) for each non-blank, non-comment line; the line break alone is removed."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield f"{source} line {number}", line


def _env_entries(value: str) -> Iterable[tuple[str, str]]:
    if "," in value and len(value.splitlines()) <= 1 and not value.endswith(("\n", "\r")):
        raise AuthError(
            f"{ENV_VAR} holds one user:password pair per line; commas no longer separate pairs. This value is "
            "a single line with a comma, which is ambiguous (one password containing a comma, or several "
            "pairs?), so it is refused. Put each pair on its own line; for a single pair whose password "
            "contains a comma, end the value with a newline."
        )
    return _entries(value, ENV_VAR)


def load_credentials(*, pairs: Iterable[str] = (), auth_file: str | Path | None = None,
                     env: dict[str, str] | None = None) -> dict[str, str]:
    """All configured users -> passwords; empty when the studio is open (no login)."""
    env = os.environ if env is None else env
    found: dict[str, str] = {}
    sources: list[tuple[str, str]] = [(f"--auth #{n}", pair) for n, pair in enumerate(pairs, 1)]
    if auth_file:
        path = Path(auth_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthError(f"--auth-file {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
        except UnicodeDecodeError:
            raise AuthError(f"--auth-file {path}: not UTF-8 text") from None
        sources += _entries(text, f"--auth-file {path.name}")
    sources += _env_entries(env.get(ENV_VAR, ""))
    for where, entry in sources:
        user, password = parse_pair(entry, where=where)
        found[user] = password
    return found


class Credentials:
    """Callable for gradio's `launch(auth=...)`: (user, password) -> bool."""

    def __init__(self, users: dict[str, str]):
        self._users = dict(users)

    def __bool__(self) -> bool:
        return bool(self._users)

    def __call__(self, user: str, password: str) -> bool:
        expected = self._users.get(user)
        # compare anyway on a wrong user so timing does not reveal which users exist
        ok = hmac.compare_digest((expected or "\0").encode(), (password or "").encode())
        return expected is not None and ok

    @property
    def users(self) -> list[str]:
        return sorted(self._users)
