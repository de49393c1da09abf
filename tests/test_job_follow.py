"""A page following a background job (writing/ui/job_view.py `follow`), with the real runner, the tiny Qwen3 and
a real SQLite file: the page's request is a plain object carrying its session and user (pure bookkeeping).

The browser tests (tests/test_browser_jobs.py) found this once in CI: a page's meter froze at "Writing section"
after Pause then Resume, and never showed "Stopped". The follow that showed "Paused" was closed only after the
Resume's follow had started, and its clean-up made the new one stop following.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.support.polling import wait_for
from tests.support.slow import SlowSteps
from tests.test_jobs import BRIEF, PARAMS, outline
from writing.library.store import DraftStore
from writing.ui import job_view
from writing.workspace.jobs import JobRunner


@pytest.fixture
def runner(tiny_engine, tmp_path) -> Iterator[JobRunner]:
    store = DraftStore(tmp_path / "drafts.db")
    made = JobRunner(tiny_engine, store, max_section_tokens=6, save_every_s=0.0)
    made.start()
    yield made
    made.close()
    store.close()


def page(session: str = "page-1") -> SimpleNamespace:
    return SimpleNamespace(session_hash=session, username="ann")


def test_a_follow_closed_late_does_not_end_the_pages_newer_follow_of_the_same_job(runner, tiny_engine):
    ctx, following = SimpleNamespace(jobs=runner), job_view.Following()
    with SlowSteps(tiny_engine.model, 0.02):  # sections outlast the page's reactions on a loaded machine
        job = runner.start_job(user="ann", brief=BRIEF, outline=outline(4), params=PARAMS)
        first = job_view.follow(ctx, following, job.id, page())
        assert next(first).state in ("queued", "running")
        runner.pause(job.id, user="ann")
        paused = next(status for status in first if status.state == "paused")  # its last: not yet closed
        runner.resume(job.id, user="ann")
        second = job_view.follow(ctx, following, job.id, page())
        assert next(second).state in ("queued", "running")
        assert list(first) == []  # the old follow ends now, after the new one started
        rest = list(second)
    assert paused.resume_from is not None
    assert rest and rest[-1].state == "done", [s.state for s in rest]  # followed to the end
    assert rest[-1].sections_done == 4


def test_a_page_that_follows_another_job_stops_following_the_first(runner, tiny_engine):
    ctx, following = SimpleNamespace(jobs=runner), job_view.Following()
    with SlowSteps(tiny_engine.model, 0.02):
        one = runner.start_job(user="ann", brief=BRIEF, outline=outline(3), params=PARAMS)
        two = runner.start_job(user="ann", brief=BRIEF, outline=outline(2), params=PARAMS)
        first = job_view.follow(ctx, following, one.id, page())
        next(first)
        second = job_view.follow(ctx, following, two.id, page())
        next(second)
        elsewhere = job_view.follow(ctx, following, one.id, page("page-2"))  # another page follows job one
        next(elsewhere)
        assert list(first) == []  # page-1 follows job two now: its follow of job one ends without a word
        assert list(second)[-1].state == "done"
        assert list(elsewhere)[-1].state == "done"  # that page's follow is its own
    wait_for(lambda: runner.status(one.id, user="ann").state == "done", what="job one to end")
