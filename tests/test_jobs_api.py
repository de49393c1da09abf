"""The job endpoints over gradio_client (issue #14, part 1): /job_start, /job_status, /job_list, /job_pause,
/job_stop, /job_resume against a studio on 127.0.0.1 with two logins, the tiny Qwen3 and a real SQLite
file. Bad ids and the other user's jobs get clear errors, and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gradio_client import Client

from tests.support.hardening import serve
from tests.support.polling import wait_for as poll
from tests.support.slow import SlowSteps
from writing.access.ratelimit import RateLimiter
from writing.compose.outline import Outline
from writing.library.store import DraftStore
from writing.workspace.jobs import JobRunner

USERS = [("alice", "alice-pw"), ("bob", "bob-pw")]
BRIEF = {"topic": "Lighthouses and their keepers", "audience": "", "style": "", "language": "English",
         "total_words": 400, "sections": 0}


def plan(sections: int = 3) -> dict[str, Any]:
    return {"title": "Lighthouses", "sections": [{"title": f"Part {i + 1}", "points": [f"point {i + 1}"],
                                                  "target": 60, "locked": False, "text": ""}
                                                 for i in range(sections)]}


def wait_for(check, timeout: float = 120.0, what: str = "condition") -> Any:
    return poll(check, timeout=timeout, what=what, every=0.05)


@pytest.fixture(scope="module")
def studio(tiny_loaded, tmp_path_factory) -> Iterator[tuple[str, DraftStore, JobRunner]]:
    from writing.engines.local import LocalEngine

    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype, context=2048)
    store = DraftStore(tmp_path_factory.mktemp("jobs-api") / "drafts.db")
    runner = JobRunner(engine, store, max_section_tokens=6, save_every_s=0.0)
    runner.start()
    try:
        with serve(engine, store=store, jobs=runner, launch_options={"auth": USERS}) as server:
            yield server.url, store, runner
    finally:
        runner.close()
        store.close()


def client(url: str, user: str) -> Client:
    return Client(url, auth=(user, dict(USERS)[user]), verbose=False, download_files=False)


def ended(api: Client, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: (s := api.predict(job_id, api_name="/job_status"))["state"] not in ("queued", "running")
                    and s, what="the job to end")


def test_start_status_and_list_belong_to_the_caller(studio):
    url, store, _runner = studio
    alice, bob = client(url, "alice"), client(url, "bob")
    started = alice.predict(BRIEF, plan(3), api_name="/job_start")
    assert started["state"] in ("queued", "running") and started["sections_total"] == 3
    assert started["eta_seconds"] is None and started["tokens_per_second"] is None
    final = ended(alice, started["id"])
    assert final["state"] == "done" and final["sections_done"] == 3 and final["eta_seconds"] == 0
    assert final["tokens_per_second"] > 0 and final["words"] > 0
    written = Outline.from_dict(final["outline"])
    assert all(s.text.strip() for s in written.sections)
    assert store.get(final["draft_id"], user="alice").kind == "longform"
    assert [j["id"] for j in alice.predict(api_name="/job_list")] == [started["id"]]
    assert bob.predict(api_name="/job_list") == []


def test_another_users_job_is_a_missing_job_and_stays_untouched(studio):
    url, _store, runner = studio
    alice, bob = client(url, "alice"), client(url, "bob")
    job = alice.predict(BRIEF, plan(2), api_name="/job_start")["id"]
    messages = {}
    for api in ("/job_status", "/job_pause", "/job_stop", "/job_resume"):
        with pytest.raises(Exception, match="no job") as refused:
            bob.predict(job, api_name=api)
        messages[api] = str(refused.value)
    with pytest.raises(Exception, match="no job") as missing:
        bob.predict("0" * 32, api_name="/job_status")
    # The same answer as for an id that does not exist at all: nothing tells bob that alice's exists.
    assert messages["/job_status"].replace(job, "ID") == str(missing.value).replace("0" * 32, "ID")
    assert ended(alice, job)["state"] == "done"  # bob's stop and pause changed nothing
    assert runner.jobs.get(job, user="alice").error == ""


@pytest.mark.parametrize(("bad", "says"), [("not-a-job", "32 hex digits"), ("", "32 hex digits"),
                                           ("x" * 5000, "32 hex digits"), ("ABCDEF" * 6, "32 hex digits")])
def test_bad_ids_get_clear_errors(studio, bad, says):
    url, _store, _runner = studio
    alice = client(url, "alice")
    for api in ("/job_status", "/job_stop", "/job_resume"):
        with pytest.raises(Exception, match=says):
            alice.predict(bad, api_name=api)


def test_bad_briefs_and_outlines_are_refused_before_a_job_exists(studio):
    url, _store, runner = studio
    alice = client(url, "alice")
    before = len(runner.jobs.list(user="alice"))
    with pytest.raises(Exception, match="topic"):
        alice.predict({**BRIEF, "topic": ""}, plan(2), api_name="/job_start")
    with pytest.raises(Exception, match="outline.sections"):
        alice.predict(BRIEF, {"title": "x", "sections": []}, api_name="/job_start")
    with pytest.raises(Exception, match="rewrite"):
        alice.predict(BRIEF, plan(2), "yes", api_name="/job_start")
    with pytest.raises(Exception, match="at most"):
        alice.predict(BRIEF, {"title": "x" * 10_000, "sections": plan(1)["sections"]}, api_name="/job_start")
    assert len(runner.jobs.list(user="alice")) == before


def test_stop_then_resume_goes_on_where_it_stopped(studio):
    url, _store, runner = studio
    alice = client(url, "alice")
    runner.max_section_tokens = 60  # long enough sections to stop one mid-way
    try:
        with SlowSteps(runner.engine.model, 0.05):  # 60 steps >= 3 s: the Stop lands inside section 1 under load
            job = alice.predict(BRIEF, plan(3), api_name="/job_start")["id"]
            wait_for(lambda: len(alice.predict(job, api_name="/job_status")["outline"]["sections"][0]["text"]) > 5,
                     what="text in the first section")
            stopped = alice.predict(job, api_name="/job_stop")
        assert stopped["id"] == job
        stopped = ended(alice, job)
        assert stopped["state"] == "stopped" and stopped["resume_from"] == 1 and stopped["sections_done"] == 0
        partial = stopped["outline"]["sections"][0]["text"]
        assert partial.strip()
        with pytest.raises(Exception, match="stopped"):
            alice.predict(job, api_name="/job_pause")  # nothing running to pause
    finally:
        runner.max_section_tokens = 6
    resumed = alice.predict(job, api_name="/job_resume")
    assert resumed["state"] in ("queued", "running")
    final = ended(alice, job)
    assert final["state"] == "done" and final["sections_done"] == 3
    first = final["outline"]["sections"][0]["text"]
    assert first.startswith(partial) and len(first) > len(partial)  # continued, not written again
    with pytest.raises(Exception, match="nothing to resume|only a paused"):
        alice.predict(job, api_name="/job_resume")


def test_starting_a_job_goes_through_the_rate_limit_first(tiny_engine, tmp_path):
    store = DraftStore(tmp_path / "drafts.db")
    runner = JobRunner(tiny_engine, store, max_section_tokens=2, save_every_s=0.0)
    runner.start()
    try:
        with serve(tiny_engine, store=store, jobs=runner, limiter=RateLimiter(limit=1, window_s=3600),
                   launch_options={"auth": USERS}) as server:
            alice = client(server.url, "alice")
            first = alice.predict(BRIEF, plan(1), api_name="/job_start")
            with pytest.raises(Exception, match="(?i)too many|try again"):
                alice.predict(BRIEF, plan(1), api_name="/job_start")
            assert [j.id for j in runner.jobs.list(user="alice")] == [first["id"]]
            ended(alice, first["id"])
    finally:
        runner.close()
        store.close()


def test_live_jobs_are_capped_per_user_over_the_api(studio):
    url, _store, runner = studio
    alice = client(url, "alice")
    runner.max_section_tokens = 400  # jobs that cannot end before they are paused
    try:
        jobs = [alice.predict(BRIEF, plan(2), api_name="/job_start")["id"] for _ in range(runner.live_per_user)]
        for job in jobs:
            alice.predict(job, api_name="/job_pause")
    finally:
        runner.max_section_tokens = 6
    wait_for(lambda: all(alice.predict(j, api_name="/job_status")["state"] == "paused" for j in jobs),
             what="paused jobs")
    with pytest.raises(Exception, match="already have"):
        alice.predict(BRIEF, plan(2), api_name="/job_start")
    for job in jobs:
        alice.predict(job, api_name="/job_stop")


def test_the_library_shows_progress_and_opens_the_document_following_its_job(tiny_engine, tmp_path):
    """Library list: a document written by a job shows its progress; "Open in its tab" sets the tab's job
    (whose change re-attaches the page: tests/test_browser_jobs.py follows a job in a real page)."""
    from writing.compose.longform import Brief
    from writing.engines.params import SamplingParams
    from writing.ui.app import build_app
    from writing.ui.context import UIContext
    from writing.ui.tabs.library import Library

    store = DraftStore(tmp_path / "drafts.db")
    runner = JobRunner(tiny_engine, store, max_section_tokens=200, save_every_s=0.0)
    runner.start()
    try:
        ctx = UIContext(engine=tiny_engine, store=store, jobs=runner)
        build_app(ctx)
        brief = Brief(topic="Lighthouses", total_words=400)
        job = runner.start_job(user="local", brief=brief, outline=Outline.from_dict(plan(2)),
                               params=SamplingParams(seed=1))
        status = wait_for(lambda: (s := runner.status(job.id, user="local")).draft_id and s, what="the draft")
        rows, _ids, _choices = Library(ctx).listing("", None)
        [row] = [r for r in rows if r[-1] == status.draft_id]
        assert "sections" in row[4] and "of 120 words" in row[4]  # the status column: the job's progress
        opener = ctx.openers.get("longform")
        values = dict(zip(opener.outputs, opener.load(store.get(status.draft_id, user="local")), strict=True))
        assert values[opener.outputs[-1]] == job.id  # the tab's job_id: the page follows this job
        runner.stop(job.id, user="local")
        wait_for(lambda: runner.status(job.id, user="local").state == "stopped", what="stopped")
        rows, _ids, _choices = Library(ctx).listing("", None)
        [row] = [r for r in rows if r[-1] == status.draft_id]
        assert "Resume from section 1" in row[4]
    finally:
        runner.close()
        store.close()
