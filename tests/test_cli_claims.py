"""README claims about starting the studio, checked on the running studio.

`python studio.py` is started as a subprocess with the tiny model and then asked over HTTP what it
serves: PORT, GRADIO_SERVER_NAME, STUDIO_MODEL, STUDIO_DTYPE, STUDIO_RATE_LIMIT and STUDIO_DATA_DIR
reach it from the environment, and the flags (--port, --host, --model, --dtype, --rate-limit,
--rate-window, --data-dir, --context) win over them. Plus: the queue the CLI builds holds 16 waiting
runs, and passwords are compared with hmac.compare_digest.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.support.hardening import call, post_call, read_events
from tests.support.ui_server import free_port
from writing.library.store import DB_NAME, DraftStore

ROOT = Path(__file__).resolve().parent.parent
CHAT = lambda text: [text, [], 0.7, 0.8, 20, 0.0, 1.0, 0.0, 2, 1]  # noqa: E731 - /chat's arguments
CLEARED = ("PORT", "GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME", "STUDIO_MODEL", "STUDIO_DTYPE", "STUDIO_RATE_LIMIT",
           "STUDIO_DATA_DIR", "STUDIO_AUTH", "STUDIO_BACKEND", "OPENAI_BASE_URL")


@contextlib.contextmanager
def _studio(args: list[str], env_extra: dict[str, str], log: Path):
    """Start studio.py; yield the URL it says it serves on, once that URL answers."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED} | {"HF_HUB_OFFLINE": "1", **env_extra}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "studio.py"), *args], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        url = None
        while True:
            assert process.poll() is None, f"the studio exited: {log.read_text()[-3000:]}"
            found = re.search(r"\[studio\] serving on (http://\S+)", log.read_text())
            url = url or (found and found.group(1).rstrip("/") + "/")
            if url:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}config", timeout=2).status_code == 200:
                        break
            assert time.monotonic() < deadline, f"the studio did not come up: {log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def _status_line(url: str) -> str:
    config = httpx.get(f"{url}config", timeout=10).json()
    return next(c["props"]["value"] for c in config["components"]
                if c.get("props", {}).get("elem_id") == "studio-status")


def _refused(url: str) -> bool:
    try:
        httpx.get(f"{url}config", timeout=2)
    except httpx.TransportError:
        return True
    return False


def _wait_drafts(db: Path, count: int) -> list:
    deadline = time.monotonic() + 30
    while True:
        if db.exists():
            store = DraftStore(db)
            try:
                drafts = store.list(user="local")
            finally:
                store.close()
            if len(drafts) >= count:
                return drafts
        assert time.monotonic() < deadline, f"{count} drafts never reached {db}"
        time.sleep(0.1)


def test_the_environment_configures_the_running_studio(tiny_model_dir, tmp_path):
    port = free_port()
    url, elsewhere = f"http://127.0.0.2:{port}/", f"http://127.0.0.1:{port}/"
    data = tmp_path / "env-data"
    env = {"STUDIO_MODEL": str(tiny_model_dir), "STUDIO_DTYPE": "float32", "PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.2", "STUDIO_RATE_LIMIT": "2", "STUDIO_DATA_DIR": str(data)}
    with _studio(["--quantize", "none"], env, tmp_path / "studio.log") as served:
        assert served == url
        log = (tmp_path / "studio.log").read_text()
        loaded = re.search(r"\[studio\] loaded (\S+) \(float32\)", log)  # one quantifier: no backtracking
        assert loaded and "tiny" in loaded.group(1), log
        status = _status_line(url)
        assert "float32" in status and "context 8,192" in status, status
        assert _refused(elsewhere), "GRADIO_SERVER_NAME=127.0.0.2 must not listen on 127.0.0.1"
        for _ in range(2):
            assert call(url, "chat", CHAT("hello"))[1][-1][0] == "complete"
        status_code, events = call(url, "chat", CHAT("hello"))
        assert events[-1][0] == "error" and "Too many requests: at most 2 every 60 s" in events[-1][1]["error"]
        assert len(_wait_drafts(data / DB_NAME, 2)) == 2


def test_flags_win_over_the_environment(tiny_model_dir, tmp_path):
    port, env_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}/"
    data, env_data = tmp_path / "flag-data", tmp_path / "env-data"
    env = {"STUDIO_MODEL": str(tmp_path / "no-such-model"), "STUDIO_DTYPE": "float32", "PORT": str(env_port),
           "GRADIO_SERVER_NAME": "127.0.0.2", "STUDIO_RATE_LIMIT": "50", "STUDIO_DATA_DIR": str(env_data)}
    args = ["--model", str(tiny_model_dir), "--dtype", "bfloat16", "--port", str(port), "--host", "127.0.0.1",
            "--rate-limit", "1", "--rate-window", "900", "--data-dir", str(data), "--context", "1024",
            "--quantize", "none"]
    with _studio(args, env, tmp_path / "studio.log") as served:
        assert served == url
        status = _status_line(url)
        assert "bfloat16" in status and "context 1,024" in status, status
        assert _refused(f"http://127.0.0.2:{env_port}/") and _refused(f"http://127.0.0.1:{env_port}/")
        assert call(url, "chat", CHAT("hello"))[1][-1][0] == "complete"
        status_code, events = call(url, "chat", CHAT("hello"))
        assert events[-1][0] == "error" and "Too many requests: at most 1 every 900 s" in events[-1][1]["error"]
        assert len(_wait_drafts(data / DB_NAME, 1)) == 1
    assert not env_data.exists()


class _GatedEngine:
    """Writes one piece, then waits for the gate (so runs pile up in the queue). Not a model: only the
    queue is under test here."""

    name, backend, dtype, context = "gated", "test", "", 4096

    def __init__(self):
        self.gate = threading.Event()
        self.started = 0
        self.busy = False

    def count_tokens(self, messages) -> int:
        return 10

    def stream(self, messages, params, cancel=None, *, stats=None):
        self.started += 1
        self.busy = True
        try:
            yield "waiting "
            while not self.gate.wait(0.02):
                if cancel is not None and cancel.is_set():
                    return
            yield "done"
        finally:
            self.busy = False
            if stats is not None:
                stats.finish_reason = "stop"


def test_the_cli_builds_a_queue_of_16(monkeypatch):
    import studio
    import writing.ui.app as app_module

    engine = _GatedEngine()
    built: dict = {}
    real_launch = app_module.launch
    monkeypatch.setattr(studio, "make_engine", lambda args: engine)
    monkeypatch.setattr(app_module, "launch", lambda app, **kw: built.update(app=app))
    assert studio.main(["--port", "1"]) == 0
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # The app exactly as the CLI built it, served on a free port.
    real_launch(built["app"], host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        with httpx.Client() as client:
            accepted = [post_call(url, "chat", CHAT(f"run {i}"), client=client) for i in range(17)]
            assert all(r.status_code == 200 for r in accepted), [r.status_code for r in accepted]
            deadline = time.monotonic() + 30
            while engine.started < 1:  # one runs (a local model: one at a time), 16 wait
                assert time.monotonic() < deadline
                time.sleep(0.02)
            refused = post_call(url, "chat", CHAT("one too many"), client=client)
            assert refused.status_code == 503 and "Queue is full" in refused.text, (refused.status_code, refused.text)
            assert engine.started == 1
            engine.gate.set()
            for response in accepted:
                assert read_events(url, "chat", response.json()["event_id"], client=client)[-1][0] == "complete"
        assert engine.started == 17
    finally:
        engine.gate.set()
        built["app"].close()


def test_passwords_are_compared_with_hmac_compare_digest(monkeypatch):
    import hmac

    from writing.access.auth import Credentials

    real = hmac.compare_digest
    calls: list[tuple] = []

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    users = Credentials({"ann": "correct horse"})
    assert users("ann", "correct horse") and len(calls) == 1
    assert not users("ann", "correct hors") and len(calls) == 2
    assert not users("nobody", "correct horse") and len(calls) == 3  # compared anyway: no timing hint
    # The decision is compare_digest's: with it answering "different", the right password fails.
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or False)
    assert not users("ann", "correct horse") and len(calls) == 4
