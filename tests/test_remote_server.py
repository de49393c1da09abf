"""RemoteEngine against a real llama.cpp server (llama-cpp-python[server]) serving a tiny Qwen3 GGUF.

No fakes: the GGUF is converted from a random Qwen3 checkpoint built here (hidden 1024, 4 layers:
slow enough on one thread, ~60 tok/s, that an un-aborted request would visibly hold the server),
and the server is started on a free 127.0.0.1 port and stopped at the end of the module.
Needs `bash scripts/build_llama_server.sh`; without it these tests are skipped, or fail when
STUDIO_REQUIRE_LLAMA_SERVER=1 (CI sets it so a missing server is never a silent pass).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from openai import OpenAI

from tests.support.llama_server import free_port, llama_server, require_llama_server
from writing.engines.base import GenerationStats
from writing.engines.params import make_params
from writing.engines.remote import (
    RemoteAuthError,
    RemoteEngine,
    RemoteNotFoundError,
    RemoteRequestError,
    RemoteUnreachableError,
)
from writing.errors import BudgetError, GenerationError

pytestmark = [pytest.mark.server, pytest.mark.slow]

N_CTX = 512
HELLO = [{"role": "user", "content": "Write a short blog post about outlines."}]


@pytest.fixture(scope="module")
def gguf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_llama_server()
    from tests.support.gguf_tiny import convert
    from writing.tiny import build

    root = tmp_path_factory.mktemp("remote-model")
    checkpoint = build(root / "hf", hidden_size=1024, num_layers=4)
    return convert(checkpoint, root / "tiny-qwen3-f32.gguf")


@pytest.fixture(scope="module")
def clean_bias(gguf_model: Path) -> dict[str, float]:
    from tests.support.gguf_tiny import clean_text_bias

    return clean_text_bias(gguf_model.parent / "hf")


@pytest.fixture(scope="module")
def server_url(gguf_model: Path):
    with llama_server(gguf_model, n_ctx=N_CTX) as url:
        yield url


@pytest.fixture
def engine(server_url: str):
    engine = RemoteEngine(server_url, max_retries=0)
    yield engine
    engine.close()


@pytest.fixture
def endless_engine(server_url: str, clean_bias: dict[str, float]):
    """Runs to max_tokens, streaming whole characters (see tests.support.gguf_tiny.clean_text_bias)."""
    engine = RemoteEngine(server_url, max_retries=0, extra_body={"logit_bias": clean_bias})
    yield engine
    engine.close()


def _collect(engine: RemoteEngine, params, messages=HELLO, cancel=None) -> tuple[str, GenerationStats]:
    stats = GenerationStats()
    text = "".join(engine.stream(messages, params, cancel, stats=stats))
    return text, stats


def test_streaming_completes_with_stats(endless_engine: RemoteEngine):
    pieces: list[str] = []
    stats = GenerationStats()
    for piece in endless_engine.stream(HELLO, make_params(max_new_tokens=24, seed=1), stats=stats):
        pieces.append(piece)
    assert 12 <= len(pieces) <= 24 and all(pieces)  # token deltas, not one block at the end
    assert stats.finish_reason == "length"
    # llama-cpp-python sends no usage in streams, and merges a token whose bytes end mid-character
    # into the next chunk: new_tokens is then the number of deltas, a slight undercount.
    assert stats.new_tokens == len(pieces)
    assert stats.first_token_at is not None and stats.time_to_first_token is not None
    assert stats.finished_at is not None and stats.tokens_per_second > 0
    assert "/tmp" in endless_engine.name or "gguf" in endless_engine.name  # llama-cpp-python names it by path


def test_prompt_tokens_are_the_servers_count(engine: RemoteEngine, server_url: str):
    counted = engine.count_tokens(HELLO)
    client = OpenAI(base_url=server_url, api_key="x")
    reply = client.chat.completions.create(model=engine.model, messages=HELLO, max_tokens=1)
    assert counted == reply.usage.prompt_tokens
    assert "server's tokenizer" in engine.describe()


def test_greedy_is_repeatable_and_seed_is_honoured(endless_engine: RemoteEngine):
    greedy = make_params(temperature=0, max_new_tokens=16)
    assert _collect(endless_engine, greedy)[0] == _collect(endless_engine, greedy)[0]
    seeded = make_params(temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=16, seed=7)
    assert _collect(endless_engine, seeded)[0] == _collect(endless_engine, seeded)[0]


def test_stop_aborts_the_request_on_the_server(endless_engine: RemoteEngine, engine: RemoteEngine):
    long_run = make_params(max_new_tokens=400)
    # Baseline: how long the server needs for a few tokens, to size the bounds on this machine.
    started = time.perf_counter()
    _, quick = _collect(endless_engine, make_params(max_new_tokens=8))
    eight_tokens_s = time.perf_counter() - started

    cancel = threading.Event()
    stats = GenerationStats()
    received = 0
    stream = endless_engine.stream(HELLO, long_run, cancel, stats=stats)
    for _ in stream:
        received += 1
        if received == 10:
            break
    cancel.set()
    stop_started = time.perf_counter()
    rest = list(stream)  # the generator notices the Event (or the closed socket) and ends
    stop_s = time.perf_counter() - stop_started
    assert stats.finish_reason == "cancelled" and len(rest) <= 2

    # The server must be free again at once: llama-cpp-python runs one request at a time, so an
    # un-aborted request would make this one wait for the ~390 remaining tokens first.
    started = time.perf_counter()
    text, after = _collect(endless_engine, make_params(max_new_tokens=8))
    next_s = time.perf_counter() - started
    remaining_s = 390 / quick.tokens_per_second if quick.tokens_per_second else 0
    print(f"stop took {stop_s * 1000:.0f} ms; next request {next_s:.2f}s (8 tokens alone: {eight_tokens_s:.2f}s;"
          f" the un-aborted rest would take ~{remaining_s:.1f}s at {quick.tokens_per_second:.0f} tok/s)")
    assert stop_s < 1.0
    assert after.finish_reason == "length" and text
    assert next_s < max(3 * eight_tokens_s, 1.0) < remaining_s / 2


def _request_threads(engine: RemoteEngine) -> list[int]:
    """The threads that send `engine`'s HTTP requests (tokenizer, props, chat), filled as they send."""
    senders: list[int] = []

    def sent(request) -> None:
        senders.append(threading.get_ident())

    for client in (engine._http, engine._client._client):  # its tokenizer/props client and the OpenAI one
        client.event_hooks = {**client.event_hooks, "request": [*client.event_hooks["request"], sent]}
    return senders


def _wait_until_blocked_on_the_server(senders: list[int], finished: threading.Event, timeout: float = 30.0) -> None:
    """Poll until one of `senders` is inside httpcore's read of the server's answer (its request went out
    and nothing has come back), failing if the request ended first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        frames = sys._current_frames()
        for ident in list(senders):
            frame = frames.get(ident)
            while frame is not None:
                if frame.f_code.co_name == "_receive_event" and "httpcore" in frame.f_code.co_filename:
                    return
                frame = frame.f_back
        assert not finished.is_set(), "the queued request ended before Stop"
        assert time.monotonic() < deadline, "the queued request never reached the server"
        time.sleep(0.01)


@pytest.mark.parametrize("count", ["server", "estimate"])
def test_stop_while_queued_behind_another_request(endless_engine: RemoteEngine, server_url: str,
                                                  clean_bias: dict[str, float], count: str):
    """The server runs one request at a time, so the second one waits: with count="server" in the
    tokenizer call (llama-cpp-python tokenizes behind its generation lock), with count="estimate"
    in a read of a stream that has sent nothing yet. Stop must end both within a bound; the second
    case is the watcher shutting the socket down under a blocked read."""
    first = endless_engine.stream(HELLO, make_params(max_new_tokens=400))
    next(first)  # the server is now busy with this one for several seconds
    known = {"model": endless_engine.model, "context": N_CTX} if count == "estimate" else {}  # no lookups
    waiting = RemoteEngine(server_url, max_retries=0, count=count, extra_body={"logit_bias": clean_bias}, **known)
    cancel = threading.Event()
    stats = GenerationStats()
    finished = threading.Event()
    got: list[str] = []

    def queued() -> None:
        got.extend(waiting.stream(HELLO, make_params(max_new_tokens=8), cancel, stats=stats))
        finished.set()

    senders = _request_threads(waiting)
    worker = threading.Thread(target=queued)
    worker.start()
    try:
        # it now waits for the server (counting its prompt, or reading an empty stream)
        _wait_until_blocked_on_the_server(senders, finished)
        cancel.set()
        started = time.perf_counter()
        assert finished.wait(2.0), "the waiting request did not end after Stop"
        print(f"stop while queued (count={count}) took {(time.perf_counter() - started) * 1000:.0f} ms")
        assert stats.finish_reason == "cancelled" and got == []
        assert (stats.started_at is not None) == (count == "estimate")  # where it was waiting
    finally:
        first.close()
        worker.join(timeout=10)
        waiting.close()


def test_closing_the_generator_also_aborts(endless_engine: RemoteEngine):
    stream = endless_engine.stream(HELLO, make_params(max_new_tokens=400))
    next(stream)
    stream.close()  # what Gradio does when the browser tab goes away
    started = time.perf_counter()
    _, after = _collect(endless_engine, make_params(max_new_tokens=8))
    assert after.finish_reason == "length" and time.perf_counter() - started < 3.0


def test_two_users_at_once_both_complete(endless_engine: RemoteEngine):
    results: dict[int, tuple[str, GenerationStats]] = {}
    errors: list[BaseException] = []

    def user(index: int) -> None:
        try:
            results[index] = _collect(endless_engine, make_params(max_new_tokens=16, seed=index))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == [0, 1]
    for text, stats in results.values():
        assert text and stats.finish_reason == "length" and stats.new_tokens == 16


def test_prompt_over_the_servers_context_shows_its_message(engine: RemoteEngine):
    long_prompt = [{"role": "user", "content": "outline section draft " * 300}]
    assert engine.count_tokens(long_prompt) > N_CTX  # the studio's own budget (8192) lets it through
    with pytest.raises(RemoteRequestError) as caught:
        _collect(engine, make_params(max_new_tokens=16), long_prompt)
    assert f"maximum context length is {N_CTX} tokens" in str(caught.value)  # the server's words


def test_budget_refused_before_sending_says_how_it_counted(server_url: str):
    engine = RemoteEngine(server_url, context=64, max_retries=0)
    try:
        with pytest.raises(BudgetError, match=r"counted by the server's tokenizer.*budget of 64"):
            _collect(engine, make_params(max_new_tokens=60))
    finally:
        engine.close()


def test_server_down_is_a_clear_error_quickly():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    engine = RemoteEngine(url, max_retries=0)
    started = time.perf_counter()
    try:
        with pytest.raises(RemoteUnreachableError, match=r"Cannot reach the model server at .*--base-url"):
            _collect(engine, make_params(max_new_tokens=8))
        assert time.perf_counter() - started < 5.0
        assert engine.context > 0  # the UI can still read it while the server is down
    finally:
        engine.close()


def test_wrong_base_url_path_is_not_found(server_url: str):
    engine = RemoteEngine(server_url.removesuffix("/v1") + "/nope/v1", model="tiny", max_retries=0)
    try:
        with pytest.raises(RemoteNotFoundError, match="ends in /v1"):
            _collect(engine, make_params(max_new_tokens=8))
    finally:
        engine.close()


def test_api_key_is_checked(gguf_model: Path):
    with llama_server(gguf_model, n_ctx=N_CTX, api_key="s3cret") as url:
        wrong = RemoteEngine(url, api_key="wrong", max_retries=0)
        right = RemoteEngine(url, api_key="s3cret", max_retries=0)
        try:
            with pytest.raises(RemoteAuthError, match=r"refused the API key \(401"):
                _collect(wrong, make_params(max_new_tokens=4))
            text, stats = _collect(right, make_params(max_new_tokens=4))
            assert stats.finish_reason in ("stop", "length")
        finally:
            wrong.close()
            right.close()


def test_an_interrupted_stream_is_reported_not_silently_truncated(gguf_model: Path, clean_bias: dict[str, float]):
    """llama-cpp-python's default interrupt_requests=True ends a stream when another request comes in."""
    with llama_server(gguf_model, n_ctx=N_CTX, interrupt_requests=True) as url:
        engine = RemoteEngine(url, max_retries=0, extra_body={"logit_bias": clean_bias})
        try:
            stream = engine.stream(HELLO, make_params(max_new_tokens=400))
            pieces = [next(stream)]
            other = threading.Thread(target=_collect, args=(engine, make_params(max_new_tokens=4)))
            other.start()
            with pytest.raises(GenerationError, match="closed the stream before the answer finished"):
                pieces.extend(stream)
            other.join(timeout=30)
            assert 1 <= len(pieces) < 400  # the partial text reached the caller before the error
        finally:
            engine.close()


# --- the studio itself, started from the command line against the server ----------------------------------

SAMPLING = dict(temperature=0.7, top_p=0.9, top_k=40, min_p=0.0, repetition_penalty=1.0, presence_penalty=0.0,
                seed=7)


@pytest.fixture(scope="module")
def studio(gguf_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """`python studio.py --backend openai --base-url ...`: no local model, every tab talks to the server."""
    import subprocess
    import sys

    import httpx

    from tests.support.llama_server import _stop

    root = Path(__file__).resolve().parent.parent
    with llama_server(gguf_model, n_ctx=2048) as url:
        port = free_port()
        log_path = tmp_path_factory.mktemp("studio-log") / "studio.log"
        env = {**os.environ, "STUDIO_DATA_DIR": str(tmp_path_factory.mktemp("studio-data")),
               "GRADIO_ANALYTICS_ENABLED": "False", "OPENAI_API_KEY": ""}
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "studio.py", "--backend", "openai", "--base-url", url, "--context", "2048",
                 "--host", "127.0.0.1", "--port", str(port)],
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/config", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}/", log_path
        finally:
            _stop(process)


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def test_studio_cli_serves_blog_code_and_chat_from_the_server(studio):
    url, log_path = studio
    assert "[studio] remote:" in log_path.read_text()  # it found the server and did not load a model
    assert "loaded" not in log_path.read_text()
    client = _client(url)
    calls = {
        "/blog": dict(topic="Why writers keep notebooks", audience="students", tone="warm", words=150,
                      structure=["Sections"], language="auto"),
        "/code": dict(task="Reverse a string", language="Python", constraints=""),
        "/chat": dict(message="Hello there", history=[]),
    }
    for api_name, inputs in calls.items():
        started = time.perf_counter()
        job = client.submit(**inputs, **SAMPLING, max_new_tokens=32, api_name=api_name)
        updates = list(job)
        final = job.outputs()[-1] if job.outputs() else None
        print(f"{api_name}: {len(updates)} updates in {time.perf_counter() - started:.2f}s")
        assert final is not None, f"{api_name} failed: {job.exception()}"
        assert len(updates) >= 2, f"{api_name} did not stream: {updates!r}"
        texts = final if isinstance(final, (list, tuple)) else [final]
        assert any(isinstance(text, str) and text.strip() for text in texts), f"{api_name} returned nothing: {final!r}"


def test_studio_serves_two_users_at_once(studio):
    """With a remote engine the studio's queue lets several runs through at once (the server batches or
    queues them); with a local model it is one at a time. The second user must start before the first ends."""
    from gradio_client.utils import Status

    url, _ = studio
    inputs = dict(topic="Notebooks", audience="", tone="", words=100, structure=[], language="auto")
    first = _client(url).submit(**inputs, **SAMPLING, max_new_tokens=200, api_name="/blog")
    deadline = time.monotonic() + 60
    while not first.outputs():  # the first user's draft is streaming
        assert time.monotonic() < deadline and not first.done(), first.exception()
        time.sleep(0.05)
    second = _client(url).submit(**inputs, **SAMPLING, max_new_tokens=16, api_name="/blog")
    seen = set()
    deadline = time.monotonic() + 60
    while not seen & {Status.PROCESSING, Status.ITERATING}:  # poll until the second run is running
        assert not first.done(), f"the first run ended before the second started: {seen}"
        assert time.monotonic() < deadline, f"the second run never started: {seen}"
        seen.add(second.status().code)
        time.sleep(0.02)
    assert not first.done(), "the first run ended too soon to tell"
    # Local model: the second user would wait in the studio's queue (IN_QUEUE) until the first is done.
    assert Status.IN_QUEUE not in seen and seen & {Status.PROCESSING, Status.ITERATING}, seen
    list(first)
    list(second)
    for job in (first, second):
        assert job.outputs() and job.outputs()[-1][0], f"a user got no draft: {job.exception()}"


def test_studio_refuses_an_over_budget_prompt_counted_by_the_server(studio):
    url, _ = studio
    job = _client(url).submit(topic="draft outline section " * 700, audience="", tone="", words=100, structure=[],
                              language="auto", **SAMPLING, max_new_tokens=16, api_name="/blog")
    list(job)
    error = str(job.exception())
    # Refused before sending: the budget (--context 2048) counted with the server's own tokenizer.
    assert "budget of 2048" in error and "counted by the server's tokenizer" in error, error
