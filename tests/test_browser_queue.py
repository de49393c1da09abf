"""Stop on a run still waiting in the queue: a real browser (Debian chromium) and the tiny model.

Writer A (an API client) is generating; writer B (a browser page) clicks Generate (B's run waits
for the one model), then Stop. B's run must leave the queue at once (B's page settles, nothing
shown is lost) and must never reach the model, even after A's run ends.
"""

from __future__ import annotations

import time

import pytest
from gradio_client import Client

from tests.support.ui_server import serve_studio
from tests.test_browser import _fill_brief, _open, _start_long_run, _wait_idle, _wait_settled, browser  # noqa: F401
from writing.engines.local import LocalEngine
from writing.ui.streaming import MODEL_QUEUE

LONG = 1500  # tokens: with SAMPLING's seed the tiny model writes for tens of seconds
SAMPLING = dict(temperature=0.8, top_p=0.9, top_k=40, seed=7)


class _CountingEngine:
    """The real engine, counting the generations it serves."""

    def __init__(self, engine: LocalEngine):
        self._engine = engine
        self.starts: list[float] = []  # when each stream began
        self.prompts: list[str] = []  # what each stream was asked

    @property
    def runs(self) -> int:
        return len(self.starts)

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    def stream(self, messages, *args, **kwargs):
        self.starts.append(time.perf_counter())
        self.prompts.append(" ".join(str(m.get("content", "")) for m in messages))
        yield from self._engine.stream(messages, *args, **kwargs)


@pytest.fixture(scope="module")
def engine(tiny_loaded) -> LocalEngine:
    return LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny-qwen3", dtype=tiny_loaded.dtype,
                       context=4096)


def _waiting(server) -> int:
    queue = server.app._queue.event_queue_per_concurrency_id.get(MODEL_QUEUE)
    return len(queue.queue) if queue is not None else 0


def _until(predicate, timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not predicate():
        assert time.perf_counter() - start < timeout, f"{what} after {timeout}s"
        time.sleep(0.02)
    return time.perf_counter() - start


def _stop_b(b, engine: LocalEngine) -> None:
    b.click("#blog-stop")
    _wait_idle(engine)
    _wait_settled(b, "#blog-draft")


def test_stop_removes_a_run_still_waiting_in_the_queue(engine, browser):  # noqa: F811
    counting = _CountingEngine(engine)
    with serve_studio(counting) as server:
        stops: list[float] = []  # when the server handled a Stop (instrumenting the real SessionRuns)
        real_stop = server.ctx.runs.stop
        server.ctx.runs.stop = lambda session: stops.append(time.perf_counter()) or real_stop(session)
        a = Client(server.url, verbose=False, download_files=False)  # writer A: an API client
        b_context, b = _open(browser, server.url)  # writer B: a browser page
        try:
            _fill_brief(b)
            b.fill("#blog-topic textarea", "B's brief, queued behind A")
            for _attempt in range(4):
                job = a.submit(topic="A very long post", words=2000, max_new_tokens=LONG, **SAMPLING,
                               api_name="/blog")
                _until(lambda: engine.busy, 30, "A's run did not start")
                runs_before = counting.runs
                b.click("#blog-generate")
                _until(lambda n=runs_before: _waiting(server) == 1 or counting.runs > n, 30, "B's run never queued")
                if counting.runs == runs_before:
                    stops.clear()
                    pressed = time.perf_counter()
                    b.click("#blog-stop")
                    _until(lambda: stops, 10, "the Stop click never reached the server")
                    if counting.runs == runs_before or counting.starts[runs_before] > stops[0]:
                        break  # B was still waiting when the server handled Stop: the case under test
                # Random weights: A's run ended by itself and B's reached the model before Stop. Again.
                job.cancel()
                _stop_b(b, engine)
            else:
                raise AssertionError("A's run ended by itself every time: cannot test a queued Stop")
            left = _until(lambda: _waiting(server) == 0, 2, "B's run is still queued after Stop")
            _wait_settled(b, "#blog-draft")  # B's page hears that its run is over
            settled = time.perf_counter() - pressed
            assert b.input_value("#blog-topic textarea") == "B's brief, queued behind A"  # the brief stays
            job.cancel()
            # A is not under test here. Under a load of 3-8 the engine once stayed busy 30+ s, once 300+ s after
            # this cancel (not reproduced in 6 quiet runs, not yet diagnosed: see the fifth closing note).
            _wait_idle(engine, timeout=300.0)
            # A barrier instead of a sleep: one model, one queue served in order. Were B's run still queued,
            # it would reach the model before this later run of A's.
            a.predict(topic="A's barrier", words=100, max_new_tokens=4, **SAMPLING, api_name="/blog")
            _wait_idle(engine)
            assert counting.runs == runs_before + 1, "the stopped run reached the model"
            assert not any("B's brief" in prompt for prompt in counting.prompts), counting.prompts
            assert "A's barrier" in counting.prompts[-1]
            # B's page still works: a new Generate runs.
            b.click("#blog-generate")
            b.wait_for_function("document.querySelector('#blog-meter').innerText.includes('writing')",
                                timeout=30_000)
            _stop_b(b, engine)
            print(f"\n[measure] Stop on a queued run: out of the queue {left * 1000:.0f} ms after the check, "
                  f"page settled {settled * 1000:.0f} ms after the click")
        finally:
            b_context.close()
