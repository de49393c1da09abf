"""JobRunner: "Write all sections" as a server-side job that outlives the page that started it.

One worker thread writes ONE SECTION AT A TIME, taking the live jobs in turn (round robin), and
before every section it lets interactive requests (Blog, Chat, Code, a single section) go first: it
waits while the engine is busy or has requests waiting for it. So an interactive request waits at
most for the section being written, never for a whole document.

Per job: Stop and Pause set the job's cancel Event, so the section being written ends within one
decode step and its partial text is kept (Pause leaves the job resumable, Stop ends it; Resume
works for both). Progress is persisted in the job's row (writing/library/jobs.py) every few seconds
and at every section's end, and the document is saved as the one long-form draft of the document
(writing/workspace/document.py: an edit made elsewhere is never overwritten, the run forks instead).

Restart: `start()` marks jobs a previous process left running or queued `interrupted`; Resume
continues the partial section (mode "continue") and then the rest, so nothing is written twice.

Pages follow a job through `follow()`: snapshots of the in-memory state (the same text the worker
has), never a second generation. The writing itself is writing/compose/longform.py's write_section.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from writing.compose.budget import rebalance
from writing.compose.limits import JOB_SAVE_EVERY_S, JOBS_LIVE_PER_USER
from writing.compose.longform import (
    Brief,
    Messages,
    brief_from_dict,
    engine_streamer,
    report,
    section_max_new_tokens,
    sections_to_write,
    tokens_per_word,
    write_section,
)
from writing.compose.outline import Outline
from writing.engines.base import Engine, GenerationStats
from writing.engines.params import SamplingParams, make_params
from writing.errors import BusyError, StudioError
from writing.library.jobs import LIVE, RESUMABLE, Job, JobNotFound, JobStateError, JobStore, remaining
from writing.library.revisions import DEFAULT_KEEP, Revisions, section_part
from writing.library.store import DraftStore
from writing.workspace.document import DocumentDraft

_IDLE_WAIT_S = 1.0  # the worker re-checks for work at least this often
_YIELD_POLL_S = 0.02  # how often the worker looks whether interactive requests still want the model


class JobLimitError(BusyError):
    """The user already has JOBS_LIVE_PER_USER jobs queued, running or paused."""


class _DryRun(Exception):
    """Raised by the admission dry run instead of calling the model (see JobRunner._check_prompt)."""


@dataclass
class _Live:
    """A job the worker holds in memory (queued, running or paused): what pages read while it runs."""

    job: Job
    brief: Brief
    params: SamplingParams
    outline: Outline
    order: list[int]
    done: list[int]
    current: int | None
    partial: bool
    tokens: int  # finished work of this job (sections written, parts of sections stopped)
    seconds: float
    state: str
    draft: DocumentDraft
    cancel: threading.Event = field(default_factory=threading.Event)
    request: str = ""  # "pause", "stop" or "close" while the cancel Event is set
    stats: GenerationStats | None = None  # the section being written
    text: str = ""  # its text so far
    version: int = 0  # raised by every change; followers wait for it to move
    error: str = ""
    saved_at: float = float("-inf")
    rebalanced: list[str] = field(default_factory=list)  # one line per rebalance of the pending targets


@dataclass(frozen=True)
class JobStatus:
    """What a page or an API client sees of a job (a copy: safe to read from any thread)."""

    id: str
    state: str
    title: str
    doc: str | None
    draft_id: str | None
    sections_total: int
    sections_done: int
    current: int | None  # 1-based section being written (or stopped in), None between sections
    current_title: str
    text: str  # the current section's text so far
    words: int
    target: int
    tokens: int
    seconds: float
    tokens_per_second: float | None  # measured by this job; None until one of its sections has finished
    eta_seconds: float | None  # None until tokens_per_second is known
    resume_from: int | None  # 1-based, for a paused/stopped/interrupted/failed job with sections left
    error: str
    outline: dict[str, Any]
    version: int
    stats: GenerationStats | None = None
    rebalanced: tuple[str, ...] = ()  # word budgets moved after sections ran over/under (compose/budget.py)

    @property
    def live(self) -> bool:
        return self.state in LIVE

    def to_dict(self) -> dict[str, Any]:
        """JSON for API clients (the stats object stays out)."""
        return {"id": self.id, "state": self.state, "title": self.title, "doc": self.doc, "draft_id": self.draft_id,
                "sections_total": self.sections_total, "sections_done": self.sections_done,
                "current_section": self.current, "current_title": self.current_title, "words": self.words,
                "target_words": self.target, "tokens": self.tokens, "seconds": round(self.seconds, 2),
                "tokens_per_second": None if self.tokens_per_second is None else round(self.tokens_per_second, 2),
                "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
                "resume_from": self.resume_from, "error": self.error, "outline": self.outline,
                "rebalanced": list(self.rebalanced)}


def params_to_dict(params: SamplingParams) -> dict[str, Any]:
    return params.model_dump()


class JobRunner:
    """Owned by the studio: `start()` once (marks stale jobs interrupted, starts the worker), `close()` at exit."""

    def __init__(self, engine: Engine, store: DraftStore, *, max_section_tokens: int | None = None,
                 save_every_s: float = JOB_SAVE_EVERY_S, live_per_user: int = JOBS_LIVE_PER_USER,
                 revisions_keep: int = DEFAULT_KEEP):
        self.engine = engine
        self.store = store
        self.jobs = JobStore(store)
        self.revisions = Revisions(store, keep=revisions_keep)  # a rewritten section's earlier text is kept
        self.max_section_tokens = max_section_tokens  # caps every section's new tokens (quick drafts, tests)
        self.save_every_s = save_every_s
        self.live_per_user = live_per_user
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified on every change of any live job
        self._live: dict[str, _Live] = {}
        self._turns: deque[str] = deque()  # round robin over live job ids
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.yielded = 0  # sections that waited for interactive requests first (shown nowhere; tests read it)

    # -- life cycle ----------------------------------------------------------------------------------------
    def start(self) -> int:
        """Mark the jobs a previous process left running or queued as interrupted; start the worker.
        Returns how many were interrupted."""
        interrupted = self.jobs.interrupt_stale()
        self._thread = threading.Thread(target=self._work, name="studio-jobs", daemon=True)
        self._thread.start()
        return interrupted

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker: the section being written stops within a decode step, and its job (like every
        queued one) is left `interrupted`, resumable after the next start."""
        self._closing.set()
        with self._lock:
            for live in self._live.values():
                if live.state == "running":
                    live.request = "close"
                    live.cancel.set()
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            left = [live for live in self._live.values() if live.state in ("queued", "running")]
        for live in left:
            self._end(live, "interrupted")

    # -- what pages and the API call -------------------------------------------------------------------------
    def start_job(self, *, user: str, brief: Brief, outline: Outline, params: SamplingParams, rewrite: bool = False,
                  doc: str | None = None, rebalance_targets: bool = True) -> JobStatus:
        """Queue a job writing the outline's unlocked sections (empty ones, or all with `rewrite`).

        `rebalance_targets` (the tab's "Keep the total"): after a section that ran over or under its target,
        the sections this job still has to write share the difference (writing/compose/budget.py).

        Refused before anything is queued: over the user's cap of live jobs, nothing to write, or a first
        section whose prompt cannot fit the budget (checked without calling the model)."""
        self._check_room(user)
        order = sections_to_write(outline, rewrite=rewrite)
        if not order:
            raise StudioError("Nothing to write: every section is written or locked. Tick “rewrite written "
                              "sections” to write them again.")
        self._check_prompt(brief, outline, order[0], params)
        draft = DocumentDraft(self.store, user=user, key=doc, session="job", brief=brief, outline=outline,
                              every_s=self.save_every_s)
        spec = {"brief": brief.to_dict(), "params": params_to_dict(params), "order": order, "rewrite": bool(rewrite),
                "doc": draft.key, "title": outline.title, "rebalance": bool(rebalance_targets)}
        progress = self._progress_of(outline, done=[], current=None, partial=False, tokens=0, seconds=0.0,
                                     doc=draft.key)
        job = self.jobs.create(user=user, spec=spec, progress=progress, draft_id=draft.draft_id)
        draft.session = f"job:{job.id}"
        live = _Live(job=job, brief=brief, params=params, outline=outline, order=order, done=[], current=None,
                     partial=False, tokens=0, seconds=0.0, state="queued", draft=draft)
        self._hold(live)
        return self.status(job.id, user=user)

    def status(self, job_id: Any, *, user: str) -> JobStatus:
        job = self.jobs.get(job_id, user=user)  # JobNotFound for a bad id or another user's job
        with self._lock:
            live = self._live.get(job.id)
            if live is not None:
                return self._snapshot(live)
        return self._stored(job)

    def list(self, *, user: str, limit: int = 20) -> list[JobStatus]:
        return [self.status(job.id, user=user) for job in self.jobs.list(user=user, limit=limit)]

    def latest(self, *, user: str, doc: str | None = None) -> JobStatus | None:
        """The user's newest live job (of document `doc`, when given), else their newest resumable one."""
        jobs = self.jobs.list(user=user, limit=50)
        if doc is not None:
            jobs = [job for job in jobs if job.doc == doc or job.spec.get("doc") == doc]
        for wanted in (LIVE, RESUMABLE):
            for job in jobs:
                if job.state in wanted:
                    status = self.status(job.id, user=user)
                    if status.state in LIVE or status.resume_from is not None:
                        return status
        return None

    def pause(self, job_id: Any, *, user: str) -> JobStatus:
        return self._halt(job_id, user, "pause")

    def stop(self, job_id: Any, *, user: str) -> JobStatus:
        return self._halt(job_id, user, "stop")

    def resume(self, job_id: Any, *, user: str) -> JobStatus:
        """A paused, stopped, interrupted or failed job goes on: the partial section first ("continue"),
        then the sections left. A paused job still held is simply queued again."""
        job = self.jobs.get(job_id, user=user)
        with self._lock:
            live = self._live.get(job.id)
            if live is not None and live.state == "paused":
                live.state, live.request = "queued", ""
                live.cancel = threading.Event()
                live.version += 1
                self._changed.notify_all()
                self.jobs.update(job.id, user=user, state="queued")
                return self._snapshot(live)
            if live is not None:
                raise JobStateError(f"the job is already {live.state}")
        if job.state not in RESUMABLE:
            raise JobStateError(f"the job is {job.state}: only a paused, stopped, interrupted or failed job resumes")
        if not remaining(job.order, job.done):
            raise JobStateError("every section of this job is written: nothing to resume")
        self._check_room(user)
        live = self._revive(job)
        self.jobs.update(job.id, user=user, state="queued", error="", only_from=RESUMABLE)
        live.job = self.jobs.get(job.id, user=user)
        self._hold(live)
        return self.status(job.id, user=user)

    def follow(self, job_id: Any, *, user: str, seen: int = -1, timeout: float = 1.0) -> JobStatus:
        """The job's status once its version is past `seen` (or after `timeout` seconds, unchanged)."""
        job = self.jobs.get(job_id, user=user)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                live = self._live.get(job.id)
                if live is None or live.version != seen:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            if live is not None:
                return self._snapshot(live)
        return self.status(job.id, user=user)

    def watch(self, job_id: Any, *, user: str, poll_s: float = 1.0, every_s: float = 0.2) -> Iterator[JobStatus]:
        """The job's changes until it is no longer queued or running (then its final status), at most one
        every `every_s` seconds (a page needs a few updates a second, not one per token)."""
        seen = -1
        while True:
            status = self.follow(job_id, user=user, seen=seen, timeout=poll_s)
            if status.version != seen:
                yield status
            seen = status.version
            if status.state not in ("queued", "running") or self._closing.is_set():
                return
            self._closing.wait(every_s)

    # -- admission ---------------------------------------------------------------------------------------------
    def _check_room(self, user: str) -> None:
        if self.jobs.live_count(user=user) >= self.live_per_user:
            raise JobLimitError(f"You already have {self.live_per_user} document job(s) queued, running or paused: "
                                f"stop one, or wait for one to finish, before starting another.")

    def _check_prompt(self, brief: Brief, outline: Outline, index: int, params: SamplingParams) -> None:
        """Build the first section's prompt exactly as the job will (write_section), without the model: its
        size and token budget are refused now, not minutes later in the worker."""
        def dry(messages: Messages, _params: SamplingParams) -> Iterator[tuple[str, GenerationStats]]:
            raise _DryRun

        try:
            next(iter(write_section(dry, brief, outline, index, params, context=self.engine.context,
                                    count_tokens=self.engine.count_tokens,
                                    max_section_tokens=self.max_section_tokens)))
        except _DryRun:
            return

    # -- the worker ------------------------------------------------------------------------------------------
    def _hold(self, live: _Live) -> None:
        with self._lock:
            self._live[live.job.id] = live
            if live.job.id not in self._turns:
                # Just before the job served last (the deque's end after _next's rotation): a new job waits for
                # those already waiting, but not for another section of the one just written.
                self._turns.insert(max(0, len(self._turns) - 1), live.job.id)
            live.version += 1
            self._changed.notify_all()

    def _next(self) -> _Live | None:
        """The next queued/running job in round-robin order (it goes to the back of the line)."""
        with self._lock:
            for _ in range(len(self._turns)):
                job_id = self._turns[0]
                self._turns.rotate(-1)
                live = self._live.get(job_id)
                if live is not None and live.state in ("queued", "running"):
                    return live
            self._changed.wait(_IDLE_WAIT_S)
            return None

    def _work(self) -> None:
        while not self._closing.is_set():
            live = self._next()
            if live is None:
                continue
            self._let_interactive_first()
            if self._closing.is_set():
                return
            try:
                self._write_one(live)
            except StudioError as exc:
                self._end(live, "error", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - one job's failure must not end the worker
                self._end(live, "error", error=f"{type(exc).__name__}: {exc}")

    def _let_interactive_first(self) -> None:
        """Wait while the model computes for someone or has requests waiting: a section starts only on an
        idle engine, so an interactive request waits at most for the section already being written."""
        waited = False
        while not self._closing.is_set() and (getattr(self.engine, "busy", False)
                                              or getattr(self.engine, "waiting", 0)):
            waited = True
            self._closing.wait(_YIELD_POLL_S)
        if waited:
            self.yielded += 1

    def _write_one(self, live: _Live) -> None:
        left = remaining(live.order, live.done)
        if not left:
            self._end(live, "done")
            return
        index = left[0]
        mode = "continue" if live.current == index and live.partial else "write"
        with self._lock:
            if live.state not in ("queued", "running"):  # paused or stopped while it waited for its turn
                return
            live.state, live.current, live.text, live.stats = "running", index, "", None
            if mode == "write":
                live.partial = False
            cancel = live.cancel
            live.version += 1
            self._changed.notify_all()
        self._save(live, state="running", force=True)
        if mode == "write":
            self._keep_earlier_text(live, index)
        stream = engine_streamer(self.engine, cancel)
        started = time.perf_counter()
        last = None
        for last in write_section(stream, live.brief, live.outline, index, live.params, mode=mode,
                                  context=self.engine.context, count_tokens=self.engine.count_tokens,
                                  max_section_tokens=self.max_section_tokens):
            with self._lock:
                live.outline, live.text, live.stats = last.outline, last.text, last.stats
                # "continue" keeps the partial text it extends; "write" holds text of its own once a word came.
                live.partial = (live.partial or bool(last.text.strip())) if mode == "continue" \
                    else bool(last.text.strip())
                live.version += 1
                self._changed.notify_all()
            if not last.finished:
                self._save(live)
        if last is None:
            return
        tokens = last.stats.new_tokens if last.stats is not None else 0
        with self._lock:
            live.tokens += tokens
            live.seconds += time.perf_counter() - started
            live.stats = None
            if not last.stopped:
                live.done.append(index)
                live.current, live.partial, live.text = None, False, ""
                if live.job.spec.get("rebalance", True):
                    change = rebalance(live.outline, index, pending=remaining(live.order, live.done))
                    if change is not None:  # before the next section's prompt quotes the plan
                        live.outline = change.outline
                        live.rebalanced.append(change.describe())
            request = live.request
            live.version += 1
            self._changed.notify_all()
        if last.stopped:
            self._end(live, {"pause": "paused", "stop": "stopped"}.get(request, "interrupted"))
        elif not remaining(live.order, live.done):
            self._end(live, "done")
        else:
            self._save(live, force=True)

    def _keep_earlier_text(self, live: _Live, index: int) -> None:
        """A section rewritten by the job (“rewrite written sections”): its text so far becomes a revision of
        the document (writing/library/revisions.py), as a Regenerate in the page keeps it. Never raises."""
        text = live.outline.sections[index].text
        if not text.strip():
            return
        try:
            if live.draft.draft_id is None:
                live.draft.update(live.outline, force=True)
            if live.draft.draft_id is not None:
                self.revisions.record(user=live.job.user, draft_id=live.draft.draft_id,
                                      part=section_part(live.outline, index), content=text, cause="regenerate")
        except StudioError as exc:  # a full disk: the writing goes on, the page shows it
            live.error = f"could not keep the earlier text of section {index + 1}: {exc}"

    # -- saving ---------------------------------------------------------------------------------------------
    def _progress_of(self, outline: Outline, *, done: list[int], current: int | None, partial: bool, tokens: int,
                     seconds: float, doc: str, rebalanced: list[str] = ()) -> dict[str, Any]:
        return {"outline": outline.to_dict(), "done": list(done), "current": current, "partial": partial,
                "tokens": tokens, "seconds": round(seconds, 3), "doc": doc, "rebalanced": list(rebalanced)}

    def _save(self, live: _Live, *, state: str | None = None, force: bool = False, error: str | None = None) -> None:
        """Progress into the job's row and the document into its draft: every save_every_s, or now (`force`)."""
        now = time.monotonic()
        if not force and now - live.saved_at < self.save_every_s:
            return
        live.saved_at = now
        with self._lock:
            stats = live.stats
            tokens = live.tokens + (stats.new_tokens if stats is not None else 0)
            seconds = live.seconds + (time.perf_counter() - stats.started_at
                                      if stats is not None and stats.started_at is not None else 0.0)
            outline, done, current, partial = live.outline, list(live.done), live.current, live.partial
            rebalanced = list(live.rebalanced)
        live.draft.update(outline, force=True)  # a Library edit since is kept: the draft forks (DocumentDraft)
        progress = self._progress_of(outline, done=done, current=current, partial=partial, tokens=tokens,
                                     seconds=seconds, doc=live.draft.key, rebalanced=rebalanced)
        try:
            live.job = self.jobs.update(live.job.id, user=live.job.user, state=state, progress=progress,
                                        draft_id=live.draft.draft_id, error=error)
        except StudioError as exc:  # a full disk: the writing goes on, the page shows it
            live.error = f"could not save the job's progress: {exc}"

    def _end(self, live: _Live, state: str, *, error: str = "") -> None:
        """The job stops being held: done, paused (kept in memory, resumable), stopped, interrupted or error."""
        # Saved first, shown after: whoever sees the new state finds the row and the draft already saved.
        self._save(live, state=state, force=True, error=error or None)
        live.draft.finish(live.outline, {"done": "done", "error": "error"}.get(state, "stopped"))
        with self._lock:
            live.state = state
            live.error = error or live.error
            live.version += 1
            self._changed.notify_all()
        if state != "paused":  # a paused job stays held (Resume queues it again); the others are let go
            with self._lock:
                self._live.pop(live.job.id, None)
                if live.job.id in self._turns:
                    self._turns.remove(live.job.id)
                live.version += 1
                self._changed.notify_all()

    def _halt(self, job_id: Any, user: str, request: str) -> JobStatus:
        job = self.jobs.get(job_id, user=user)
        target = "paused" if request == "pause" else "stopped"
        with self._lock:
            live = self._live.get(job.id)
            if live is not None and live.state == "running":
                live.request = request
                live.cancel.set()  # the section ends within a decode step; the worker saves it and ends the job
                action = "worker"
            elif live is not None and live.state == target:
                action = "none"
            elif live is not None:  # queued or paused: nothing computes. Set now, so the worker starts nothing.
                live.state = target
                action = "end"
            else:
                action = "stored"
        if action == "end":
            self._end(live, target)
        if action != "stored":
            return self.status(job.id, user=user)
        if request == "stop" and job.state in ("paused", "interrupted", "error"):
            self.jobs.update(job.id, user=user, state="stopped")
            return self.status(job.id, user=user)
        raise JobStateError(f"the job is {job.state}: there is nothing to {request}")

    # -- views -----------------------------------------------------------------------------------------------
    def _revive(self, job: Job) -> _Live:
        """A stored job back in memory, to resume it: its outline with every text written so far."""
        try:
            brief = brief_from_dict(job.spec.get("brief"))
            params = make_params(job.spec.get("params") or {})
            outline = Outline.from_dict(job.progress.get("outline"))
        except StudioError as exc:
            raise StudioError(f"this job cannot be resumed: its saved state is unreadable ({exc})") from None
        current = job.progress.get("current")
        current = current if isinstance(current, int) and not isinstance(current, bool) else None
        draft = DocumentDraft(self.store, user=job.user, key=job.doc, session=f"job:{job.id}", brief=brief,
                              outline=outline, every_s=self.save_every_s)
        return _Live(job=job, brief=brief, params=params, outline=outline, order=job.order, done=job.done,
                     current=current, partial=bool(job.progress.get("partial")) and current is not None,
                     tokens=int(job.progress.get("tokens") or 0), seconds=float(job.progress.get("seconds") or 0.0),
                     state="queued", draft=draft, rebalanced=_lines(job.progress.get("rebalanced")))

    def _snapshot(self, live: _Live) -> JobStatus:
        """Under self._lock."""
        stats = live.stats
        tokens = live.tokens + (stats.new_tokens if stats is not None else 0)
        seconds = live.seconds + (time.perf_counter() - stats.started_at
                                  if stats is not None and stats.started_at is not None else 0.0)
        return self._status(live.job, state=live.state, outline=live.outline, order=live.order, done=live.done,
                            current=live.current, text=live.text, tokens=tokens, seconds=seconds,
                            measured=(live.tokens, live.seconds), running_tokens=tokens - live.tokens,
                            error=live.error, version=live.version, stats=stats, brief=live.brief,
                            draft_id=live.draft.draft_id, doc=live.draft.key, rebalanced=tuple(live.rebalanced))

    def _stored(self, job: Job) -> JobStatus:
        try:
            outline = Outline.from_dict(job.progress.get("outline"))
            brief: Brief | None = brief_from_dict(job.spec.get("brief"))
        except StudioError:
            outline, brief = Outline(title=str(job.spec.get("title") or ""), sections=()), None
        current = job.progress.get("current")
        current = current if isinstance(current, int) and not isinstance(current, bool) else None
        tokens, seconds = int(job.progress.get("tokens") or 0), float(job.progress.get("seconds") or 0.0)
        text = outline.sections[current].text if current is not None and current < len(outline.sections) else ""
        return self._status(job, state=job.state, outline=outline, order=job.order, done=job.done, current=current,
                            text=text, tokens=tokens, seconds=seconds, measured=(tokens, seconds), running_tokens=0,
                            error=job.error, version=-2, stats=None, brief=brief, draft_id=job.draft_id, doc=job.doc,
                            rebalanced=tuple(_lines(job.progress.get("rebalanced"))))

    def _status(self, job: Job, *, state: str, outline: Outline, order: list[int], done: list[int],
                current: int | None, text: str, tokens: int, seconds: float, measured: tuple[int, float],
                running_tokens: int, error: str, version: int, stats: GenerationStats | None, brief: Brief | None,
                draft_id: str | None, doc: str | None, rebalanced: tuple[str, ...] = ()) -> JobStatus:
        finished = len([i for i in order if i in set(done)])
        speed = eta = None
        measured_tokens, measured_seconds = measured
        if finished and measured_tokens > 0 and measured_seconds > 0:  # known once a section of this job ended
            speed = tokens / seconds if seconds > 0 else measured_tokens / measured_seconds
            eta = self._remaining_tokens(brief, outline, remaining(order, done), running_tokens) / speed
        left = remaining(order, done)
        resume_from = left[0] + 1 if left and state in RESUMABLE else None
        valid = current is not None and 0 <= current < len(outline.sections)
        document = report(outline)
        return JobStatus(
            id=job.id, state=state, title=outline.title, doc=doc, draft_id=draft_id, sections_total=len(order),
            sections_done=finished, current=current + 1 if valid else None,
            current_title=outline.sections[current].title if valid else "", text=text, words=document.words,
            target=document.target, tokens=tokens, seconds=seconds, tokens_per_second=speed, eta_seconds=eta,
            resume_from=resume_from, error=error, outline=outline.to_dict(), version=version, stats=stats,
            rebalanced=rebalanced)

    def _remaining_tokens(self, brief: Brief | None, outline: Outline, left: list[int], running_tokens: int) -> float:
        """New tokens the sections left will take, as the job sizes them (word target, capped)."""
        per_word = tokens_per_word(brief) if brief is not None else 1.4
        total = 0.0
        for index in left:
            if not 0 <= index < len(outline.sections):
                continue
            target = outline.sections[index].target
            expected = target * per_word
            cap = section_max_new_tokens(brief, target) if brief is not None else math.inf
            if self.max_section_tokens is not None:
                cap = min(cap, self.max_section_tokens)
            total += min(expected, cap)
        return max(0.0, total - running_tokens)


__all__ = ["JobLimitError", "JobNotFound", "JobRunner", "JobStateError", "JobStatus", "params_to_dict"]


def _lines(value: Any) -> list[str]:
    """The rebalance lines saved in a job's progress (text only; anything else in an old row is dropped)."""
    return [line for line in value if isinstance(line, str)] if isinstance(value, list) else []
