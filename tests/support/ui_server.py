"""Launch the studio UI with the tiny model on a free 127.0.0.1 port, in this process, and stop it.

    with serve_studio(engine) as server:
        Client(server.url) ...

The app runs on gradio's own server thread (prevent_thread_lock); `close()` stops it and any
generation still running (every session's cancel Event is set first).
"""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from writing.ui.app import build_app, launch
from writing.ui.context import UIContext


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StudioServer:
    url: str
    ctx: UIContext
    app: Any


def _wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "config", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def serve_studio(engine: Any, *, queue_size: int = 16, **ctx_options: Any) -> Iterator[StudioServer]:
    ctx = UIContext(engine=engine, **ctx_options)
    app = build_app(ctx, queue_size=queue_size)
    port = free_port()
    launch(app, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url)
        yield StudioServer(url=url, ctx=ctx, app=app)
    finally:
        for session in list(getattr(ctx.runs, "_events", {})):
            ctx.runs.stop(session)
        app.close()


def last_run(server, since: float, timeout: float = 10.0):
    """The stats of the run that ended after `since` (the UI records them just after the model is freed)."""
    deadline = time.perf_counter() + timeout
    while True:
        stats = server.ctx.last_stats
        if stats is not None and stats.finished_at is not None and stats.finished_at >= since:
            return stats
        assert time.perf_counter() < deadline, f"no run finished after {since}: last is {stats}"
        time.sleep(0.01)
