"""Run a real llama.cpp server (llama-cpp-python[server]) on 127.0.0.1 for the remote-engine tests.

    python -m tests.support.llama_server MODEL.gguf [--n-ctx 512] [--api-key KEY]   # serve until Ctrl-C

`llama_server(...)` is a context manager: it picks a free port, starts
`python -m llama_cpp.server`, waits until /v1/models answers, yields the /v1 base URL, and always
stops the process at the end, even when the test fails or the server never came up (its log
is then part of the error).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

INSTALL_HINT = "install it with `bash scripts/build_llama_server.sh` (builds llama-cpp-python[server] from source)"


def have_llama_server() -> bool:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        return False
    return True


def require_llama_server() -> None:
    """Fail the test where llama-cpp-python is missing and the run requires it (scripts/test.sh sets
    STUDIO_REQUIRE_LLAMA_SERVER, so the README's test command never skips); elsewhere skip, saying why."""
    if have_llama_server():
        return
    import pytest

    message = f"llama-cpp-python (llama_cpp.server) is not installed: {INSTALL_HINT}"
    if os.environ.get("STUDIO_REQUIRE_LLAMA_SERVER"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def llama_server(model: str | Path, *, n_ctx: int = 512, api_key: str | None = None, threads: int = 1,
                 interrupt_requests: bool = False, ready_timeout_s: float = 90.0,
                 extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve `model` on a free 127.0.0.1 port; yield http://127.0.0.1:PORT/v1.

    interrupt_requests: llama-cpp-python's default (True) ends the running stream when another
    request arrives; a shared studio wants requests queued instead, so the default here is False.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--interrupt_requests", str(interrupt_requests).lower(),
        *(("--api_key", api_key) if api_key else ()), *extra_args,
    ]
    log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)  # noqa: SIM115
    # Own process group: the server (uvicorn) and anything it spawns stop together.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(process, base_url, api_key=api_key, timeout_s=ready_timeout_s, log_path=log.name)
        yield base_url
    finally:
        _stop(process)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


def _wait_ready(process: subprocess.Popen, base_url: str, *, api_key: str | None, timeout_s: float,
                log_path: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama server exited with {process.returncode} before it was ready:\n"
                               f"{_tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/models", headers=headers, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"llama server not ready after {timeout_s:.0f}s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _tail(path: str, lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.llama_server", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a .gguf file (python -m tests.support.gguf_tiny makes a tiny one)")
    parser.add_argument("--n-ctx", type=int, default=512)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    if not have_llama_server():
        print(f"llama_cpp.server is not installed: {INSTALL_HINT}", file=sys.stderr)
        return 1
    with llama_server(args.model, n_ctx=args.n_ctx, api_key=args.api_key) as url:
        print(f"serving {args.model} at {url} (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
