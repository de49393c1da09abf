"""Gradio's /login behind a throttle (issue #13, part 4).

Gradio calls `auth(username, password)` from its POST /login route and gives the callable no request,
so a small ASGI middleware puts the client's address in a context variable for the duration of each
request (the route awaits the callable in the same task, so it sees the value). The callable asks the
LoginThrottle first: a locked user or address gets HTTP 429 with a message saying for how long, before
the password is compared; otherwise the credentials are checked (constant time, access/auth.py) and the
outcome is recorded. The login page itself can only show gradio's fixed "Incorrect Credentials", so the
limits are also stated in its auth_message.
"""

from __future__ import annotations

import contextvars
import ipaddress
import math
from collections.abc import Callable
from typing import Any

from writing.access.auth import Credentials
from writing.access.ratelimit import LoginThrottle, LoginThrottled

_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar("studio_client_address", default="unknown")


def client_address(scope: dict[str, Any]) -> str:
    """The peer's IP. When the peer is a loopback or private address (a reverse proxy on the same host or
    network, as on Hugging Face Spaces) and it sent X-Forwarded-For, the LAST entry: the one that proxy
    appended itself; earlier entries are whatever the client claimed, so they are never trusted."""
    peer = (scope.get("client") or ("unknown", 0))[0] or "unknown"
    try:
        behind_proxy = ipaddress.ip_address(peer).is_private  # loopback counts as private
    except ValueError:
        behind_proxy = False
    if behind_proxy:
        for name, value in scope.get("headers") or ():
            if name.lower() == b"x-forwarded-for":
                last = value.decode("latin-1").rsplit(",", 1)[-1].strip()
                if last:
                    return last[:64]
    return peer


class ClientAddressMiddleware:
    """Pure ASGI middleware: no body buffering, no extra task, just the context variable."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        token = _ADDRESS.set(client_address(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            _ADDRESS.reset(token)


class ThrottledLogin:
    """The callable gradio gets as `auth`: (username, password) -> bool, or HTTP 429 while locked."""

    def __init__(self, check: Callable[[str, str], bool], throttle: LoginThrottle):
        self.check = check
        self.throttle = throttle

    def __call__(self, username: str, password: str) -> bool:
        from fastapi import HTTPException

        address = _ADDRESS.get()
        try:
            self.throttle.check(username, address)
        except LoginThrottled as exc:
            raise HTTPException(status_code=429, detail=str(exc),
                                headers={"Retry-After": str(math.ceil(exc.retry_after_s))}) from None
        ok = bool(self.check(username, password))
        if ok:
            self.throttle.succeeded(username)
        else:
            self.throttle.failed(username, address)
        return ok


def limits_message(throttle: LoginThrottle) -> str:
    return (f"After {throttle.max_failures} failed logins for one user (or {throttle.max_address_failures} from one "
            f"address) within {throttle.window_s / 60:g} minutes, logins are refused for "
            f"{throttle.lockout_s / 60:g} minutes.")


def throttle_login(options: dict[str, Any], throttle: LoginThrottle | None = None) -> dict[str, Any]:
    """launch() options with `auth` wrapped in a ThrottledLogin and the address middleware added.
    `auth` may be what gradio accepts: a callable, a (user, password) pair or a list of pairs."""
    auth = options.get("auth")
    if auth is None:
        return options
    if not callable(auth):
        pairs = [auth] if isinstance(auth, tuple) and len(auth) == 2 and isinstance(auth[0], str) else auth
        auth = Credentials(dict(pairs))
    throttle = throttle or LoginThrottle()
    from starlette.middleware import Middleware

    app_kwargs = dict(options.get("app_kwargs") or {})
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(ClientAddressMiddleware)]
    message = options.get("auth_message")
    return {**options, "auth": ThrottledLogin(auth, throttle), "app_kwargs": app_kwargs,
            "auth_message": f"{message} {limits_message(throttle)}" if message else limits_message(throttle)}
