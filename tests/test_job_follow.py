"""A page following a background job (writing/ui/job_view.py `changed_status`, asked by the Long-form tab's
timer), with the real runner, the tiny Qwen3 and a real SQLite file: the page's request is a plain object
carrying its session and user (pure bookkeeping).

A page shows a status only when it changed since the page last showed one (`shown_key`): through Pause and
Resume of the same job, to its end, and never another user's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.support.polling import wait_for
from tests.support.slow import SlowSteps
from tests.test_jobs import BRIEF, PARAMS, outline
from writing.errors import StudioError
from writing.library.store import DraftStore
from writing.ui import job_view
from writing.workspace.jobs import JobRunner, JobStatus


@pytest.fixture
def runner(tiny_engine, tmp_path) -> Iterator[JobRunner]:
    store = DraftStore(tmp_path / "drafts.db")
    made = JobRunner(tiny_engine, store, max_section_tokens=6, save_every_s=0.0)
    made.start()
    yield made
    made.close()
    store.close()


def page(user: str = "ann") -> SimpleNamespace:
    return SimpleNamespace(session_hash="page-1", username=user)


class Page:
    """What a page shows of one job: it asks as its timer would, and keeps each new status it was given."""

    def __init__(self, runner: JobRunner, job_id: str):
        self.ctx, self.job_id = SimpleNamespace(jobs=runner), job_id
        self.shown = ""
        self.seen: list[JobStatus] = []

    def tick(self) -> JobStatus | None:
        status = job_view.changed_status(self.ctx, self.job_id, self.shown, page())
        if status is not None:
            self.shown = job_view.shown_key(status)
            self.seen.append(status)
        return status

    def until(self, state: str) -> JobStatus:
        return wait_for(lambda: (status := self.tick()) is not None and status.state == state and status,
                        timeout=120, what=f"the job {state}")


def test_a_page_sees_each_change_once_through_pause_and_resume_to_the_end(runner, tiny_engine):
    with SlowSteps(tiny_engine.model, 0.02):  # sections outlast the page's reactions on a loaded machine
        job = runner.start_job(user="ann", brief=BRIEF, outline=outline(4), params=PARAMS)
        shown = Page(runner, job.id)
        first = shown.tick()
        assert first is not None and first.state in ("queued", "running")
        runner.pause(job.id, user="ann")
        paused = shown.until("paused")
        assert shown.tick() is None  # nothing new while it is paused: the page is told nothing
        runner.resume(job.id, user="ann")
        resumed = shown.tick()  # Resume on the same job: a new status to show at once
        assert resumed is not None and resumed.state in ("queued", "running")
        done = shown.until("done")
    assert paused.resume_from is not None
    assert done.sections_done == 4 and shown.tick() is None
    keys = [job_view.shown_key(status) for status in shown.seen]
    assert len(keys) == len(set(keys))  # no status shown twice


def test_another_users_job_is_no_job_and_no_job_shows_nothing(runner):
    job = runner.start_job(user="ann", brief=BRIEF, outline=outline(1), params=PARAMS)
    ctx = SimpleNamespace(jobs=runner)
    with pytest.raises(StudioError):
        job_view.changed_status(ctx, job.id, "", page("bob"))
    assert job_view.changed_status(ctx, None, "", page()) is None
    assert job_view.changed_status(SimpleNamespace(jobs=None), job.id, "", page()) is None  # no drafts database
    wait_for(lambda: runner.status(job.id, user="ann").state == "done", what="the job to end")
