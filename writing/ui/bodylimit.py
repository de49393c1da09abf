"""Request bodies bounded before gradio reads them (issue #13's noted gap: a 100 MB POST was parsed whole).

Gradio's routes read the whole body and parse its JSON before any handler of ours runs, so the size
caps in writing/compose/limits.py come too late for a request that is simply huge: the server would
allocate it, decode it and build Python objects from it first. This pure ASGI middleware sits in
front of every route:
- a body whose Content-Length is over the cap is answered 413 at once, without reading a byte of it;
- a body without a length (chunked) or one that lies about it is counted as it arrives and answered
  413 as soon as it passes the cap; what arrived so far is dropped.
The cap is REQUEST_MAX_BYTES: room for the largest text any request may carry (a whole draft of
DRAFT_MAX_CHARS characters, JSON-escaped at worst 6 bytes a character) and nothing more.
"""

from __future__ import annotations

import json
from typing import Any

from writing.compose.limits import REQUEST_MAX_BYTES


class BodyTooLarge(Exception):
    """Raised inside `receive` once the body passes the cap (after the 413 was sent: FastAPI turns any error
    while reading a body into its own 400, which the middleware then drops)."""


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int = REQUEST_MAX_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, declared)
            return
        received = 0
        started = refused = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal received, refused
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not started and not refused:
                        refused = True
                        await self._refuse(send, received)
                    raise BodyTooLarge
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            if refused:
                return  # the 413 was the answer; whatever the app says about the broken body is dropped
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            pass  # answered 413 above (or the app had already answered: nothing more to send)

    async def _refuse(self, send: Any, size: int) -> None:
        detail = (f"The request is too large ({size:,} bytes so far; at most {self.max_bytes:,}). "
                  f"Nothing was read: send a shorter text.")
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            try:
                return int(value.decode("latin-1").strip()[:20])
            except ValueError:
                return None
    return None


def with_body_limit(options: dict[str, Any], max_bytes: int = REQUEST_MAX_BYTES) -> dict[str, Any]:
    """launch() options with the body limit as the outermost middleware of ours."""
    from starlette.middleware import Middleware

    app_kwargs = dict(options.get("app_kwargs") or {})
    app_kwargs["middleware"] = [Middleware(BodyLimitMiddleware, max_bytes=max_bytes),
                                *app_kwargs.get("middleware", [])]
    return {**options, "app_kwargs": app_kwargs}
