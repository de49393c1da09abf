"""The studio's API as gradio_client sees it, against the real app and the tiny model on 127.0.0.1.

Covers: /blog, /blog_revise, /code, /chat stream several updates; job.cancel() and a dropped
connection free the engine within a decode step or so (measured); two clients are served one after
the other through the one shared queue; the chat drops its oldest turns loudly when over budget;
bad input and an over-budget request get readable errors; a full queue says so. Plus the pure
logic of the Code tab (code block extraction, Python syntax check: never executed).
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from gradio_client import Client
from gradio_client.utils import QueueError, Status

from tests.support.ui_server import last_run, serve_studio
from writing.compose.wordcount import count_words
from writing.engines.local import LocalEngine
from writing.ui.tabs.chat import fit_history
from writing.ui.tabs.code import highlight_language, parses, split_answer, syntax_note

LONG = 1500  # tokens: the tiny model needs tens of seconds for this, so a run is surely still going when stopped
SAMPLING = dict(temperature=0.8, top_p=0.9, top_k=40, seed=7)


@pytest.fixture(scope="module")
def engine(tiny_loaded) -> LocalEngine:
    # Own engine (not the shared tiny_engine) so this module's context budget does not leak into others.
    return LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype, context=4096)


@pytest.fixture(scope="module")
def server(engine):
    with serve_studio(engine) as running:
        yield running


def _client(server) -> Client:
    return Client(server.url, verbose=False, download_files=False)



def _wait_idle(engine: LocalEngine, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while engine.busy:
        if time.perf_counter() - start > timeout:
            raise AssertionError(f"engine still busy after {timeout}s")
        time.sleep(0.01)
    return time.perf_counter() - start


def _wait_outputs(job, count: int, timeout: float = 60.0) -> list:
    deadline = time.monotonic() + timeout
    while len(job.outputs()) < count:
        assert not job.done() or len(job.outputs()) >= count, f"job ended early: {job.outputs()[-1:]!r}"
        assert time.monotonic() < deadline, f"only {len(job.outputs())} updates after {timeout}s"
        time.sleep(0.02)
    return job.outputs()


# --- each endpoint streams --------------------------------------------------------------------------------


def test_blog_streams_markdown_with_live_counts(server):
    client = _client(server)
    job = client.submit(topic="Why writers should keep a notebook", audience="students", tone="warm", words=150,
                        structure=["Sections", "Summary"], language="auto", max_new_tokens=80, **SAMPLING,
                        api_name="/blog")
    outputs = list(job)
    drafts = [out[0] for out in outputs]
    assert len(outputs) >= 4, f"expected several streamed updates, got {len(outputs)}"
    grown = [d for d in drafts if isinstance(d, str)]
    assert all(b.startswith(a) for a, b in zip(grown, grown[1:], strict=False)), "the draft must only grow"
    assert len(set(grown)) >= 3
    meters = [out[1] for out in outputs]
    assert "writing…" in meters[0], meters[0]
    live = meters[1:-1]  # while streaming: words so far, tokens so far, speed, "writing…"
    assert live and all(m.endswith("writing…") for m in live), live
    assert any("tok/s" in m for m in live), live
    counted = [int(m.split(" tokens")[0].rsplit(" ", 1)[-1].replace(",", "")) for m in live if " tokens" in m]
    assert len(counted) >= 3 and counted == sorted(counted) and counted[-1] > counted[0], live
    for draft, line in zip(drafts, meters, strict=True):  # the word count is the draft's own, live
        if isinstance(draft, str):
            assert line.startswith(f"**{count_words(draft):,}** words"), (line, draft[-80:])
    final_text, final_meter, download = job.outputs()[-1][:3]
    assert final_text == grown[-1] and final_text.strip()
    assert "80 tokens" in final_meter and "stopped at max new tokens" in final_meter
    saved = download["value"]["path"]  # the Download .md button got the file, with the whole draft in it
    assert saved.endswith(".md") and open(saved, encoding="utf-8").read() == final_text.rstrip("\n") + "\n"


def test_blog_revise_keeps_the_conversation(server):
    client = _client(server)  # one client = one session: the draft lives in its session state
    client.predict(topic="Tea", words=100, max_new_tokens=40, **SAMPLING, api_name="/blog")
    job = client.submit(instruction="make it shorter", max_new_tokens=40, **SAMPLING, api_name="/blog_revise")
    outputs = list(job)
    assert len(outputs) >= 3
    assert "make it shorter" in job.outputs()[-1][3]  # the revision history line
    second = client.submit(instruction="add a section on history", max_new_tokens=24, **SAMPLING,
                           api_name="/blog_revise")
    second.result()
    assert "“make it shorter” → “add a section on history”" in second.outputs()[-1][3]
    extended = client.predict(max_new_tokens=24, **SAMPLING, api_name="/blog_continue")
    assert extended[0].startswith(second.outputs()[-1][0])  # Continue extends the current draft


def test_code_streams_code_and_explanation(server):
    client = _client(server)
    job = client.submit(task="add two numbers", language="Python", constraints="", max_new_tokens=60, **SAMPLING,
                        api_name="/code")
    outputs = list(job)
    assert len(outputs) >= 3
    code, explanation, check, meter = job.outputs()[-1]
    assert isinstance(code, str) and isinstance(explanation, str) and "60 tokens" in meter
    assert (code + explanation).strip()


def test_chat_streams_and_remembers(server):
    client = _client(server)
    job = client.submit(message="hello", history=[], max_new_tokens=40, **SAMPLING, api_name="/chat")
    outputs = list(job)
    assert len(outputs) >= 3
    history, notice = job.outputs()[-1]
    assert [m["role"] for m in history] == ["user", "assistant"] and history[0]["content"] == "hello"
    assert history[1]["content"] and "40 tokens" in notice
    # History is plain {"role", "content": str} messages; content block lists are accepted too.
    history[0]["content"] = [{"type": "text", "text": "hello"}]
    follow = client.predict(message="and then?", history=history, max_new_tokens=16, **SAMPLING, api_name="/chat")
    assert [m["role"] for m in follow[0]] == ["user", "assistant", "user", "assistant"]
    assert "16 tokens" in follow[1] and "no longer sees" not in follow[1]


def test_chat_over_budget_drops_oldest_turns_and_says_so(server, engine):
    client = _client(server)
    para = "The quick brown fox jumps over the lazy dog while the writer drinks coffee. " * 20
    history = []
    for i in range(12):
        history += [{"role": "user", "content": f"{i}: {para}"}, {"role": "assistant", "content": para}]
    assert engine.count_tokens(history + [{"role": "user", "content": "sum up"}]) > engine.context  # really over
    shown, notice = client.predict(message="sum up", history=history, max_new_tokens=32, **SAMPLING,
                                      api_name="/chat")
    assert "no longer sees the" in notice and "oldest" in notice
    assert len(shown) == len(history) + 2  # nothing vanishes from the screen


def test_fit_history_drops_whole_exchanges_and_refuses_one_huge_message(engine):
    system = [{"role": "system", "content": "be brief"}]
    turns = []
    for i in range(30):
        turns += [{"role": "user", "content": f"question {i} " * 40}, {"role": "assistant", "content": "answer " * 40}]
    turns.append({"role": "user", "content": "last"})
    kept, dropped = fit_history(engine, system, turns, 512)
    assert dropped > 0 and dropped % 2 == 0 and kept[0]["role"] == "user" and kept[-1]["content"] == "last"
    assert engine.count_tokens(system + kept) + 512 <= engine.context
    with pytest.raises(Exception, match="context budget"):
        fit_history(engine, system, [{"role": "user", "content": "word " * 5000}], 512)


# --- errors are readable ----------------------------------------------------------------------------------


def test_bad_input_is_a_readable_error(server):
    client = _client(server)
    with pytest.raises(Exception, match="topic first"):
        client.predict(topic="  ", api_name="/blog")
    with pytest.raises(Exception, match="temperature: must be between 0 and 2, got 9"):
        client.predict(topic="x", temperature=9.0, api_name="/blog")
    with pytest.raises(Exception, match="temperature"):  # /chat takes plain numbers: make_params names the field
        client.predict(message="x", temperature=9.0, api_name="/chat")
    with pytest.raises(Exception, match="context budget"):
        client.predict(message="hi", history=[], max_new_tokens=4090, api_name="/chat")


# --- stop, disconnect, queue ------------------------------------------------------------------------------


def test_job_cancel_frees_the_engine_for_the_next_request(server, engine):
    client = _client(server)
    job = client.submit(topic="A very long post", words=2000, max_new_tokens=LONG, **SAMPLING, api_name="/blog")
    _wait_outputs(job, 3)
    assert engine.busy
    started = time.perf_counter()
    job.cancel()  # returns once the server's /cancel has closed the handler's generator
    _wait_idle(engine)
    freed = time.perf_counter() - started
    assert freed < 5.0, f"engine took {freed:.2f}s to stop after job.cancel()"
    text = job.outputs()[-1][0]
    stats = last_run(server, started)
    assert text and stats.finish_reason == "cancelled" and stats.new_tokens < LONG
    nxt = time.perf_counter()
    result = client.predict(message="next", history=[], max_new_tokens=8, **SAMPLING, api_name="/chat")
    assert "8 tokens" in result[1]
    print(f"\n[measure] job.cancel() -> engine free in {freed * 1000:.0f} ms; "
          f"next request done {time.perf_counter() - nxt:.2f}s later")


def _fn_index(app, api_name: str) -> int:
    return next(index for index, fn in app.fns.items() if fn.api_name == api_name)


def test_closing_the_connection_stops_generation(server, engine):
    """What a closed browser tab does: the SSE stream drops; the server must stop the model."""
    session = uuid.uuid4().hex[:11]
    base = server.url + "gradio_api/queue/"
    # The /blog event's inputs: the brief, the sampling panel, then the story bible's state (None: the session's own).
    data = ["Disconnect test", "", "", 2000, ["Sections"], "auto", 0.8, 0.9, 40, 0.0, 1.0, 0.0, LONG, 7, None]
    with httpx.Client(timeout=30) as http:
        joined = http.post(base + "join", json={"data": data, "fn_index": _fn_index(server.app, "blog"),
                                                "session_hash": session, "event_data": None, "trigger_id": None})
        joined.raise_for_status()
        generating = 0
        with http.stream("GET", base + "data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_generating":
                    generating += 1
                    if generating >= 3:
                        break
            assert engine.busy
            dropped = time.perf_counter()
        # leaving the block closes the connection, as a closed tab does
    freed = _wait_idle(engine, timeout=40)
    print(f"\n[measure] connection closed -> engine free in {freed * 1000:.0f} ms")
    stats = last_run(server, dropped)
    assert stats.finish_reason == "cancelled" and stats.new_tokens < LONG
    assert time.perf_counter() - dropped < 40


class _RecordingEngine:
    """The real engine, plus the (start, end) time of every stream it serves."""

    def __init__(self, engine: LocalEngine):
        self._engine = engine
        self.runs: list[list[float]] = []

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    def stream(self, *args, **kwargs):
        span = [time.perf_counter(), float("inf")]
        self.runs.append(span)
        try:
            yield from self._engine.stream(*args, **kwargs)
        finally:
            span[1] = time.perf_counter()


def test_two_clients_are_served_one_after_another(server, engine):
    recorder = _RecordingEngine(engine)
    server.ctx.engine = recorder
    try:
        first, second = _client(server), _client(server)
        a = first.submit(topic="first", max_new_tokens=160, **SAMPLING, api_name="/blog")
        _wait_outputs(a, 2)
        b = second.submit(message="second", history=[], max_new_tokens=32, **SAMPLING, api_name="/chat")
        ranks = []
        while not a.done():
            status = b.status()
            if status.code == Status.IN_QUEUE and status.rank is not None:
                ranks.append(status.rank)
            time.sleep(0.02)
        b.result()
    finally:
        server.ctx.engine = engine
    assert len(recorder.runs) == 2
    (a_start, a_end), (b_start, b_end) = recorder.runs
    assert b_start >= a_end, "the second request reached the model while the first was still generating"
    assert ranks and min(ranks) == 0, "the waiting client should see its queue position"
    assert a.outputs()[-1][1].endswith(("done", "stopped at max new tokens"))  # random weights may hit EOS early
    assert "tokens" in b.outputs()[-1][1] and b.outputs()[-1][0][0]["content"] == "second"
    print(f"\n[measure] second client reached the model {1000 * (b_start - a_end):.0f} ms after the first ended")


def test_a_full_queue_says_busy(engine):
    with serve_studio(engine, queue_size=1) as small:
        clients = [_client(small) for _ in range(3)]
        running = clients[0].submit(topic="occupies the model", max_new_tokens=LONG, **SAMPLING, api_name="/blog")
        _wait_outputs(running, 2)
        waiting = clients[1].submit(message="waits", history=[], max_new_tokens=4, api_name="/chat")
        deadline = time.monotonic() + 30
        while waiting.status().code != Status.IN_QUEUE:  # it holds the queue's one place (polled, not slept)
            assert time.monotonic() < deadline and not waiting.done(), waiting.status()
            time.sleep(0.01)
        with pytest.raises(QueueError, match="[Qq]ueue is full"):
            clients[2].predict(message="refused", history=[], max_new_tokens=4, api_name="/chat")
        running.cancel()
        waiting.result(timeout=60)
    _wait_idle(engine)


def test_stop_is_per_session(server, engine):
    """Session A's Stop (ctx.runs.stop) must not touch session B's run."""
    runs = server.ctx.runs
    a, b = runs.start("session-a"), runs.start("session-b")
    assert runs.stop("session-a") and a.is_set() and not b.is_set()
    runs.finish("session-b", b)


# --- the Code tab's logic (pure, no model) ----------------------------------------------------------------


def test_split_answer_finds_the_code_while_streaming_and_after():
    answer = "```python\nimport sys\nprint(sys.argv)\n```\n\n## Explanation\n- prints args\n\n## Usage\n`python a.py`"
    done = split_answer(answer, language="Python")
    assert done.code == "import sys\nprint(sys.argv)" and done.closed and done.tag == "python"
    assert done.explanation.startswith("## Explanation") and "## Usage" in done.explanation
    partial = split_answer("```python\nimport sys\nprint(sys", language="Python")
    assert partial.code == "import sys\nprint(sys" and not partial.closed
    # The block tagged with the asked language wins over a longer shell block; ~~~ fences work too.
    mixed = "Run:\n```bash\npip install requests things and more\n```\n~~~js\nconsole.log(1)\n~~~\n"
    assert split_answer(mixed, language="JavaScript").code == "console.log(1)"
    # A four-backtick fence may contain a three-backtick line.
    nested = "````markdown\n```python\nx = 1\n```\n````\nDone."
    assert split_answer(nested, language="Markdown").code == "```python\nx = 1\n```"
    # Bare Python without fences is still recognised; prose is not.
    assert split_answer("def f():\n    return 1\n", language="Python").code.startswith("def f()")
    assert split_answer("Sorry, I cannot help.", language="Python").code == ""


def test_python_syntax_is_checked_never_executed(tmp_path):
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('executed')\n"
    answer = split_answer(f"```python\n{code}```", language="Python")
    assert "Valid Python syntax" in syntax_note(answer, "Python")
    assert not marker.exists(), "generated code must never run"
    assert parses("def broken(:\n") is not None and "line 1" in parses("def broken(:\n")
    assert "null bytes" in parses("x = '\0'")
    assert syntax_note(split_answer("```rust\nfn main() {}\n```", language="Rust"), "Rust") == ""


def test_highlighting_falls_back_to_plain_text():
    assert highlight_language("Python") == "python"
    assert highlight_language("C++") == "cpp"
    assert highlight_language("Rust") is None  # gr.Code has no Rust grammar: plain text
    assert highlight_language("Brainfuck") is None
