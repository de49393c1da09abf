"""A page follows its background job even when gradio closes the page's event stream late, in a real browser.

gradio closes a page's server-sent-event stream whenever the page has no event pending. A page that started
its next queued event at that moment lost every update of it: CI saw the Long-form job meter freeze twice,
when the job was followed by a streaming event chained after "Expand all", page load or Resume. Here
gradio's `close_stream` message is delivered half a second late, as a loaded server may: with the chained
streaming follow, the first test failed on every try. The page now asks for the job's status on a timer,
with plain requests (writing/ui/job_view.py).
"""

from __future__ import annotations

import asyncio

import gradio.routes
import pytest
from starlette.responses import StreamingResponse

from tests.support.polling import wait_for
from tests.test_browser import _open, browser  # noqa: F401 - the shared chromium fixture
from tests.test_browser_jobs import (
    document,
    put_in_library,
    sections_done,
    start_from_library,
    studio_with_jobs,
    wait_meter,
)
from writing.workspace.jobs import JobRunner

LATE_S = 0.5


class LateClose(StreamingResponse):
    """gradio's event stream, with its `close_stream` message sent LATE_S seconds after the server decided it."""

    def __init__(self, content, *args, **kwargs):
        async def late():
            async for chunk in content:
                if "close_stream" in str(chunk):
                    await asyncio.sleep(LATE_S)
                yield chunk

        super().__init__(late(), *args, **kwargs)


@pytest.fixture(scope="module")
def late_close_server(tiny_loaded, tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setattr(gradio.routes, "StreamingResponse", LateClose)  # looked up by gradio at each request
    try:
        with studio_with_jobs(tiny_loaded, tmp_path_factory.mktemp("late-close")) as (server, store, runner, _):
            yield server, store, runner
    finally:
        patch.undo()


def job_of(runner: JobRunner, doc: str):
    """The job Expand all started for document `doc` (the click returns before the server has started it)."""
    return wait_for(lambda: next((job for job in runner.jobs.list(user="local") if job.doc == doc), None),
                    timeout=60, what=f"the job of document {doc[:4]}…")


def test_a_job_started_then_followed_is_shown_with_close_stream_late(late_close_server, browser):  # noqa: F811
    server, store, runner = late_close_server
    outline = document(12, "Bells in the fog")
    put_in_library(store, outline, "b" * 32)
    context, page = _open(browser, server.url)
    try:
        start_from_library(page, outline.title)  # Expand all: start_job, then job_id's change follows the job
        job = job_of(runner, "b" * 32)

        def status():
            return runner.status(job.id, user="local")

        wait_meter(page, "Done", 180_000, status)
        final = runner.status(job.id, user="local")
        assert final.state == "done" and sections_done(page.evaluate(
            "document.querySelector('#longform-meter').innerText")) == 12
    finally:
        context.close()


def test_pause_and_resume_are_shown_with_close_stream_late(late_close_server, browser):  # noqa: F811
    server, store, runner = late_close_server
    outline = document(30, "Foghorns at night")
    put_in_library(store, outline, "h" * 32)
    context, page = _open(browser, server.url)
    try:
        start_from_library(page, outline.title)
        job = job_of(runner, "h" * 32)

        def status():
            return runner.status(job.id, user="local")

        wait_meter(page, "Writing section", 120_000, status)
        page.click("#longform-pause")
        wait_meter(page, "Paused", 60_000, status)
        page.click("#longform-resume")  # Resume, then the page shows the same job again
        wait_meter(page, "Writing section", 60_000, status)
        wait_meter(page, "Done", 180_000, status)
        assert status().state == "done"
    finally:
        context.close()
