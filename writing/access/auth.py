"""Login credentials for a shared studio: --auth user:password (repeatable), --auth-file, env.

STUDIO_AUTH holds the same "user:password" pairs separated by commas or newlines (a Hugging
Face Space secret). Passwords are compared in constant time; none is ever printed.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from pathlib import Path

from writing.errors import StudioError

ENV_VAR = "STUDIO_AUTH"


class AuthError(StudioError):
    """A credential line is malformed (the message never includes the password)."""


def parse_pair(text: str, *, where: str) -> tuple[str, str]:
    user, sep, password = text.strip().partition(":")
    user = user.strip()
    if not sep or not user or not password:
        raise AuthError(f"{where}: expected user:password, got an entry for {user or '(no user)'!r}")
    if any(ch.isspace() or ord(ch) < 32 for ch in user):
        raise AuthError(f"{where}: user name {user!r} has spaces or control characters")
    return user, password


def _lines(text: str) -> Iterable[str]:
    for line in text.replace(",", "\n").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def load_credentials(*, pairs: Iterable[str] = (), auth_file: str | Path | None = None,
                     env: dict[str, str] | None = None) -> dict[str, str]:
    """All configured users -> passwords; empty when the studio is open (no login)."""
    env = os.environ if env is None else env
    found: dict[str, str] = {}
    sources: list[tuple[str, str]] = [("--auth", pair) for pair in pairs]
    if auth_file:
        path = Path(auth_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthError(f"--auth-file {path}: cannot read it ({exc.strerror or exc})") from None
        sources += [(f"--auth-file {path.name}", line) for line in _lines(text)]
    sources += [(ENV_VAR, line) for line in _lines(env.get(ENV_VAR, ""))]
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
