"""README claims about a remote backend, checked against a real HTTP server on 127.0.0.1 that answers
the way vLLM, llama.cpp and an overloaded replica do (tests/support/openai_server.py):

- without --context the budget is the server's own (vLLM max_model_len, llama.cpp n_ctx), else 8192;
- 429 / 503 show "busy … try again" and a timeout says so, and the draft is kept (the same session's
  Continue afterwards extends the text written before the errors);
- the studio lets up to 8 remote runs through at once, and queues the 9th.
"""

from __future__ import annotations

import threading
import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.support.hardening import blog_data, call, serve
from tests.support.openai_server import openai_server
from writing.engines.base import DEFAULT_CONTEXT
from writing.engines.params import make_params
from writing.engines.remote import RemoteEngine
from writing.errors import BudgetError
from writing.ui.streaming import MODEL_QUEUE

HELLO = [{"role": "user", "content": "hi"}]
STUB_TEXT = "Hello from the stub server."


@pytest.mark.parametrize(("mode", "source"), [("vllm", "the server's max_model_len"),
                                              ("llama.cpp", "the server's n_ctx"),
                                              ("plain", f"default {DEFAULT_CONTEXT}")])
def test_the_context_budget_is_the_servers_own(mode, source):
    with openai_server(mode=mode, context=3000) as server:
        engine = RemoteEngine(server.url, max_retries=0)
        try:
            expected = DEFAULT_CONTEXT if mode == "plain" else 3000
            assert f"context {expected} tokens ({source})" in engine.describe()
            assert engine.context == expected
            prompt = engine.count_tokens(HELLO)
            assert "".join(engine.stream(HELLO, make_params(max_new_tokens=expected - prompt))) == STUB_TEXT
            with pytest.raises(BudgetError, match=f"budget of {expected}"):
                list(engine.stream(HELLO, make_params(max_new_tokens=expected - prompt + 1)))
        finally:
            engine.close()


def test_the_cli_reports_the_servers_context(monkeypatch, capsys):
    import studio
    import writing.ui.app as app_module

    launched: dict = {}
    monkeypatch.setattr(app_module, "launch", lambda app, **kw: launched.update(app=app, **kw))
    with openai_server(mode="vllm", context=3000) as server:
        assert studio.main(["--backend", "openai", "--base-url", server.url, "--port", "1"]) == 0
    out = capsys.readouterr().out
    assert "[studio] remote: stub-model at" in out and "context 3000 tokens (the server's max_model_len)" in out
    assert launched["app"] is not None


def _blog(client: Client, api: str = "/blog", **extra) -> tuple:
    if api == "/blog":
        return client.predict(topic="Notebooks", audience="", tone="", words=100, structure=[], language="auto",
                              max_new_tokens=16, api_name=api)
    return client.predict(max_new_tokens=16, api_name=api, **extra)


def test_busy_and_timeouts_say_try_again_and_keep_the_draft(tmp_path):
    from writing.library.store import DraftStore

    store = DraftStore(tmp_path / "drafts.db")
    with openai_server(mode="vllm", context=4096) as server:
        engine = RemoteEngine(server.url, max_retries=0, timeout_s=1.0)
        try:
            with serve(engine, store=store) as studio:
                client = Client(studio.url, verbose=False, download_files=False)
                first = _blog(client)[0]
                assert first.strip() == STUB_TEXT
                expected = {"busy-429": ["busy (429", "Too many requests: all slots are busy", "try again",
                                         "text is kept"],
                            "busy-503": ["busy (503", "the replica is full", "try again", "text is kept"],
                            "silent": ["sent nothing for 1s", "text is kept", "try again"]}
                for answer, words in expected.items():
                    server.answer = answer
                    server.silent_s = 3.0
                    with pytest.raises(AppError) as refused:
                        _blog(client, "/blog_continue")
                    for word in words:
                        assert word in str(refused.value), (answer, str(refused.value))
                server.answer = "ok"
                continued = _blog(client, "/blog_continue")[0]
                assert continued.startswith(first.rstrip()), (first, continued)  # the draft was kept
                assert continued.count(STUB_TEXT) == 2
                client.close()
            drafts = [store.get(d.id, user="local") for d in store.list(user="local")]
            assert drafts and all(STUB_TEXT in d.content for d in drafts), [(d.status, d.content) for d in drafts]
        finally:
            engine.close()
            store.close()


def _waiting(studio) -> int:
    queue = studio.app._queue.event_queue_per_concurrency_id.get(MODEL_QUEUE)
    return len(queue.queue) if queue is not None else 0


def test_eight_remote_runs_at_once_and_the_ninth_waits():
    with openai_server(mode="vllm", context=4096) as server:
        engine = RemoteEngine(server.url, max_retries=0)
        server.gate.clear()  # every stream sends its first piece, then holds
        results: list[tuple[int, list]] = []
        try:
            with serve(engine) as studio:
                threads = [threading.Thread(target=lambda i=i: results.append(
                    call(studio.url, "blog", blog_data(topic=f"writer {i}", max_new_tokens=16), timeout=60)))
                    for i in range(9)]
                for thread in threads:
                    thread.start()
                deadline = time.monotonic() + 60
                while not (server.open_streams == 8 and _waiting(studio) == 1):
                    assert time.monotonic() < deadline, (server.open_streams, _waiting(studio))
                    time.sleep(0.02)
                assert server.chat_requests == 8  # the 9th never reached the server while 8 ran
                server.gate.set()
                for thread in threads:
                    thread.join(timeout=60)
            assert len(results) == 9 and all(events[-1][0] == "complete" for _, events in results), results
            assert server.chat_requests == 9 and server.most_streams == 8
        finally:
            server.gate.set()
            engine.close()
