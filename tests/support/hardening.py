"""Helpers for the hardening tests: a studio on a free 127.0.0.1 port with launch options (auth,
blocked paths), and the Gradio API spoken as raw HTTP (POST /gradio_api/call/<api>, then the SSE stream).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.support.ui_server import StudioServer, _wait_until_up, free_port
from writing.runtime.cpu import current_rss_bytes
from writing.ui.app import build_app, launch
from writing.ui.context import UIContext


@contextlib.contextmanager
def serve(engine: Any, *, queue_size: int = 16, launch_options: dict[str, Any] | None = None,
          **ctx_options: Any) -> Iterator[StudioServer]:
    ctx = UIContext(engine=engine, **ctx_options)
    app = build_app(ctx, queue_size=queue_size)
    port = free_port()
    launch(app, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True, **(launch_options or {}))
    url = f"http://127.0.0.1:{port}/"
    try:
        if not (launch_options or {}).get("auth"):
            _wait_until_up(url)
        else:
            _wait_until_answering(url)
        yield StudioServer(url=url, ctx=ctx, app=app)
    finally:
        for session in list(getattr(ctx.runs, "_events", {})):
            ctx.runs.stop(session)
        app.close()


def _wait_until_answering(url: str, timeout: float = 30.0) -> None:
    """Poll until the server answers HTTP at all (behind a login /config is a 401: answering, not up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{url}config", timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing answers at {url} after {timeout}s"
            time.sleep(0.05)


def post_call(url: str, api: str, data: list[Any], *, client: httpx.Client | None = None,
              raw: bytes | None = None) -> httpx.Response:
    """Start a call. `raw` sends bytes as they are (e.g. Python's json.dumps with NaN)."""
    body = raw if raw is not None else json.dumps({"data": data}).encode()
    sender = client or httpx
    return sender.post(f"{url}gradio_api/call/{api}", content=body, headers={"content-type": "application/json"},
                       timeout=30)


def read_events(url: str, api: str, event_id: str, *, timeout: float = 60.0,
                client: httpx.Client | None = None) -> list[tuple[str, Any]]:
    """The SSE stream of one call as (event, data) pairs, up to its final complete/error event."""
    events: list[tuple[str, Any]] = []
    kind = ""
    sender = client or httpx
    with sender.stream("GET", f"{url}gradio_api/call/{api}/{event_id}", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                text = line.split(":", 1)[1].strip()
                try:
                    value = json.loads(text)
                except ValueError:
                    value = text
                events.append((kind, value))
                if kind in ("complete", "error"):
                    break
    return events


def call(url: str, api: str, data: list[Any], *, timeout: float = 60.0, raw: bytes | None = None,
         client: httpx.Client | None = None) -> tuple[int, list[tuple[str, Any]]]:
    """(HTTP status of the POST, SSE events). A refused POST gives [("http", body text)]."""
    response = post_call(url, api, data, raw=raw, client=client)
    if response.status_code != 200:
        return response.status_code, [("http", response.text)]
    return 200, read_events(url, api, response.json()["event_id"], timeout=timeout, client=client)


def generate_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "studio-generate" and t.is_alive()]


def rss_bytes() -> int:
    return current_rss_bytes()


def wait_idle(engine: Any, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while engine.busy or generate_threads():
        assert time.perf_counter() - start < timeout, f"engine still busy after {timeout}s"
        time.sleep(0.005)
    return time.perf_counter() - start


# /blog's arguments in order (the brief, then the sampling panel: writing/ui/sampling.py FIELDS).
BLOG_ARGS = ["topic", "audience", "tone", "words", "structure", "language", "temperature", "top_p", "top_k", "min_p",
             "repetition_penalty", "presence_penalty", "max_new_tokens", "seed"]


def blog_data(**overrides: Any) -> list[Any]:
    values = {"topic": "Why tests matter", "audience": "", "tone": "", "words": 200, "structure": ["Sections"],
              "language": "English", "temperature": 0.8, "top_p": 0.9, "top_k": 20, "min_p": 0.0,
              "repetition_penalty": 1.0, "presence_penalty": 0.0, "max_new_tokens": 32, "seed": 1}
    values.update(overrides)
    return [values[k] for k in BLOG_ARGS]


class FixedTextEngine:
    """An engine that 'writes' fixed text in small pieces. ONLY for tests of what the UI does with model
    output (rendering, code never executed): the real tiny model cannot be made to emit a chosen string."""

    name = "fixed-text"
    backend = "test"
    dtype = ""
    context = 4096
    busy = False

    def __init__(self, text: str, *, piece: int = 7):
        self.text = text
        self.piece = piece

    def count_tokens(self, messages: Any) -> int:
        return 10

    def stream(self, messages: Any, params: Any, cancel: Any = None, *, stats: Any = None) -> Iterator[str]:
        for start in range(0, len(self.text), self.piece):
            if cancel is not None and cancel.is_set():
                break
            yield self.text[start:start + self.piece]
        if stats is not None:
            stats.finish_reason = "stop"
