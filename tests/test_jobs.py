"""Background document jobs (issue #14, part 1): the jobs table (writing/library/jobs.py) and the runner
(writing/workspace/jobs.py) with the real tiny Qwen3 and a real SQLite file.

Sections are capped at a few tokens (max_section_tokens) so a job takes seconds on 2 shared cores.
Nothing here sleeps to synchronise: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.polling import wait_for as poll
from tests.support.slow import SlowSteps
from writing.compose.longform import Brief, assemble
from writing.compose.outline import Outline, Section
from writing.engines.base import GenerationStats
from writing.engines.params import SamplingParams
from writing.errors import StudioError
from writing.library.jobs import JobNotFound, JobStateError, JobStore, check_job_id
from writing.library.store import DraftStore
from writing.workspace.jobs import JobLimitError, JobRunner

PARAMS = SamplingParams(temperature=0.8, top_p=0.95, top_k=50, seed=7)
BRIEF = Brief(topic="Lighthouses and their keepers", audience="curious readers", total_words=400)


def outline(sections: int = 4, *, texts: dict[int, str] | None = None) -> Outline:
    texts = texts or {}
    return Outline(title="Lighthouses", sections=tuple(
        Section(title=f"Part {i + 1}", points=(f"point {i + 1}",), target=60, text=texts.get(i, ""))
        for i in range(sections)))


def wait_for(check, timeout: float = 120.0, what: str = "condition") -> Any:
    return poll(check, timeout=timeout, what=what, every=0.02)


@pytest.fixture
def store(tmp_path) -> Iterator[DraftStore]:
    opened = DraftStore(tmp_path / "drafts.db")
    yield opened
    opened.close()


class Recording:
    """The real engine, with every stream's stats kept in call order and tagged by its calling thread (the
    runner's worker is "studio-jobs"). Ordering by stats.started_at (set once the model's lock is taken)
    tells who got the model first; no timing is asserted."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.calls: list[tuple[str, GenerationStats]] = []
        self.prompts: list[str] = []  # each call's messages, joined, in call order

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def stream(self, messages, params, cancel=None, *, stats=None):
        stats = stats if stats is not None else GenerationStats()
        self.calls.append((threading.current_thread().name, stats))
        self.prompts.append("\n".join(str(m.get("content", "")) for m in messages))
        return self.engine.stream(messages, params, cancel, stats=stats)


@pytest.fixture
def runner_for(store, tiny_engine):
    made: list[JobRunner] = []

    def make(engine: Any = tiny_engine, **options: Any) -> JobRunner:
        options.setdefault("max_section_tokens", 6)
        options.setdefault("save_every_s", 0.0)
        runner = JobRunner(engine, store, **options)
        runner.start()
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


def finished(runner: JobRunner, job_id: str, user: str = "ann"):
    return wait_for(lambda: (s := runner.status(job_id, user=user)).state not in ("queued", "running") and s,
                    what="the job to end")


# ---------------------------------------------------------------- the table

def test_jobs_are_per_user_and_bad_ids_are_clear(store):
    jobs = JobStore(store)
    job = jobs.create(user="ann", spec={"order": [0, 1]}, progress={"done": []})
    assert jobs.get(job.id, user="ann").state == "queued"
    with pytest.raises(JobNotFound, match="no job") as other:
        jobs.get(job.id, user="bob")  # another user's job: exactly a missing one
    with pytest.raises(JobNotFound) as missing:
        jobs.get("0" * 32, user="bob")
    assert str(other.value).replace(job.id, "X") == str(missing.value).replace("0" * 32, "X")
    with pytest.raises(JobNotFound, match="32 hex digits"):
        jobs.get("../../etc/passwd", user="ann")
    with pytest.raises(JobNotFound, match="is text"):
        jobs.get(12, user="ann")
    with pytest.raises(JobNotFound):
        jobs.update(job.id, user="bob", state="stopped")
    assert jobs.get(job.id, user="ann").state == "queued"  # bob changed nothing
    assert check_job_id(f"  {job.id} ") == job.id
    assert [j.id for j in jobs.list(user="ann")] == [job.id] and jobs.list(user="bob") == []


def test_a_restart_marks_running_and_queued_jobs_interrupted(store):
    jobs = JobStore(store)
    running = jobs.create(user="ann", spec={}, progress={}, state="running")
    queued = jobs.create(user="bob", spec={}, progress={}, state="queued")
    done = jobs.create(user="ann", spec={}, progress={}, state="done")
    paused = jobs.create(user="ann", spec={}, progress={}, state="paused")
    assert jobs.interrupt_stale() == 2
    assert jobs.get(running.id, user="ann").state == "interrupted"
    assert jobs.get(queued.id, user="bob").state == "interrupted"
    assert jobs.get(done.id, user="ann").state == "done" and jobs.get(paused.id, user="ann").state == "paused"
    with pytest.raises(JobStateError, match="is done"):
        jobs.update(done.id, user="ann", state="queued", only_from=("paused", "interrupted"))


# ---------------------------------------------------------------- the runner

def test_a_job_writes_every_section_into_the_document_draft(runner_for, store):
    runner = runner_for()
    started = runner.start_job(user="ann", brief=BRIEF, outline=outline(3), params=PARAMS)
    assert started.state in ("queued", "running") and (started.sections_total, started.sections_done) == (3, 0)
    assert started.eta_seconds is None  # nothing measured yet: no ETA shown
    seen = list(runner.watch(started.id, user="ann", every_s=0.0))
    final = seen[-1]
    assert final.state == "done" and final.sections_done == 3
    assert [s.sections_done for s in seen] == sorted(s.sections_done for s in seen)  # never backwards
    written = Outline.from_dict(final.outline)
    assert all(s.text.strip() for s in written.sections)
    draft = store.get(final.draft_id, user="ann")
    assert draft.kind == "longform" and draft.status == "done"
    assert draft.content == assemble(written) and draft.meta["doc"] == final.doc
    assert final.tokens > 0 and final.seconds > 0 and final.tokens_per_second is not None
    assert runner.status(started.id, user="ann").state == "done"  # from the table once let go
    with pytest.raises(JobNotFound):
        runner.status(started.id, user="bob")


def test_the_eta_appears_once_a_section_of_this_job_is_measured(runner_for):
    runner = runner_for(max_section_tokens=4)
    job = runner.start_job(user="ann", brief=BRIEF, outline=outline(4), params=PARAMS)
    statuses = list(runner.watch(job.id, user="ann", every_s=0.0))
    before = [s for s in statuses if s.sections_done == 0]
    after = [s for s in statuses if 0 < s.sections_done < 4]
    assert before and all(s.eta_seconds is None and s.tokens_per_second is None for s in before)
    assert after and all(s.eta_seconds is not None and s.eta_seconds >= 0 for s in after)
    assert statuses[-1].eta_seconds == 0


def test_an_interactive_request_waits_at_most_one_section(tiny_engine, runner_for):
    """An interactive request that arrives while a job section computes gets the model next: the worker does
    not even ask for the model (stats.queued_at) until the request has it (stats.started_at)."""
    engine = Recording(tiny_engine)
    runner = runner_for(engine, max_section_tokens=12)
    job = runner.start_job(user="ann", brief=BRIEF, outline=outline(12), params=PARAMS)
    for _attempt in range(5):
        # Submit while a job section computes (the newest job call has the model and has not finished).
        running = wait_for(lambda: (calls := [s for who, s in engine.calls if who == "studio-jobs"])
                           and calls[-1].started_at is not None and calls[-1].finished_at is None and calls[-1],
                           what="a job section computing")
        mine = GenerationStats()
        submitted = mine.queued_at
        "".join(engine.stream([{"role": "user", "content": "a quick chat reply"}],
                              SamplingParams(max_new_tokens=4, seed=1), stats=mine))
        if running.finished_at is not None and running.finished_at > submitted + 0.05:
            break  # it really arrived mid-section (not as the section ended): the case under test
    else:
        pytest.fail("could not submit a request in the middle of a job section")
    final = finished(runner, job.id)
    assert final.state == "done"
    jobs = [s for who, s in engine.calls if who == "studio-jobs"]
    # The section running at submission finished first; no other job section asked for the model, let alone
    # got it, before the interactive request had it; and the job went on after it.
    assert running.started_at < submitted < mine.started_at
    assert not [s for s in jobs if s is not running and submitted < s.queued_at < mine.started_at]
    assert not [s for s in jobs if s is not running and submitted < s.started_at < mine.started_at]
    assert [s for s in jobs if s.started_at > mine.finished_at]
    assert runner.yielded >= 1


def test_interactive_requests_go_before_the_next_section(tiny_engine, runner_for):
    """While request A computes, a job is ready for its next section and request B arrives: when A ends, B
    gets the model, and the worker does not even ask for it (stats.queued_at) before B has finished."""
    engine = Recording(tiny_engine)
    runner = runner_for(engine, max_section_tokens=4)

    def ask(stats: GenerationStats, tokens: int) -> threading.Thread:
        thread = threading.Thread(target=lambda: "".join(engine.stream(
            [{"role": "user", "content": "an interactive request"}], SamplingParams(max_new_tokens=tokens, seed=3),
            stats=stats)))
        thread.start()
        return thread

    a, b = GenerationStats(), GenerationStats()
    first = ask(a, 40)
    wait_for(lambda: a.started_at is not None, what="request A to have the model")
    job = runner.start_job(user="ann", brief=BRIEF, outline=outline(2), params=PARAMS)
    second = ask(b, 4)
    wait_for(lambda: engine.waiting >= 1 or b.started_at is not None, what="request B to wait for the model")
    first.join(120)
    second.join(120)
    assert finished(runner, job.id).state == "done"
    sections = [s for who, s in engine.calls if who == "studio-jobs"]
    assert len(sections) == 2
    assert a.finished_at <= b.started_at  # B went right after A
    assert all(s.queued_at > b.finished_at for s in sections), "the job asked for the model while B waited"
    assert runner.yielded >= 1


def test_two_jobs_take_turns_section_by_section(tiny_engine, runner_for):
    engine = Recording(tiny_engine)
    runner = runner_for(engine, max_section_tokens=3)
    runner.start_job(user="ann", brief=BRIEF, outline=outline(3), params=PARAMS)
    other = Brief(topic="Tide pools", total_words=400)
    runner.start_job(user="bob", brief=other, outline=outline(3), params=PARAMS)
    for job in runner.jobs.list(user="ann") + runner.jobs.list(user="bob"):
        finished(runner, job.id, job.user)
    order = sorted((stats.started_at, "tide" if "Tide pools" in prompt else "light")
                   for (_who, stats), prompt in zip(engine.calls, engine.prompts, strict=True))
    labels = [label for _t, label in order]
    assert labels in (["light", "tide"] * 3, ["tide", "light"] * 3), labels


def test_pause_keeps_the_partial_section_and_resume_continues_it(tiny_engine, runner_for, store):
    engine = Recording(tiny_engine)
    runner = runner_for(engine, max_section_tokens=40)
    unseeded = PARAMS.model_copy(update={"seed": None})  # unseeded: a rewrite could not repeat the partial text
    with SlowSteps(tiny_engine.model, 0.05):  # 40 steps >= 2 s: the pause lands inside section 2 even under load
        job = runner.start_job(user="ann", brief=BRIEF, outline=outline(3), params=unseeded)
        wait_for(lambda: (s := runner.status(job.id, user="ann")).sections_done == 1 and s.text.strip(),
                 what="a partial second section")
        runner.pause(job.id, user="ann")
        paused = wait_for(lambda: (s := runner.status(job.id, user="ann")).state == "paused" and s, what="paused")
    assert not runner.engine.busy  # within a decode step (the worker saved the partial text and let go)
    kept = Outline.from_dict(paused.outline)
    first, partial = kept.sections[0].text, kept.sections[1].text
    assert first.strip() and partial.strip() and paused.current == 2 and paused.resume_from == 2
    stored = runner.jobs.get(job.id, user="ann")
    assert stored.state == "paused" and stored.progress["partial"] is True
    with pytest.raises(JobNotFound):
        runner.resume(job.id, user="bob")
    runner.resume(job.id, user="ann")
    final = finished(runner, job.id)
    assert final.state == "done"
    done = Outline.from_dict(final.outline)
    assert done.sections[0].text == first  # a finished section is never written again
    assert done.sections[1].text.startswith(partial) and len(done.sections[1].text) > len(partial)  # continued
    assert done.sections[2].text.strip()
    assert len(engine.calls) == 4  # 3 sections + the continuation of the paused one: nothing written twice
    assert "Continue this section from exactly where it stops" in engine.prompts[2]  # the paused one, continued
    assert "Continue this section" not in engine.prompts[1] + engine.prompts[3]


def test_stop_ends_the_section_within_a_step_and_keeps_its_text(runner_for, store):
    runner = runner_for(max_section_tokens=200)
    job = runner.start_job(user="ann", brief=BRIEF, outline=outline(2), params=PARAMS)
    wait_for(lambda: len(runner.status(job.id, user="ann").text) > 5, what="some text")
    runner.stop(job.id, user="ann")
    stopped = finished(runner, job.id)
    assert stopped.state == "stopped" and stopped.sections_done == 0
    assert stopped.stats is None and not runner.engine.busy
    assert stopped.tokens < 200  # it did not write the section to its end
    kept = Outline.from_dict(stopped.outline).sections[0].text
    assert kept.strip() and kept == Outline.from_dict(runner.jobs.get(job.id, user="ann").progress["outline"]
                                                      ).sections[0].text
    draft = store.get(stopped.draft_id, user="ann")
    assert draft.status == "stopped" and kept.strip() in draft.content
    with pytest.raises(JobStateError):
        runner.stop(job.id, user="ann")  # nothing left to stop


def test_resume_after_a_restart_continues_the_partial_section_and_writes_nothing_twice(store, runner_for):
    """The row a killed studio leaves: state running, section 1 finished, section 2 half written."""
    before = outline(4, texts={0: "The first section, finished before the crash.", 1: "Half of the second"})
    jobs = JobStore(store)
    spec = {"brief": BRIEF.to_dict(), "params": PARAMS.model_dump(), "order": [0, 1, 2, 3], "doc": "d" * 32,
            "title": before.title}
    progress = {"outline": before.to_dict(), "done": [0], "current": 1, "partial": True, "tokens": 9,
                "seconds": 1.5}
    row = jobs.create(user="ann", spec=spec, progress=progress, state="running")
    runner = runner_for()  # start(): the stale row becomes interrupted
    interrupted = runner.status(row.id, user="ann")
    assert interrupted.state == "interrupted" and interrupted.resume_from == 2
    runner.resume(row.id, user="ann")
    with pytest.raises(StudioError):
        runner.resume(row.id, user="ann")  # already queued: one resume, one run
    final = finished(runner, row.id)
    assert final.state == "done" and final.sections_done == 4
    after = Outline.from_dict(final.outline)
    assert after.sections[0].text == before.sections[0].text
    assert after.sections[1].text.startswith("Half of the second") and after.sections[1].text != "Half of the second"
    assert all(s.text.strip() for s in after.sections[2:])
    assert after.sections[1].text.count("Half of the second") == 1


def test_live_jobs_are_capped_per_user(runner_for):
    runner = runner_for(max_section_tokens=4, live_per_user=1)
    first = runner.start_job(user="ann", brief=BRIEF, outline=outline(2), params=PARAMS)
    runner.pause(first.id, user="ann")
    with pytest.raises(JobLimitError, match="already have 1"):
        runner.start_job(user="ann", brief=BRIEF, outline=outline(2), params=PARAMS)
    other = runner.start_job(user="bob", brief=BRIEF, outline=outline(2), params=PARAMS)  # bob's own room
    assert finished(runner, other.id, "bob").state == "done"
    runner.stop(first.id, user="ann")
    assert wait_for(lambda: runner.status(first.id, user="ann").state == "stopped")
    runner.start_job(user="ann", brief=BRIEF, outline=outline(2), params=PARAMS)


def test_a_job_is_refused_before_queueing_when_nothing_fits_or_nothing_is_left(runner_for, store):
    runner = runner_for()
    written = outline(2, texts={0: "done", 1: "done too"})
    with pytest.raises(StudioError, match="Nothing to write"):
        runner.start_job(user="ann", brief=BRIEF, outline=written, params=PARAMS)
    huge = Outline(title="Huge", sections=(Section(title="One", points=("x" * 900,) * 20, target=100),) * 4)
    with pytest.raises(StudioError, match="budget"):
        runner.start_job(user="ann", brief=BRIEF, outline=huge, params=PARAMS)
    assert runner.jobs.list(user="ann") == []  # nothing was queued


def test_a_queued_job_stopped_or_paused_never_gets_a_section(tiny_engine, runner_for):
    engine = Recording(tiny_engine)
    runner = runner_for(engine, max_section_tokens=30)
    first = runner.start_job(user="ann", brief=BRIEF, outline=outline(2), params=PARAMS)
    wait_for(lambda: engine.calls, what="the first job's section")
    queued = runner.start_job(user="bob", brief=Brief(topic="Tide pools", total_words=400), outline=outline(2),
                              params=PARAMS)
    paused = runner.start_job(user="cy", brief=Brief(topic="Sea caves", total_words=400), outline=outline(2),
                              params=PARAMS)
    assert runner.stop(queued.id, user="bob").state == "stopped"
    assert runner.pause(paused.id, user="cy").state == "paused"
    assert finished(runner, first.id).state == "done"
    assert not [p for p in engine.prompts if "Tide pools" in p or "Sea caves" in p]
    assert runner.status(paused.id, user="cy").resume_from == 1
    runner.stop(paused.id, user="cy")


# ---------------------------------------------------------------- word budgets and revisions in jobs (the merge)

def test_a_job_keeps_the_total_by_moving_the_targets_still_to_write(runner_for):
    # Sections capped at 6 tokens always end far under their 60-word targets, so every finished section
    # moves the targets of the sections after it (writing/compose/budget.py), unless keep_total is off.
    runner = runner_for()
    kept = finished(runner, runner.start_job(user="ann", brief=BRIEF, outline=outline(4), params=PARAMS).id)
    plain = finished(runner, runner.start_job(user="ann", brief=BRIEF, outline=outline(4), params=PARAMS,
                                              rebalance_targets=False).id)
    assert kept.state == plain.state == "done"
    assert plain.rebalanced == () and [s["target"] for s in plain.outline["sections"]] == [60, 60, 60, 60]
    assert kept.rebalanced and kept.rebalanced[0].startswith("Section 1 ran")
    targets = [s["target"] for s in kept.outline["sections"]]
    assert targets[0] == 60 and targets[1:] != [60, 60, 60]  # the first keeps its own; later ones moved
    assert kept.to_dict()["rebalanced"] == list(kept.rebalanced)
    stored = runner.jobs.get(kept.id, user="ann").progress["rebalanced"]
    assert stored == list(kept.rebalanced)  # saved with the job: a restart shows them too


def test_a_job_rewriting_written_sections_keeps_their_earlier_texts(runner_for, store):
    from writing.library.revisions import Revisions, section_part

    runner = runner_for()
    written = outline(2, texts={0: "The first text, written by hand.", 1: "The second text, also by hand."})
    job = finished(runner, runner.start_job(user="ann", brief=BRIEF, outline=written, params=PARAMS,
                                            rewrite=True, rebalance_targets=False).id)
    assert job.state == "done" and job.draft_id is not None
    revisions = Revisions(store)
    for index, old in ((0, "The first text, written by hand."), (1, "The second text, also by hand.")):
        [kept] = revisions.list(user="ann", draft_id=job.draft_id, part=section_part(written, index))
        assert kept.cause == "regenerate"
        assert revisions.get(kept.id, user="ann").content == old
    assert revisions.list(user="bob", draft_id=job.draft_id) == []  # another user's document: nothing
