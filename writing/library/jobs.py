"""Background document jobs as rows of the drafts database (the `jobs` table of schema v3).

A job is "write these sections of this outline" run by the studio, not by a page
(writing/workspace/jobs.py runs it). Its row holds what is needed to carry on after a restart:

- spec (JSON, fixed at start): the brief, the sampling values, the sections to write in order,
  the document's key (the long-form draft it writes into) and the title;
- progress (JSON, rewritten as it goes): the outline with every text written so far, which
  sections are finished (`done`), the section being written (`current`) and whether it already
  holds text from this job (`partial`: resume continues it instead of starting it again), and the
  tokens and seconds this job has measured (its own speed, for the ETA).

States: queued -> running -> done | error | stopped | paused; paused/stopped/interrupted/error ->
queued again on Resume. A studio killed mid-run leaves `running`/`queued` rows: the next start marks
them `interrupted` (`interrupt_stale`), and the writer resumes them.

Every call takes `user`: another user's job is indistinguishable from a missing one (JobNotFound).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from writing.compose.limits import JOBS_KEPT_PER_USER
from writing.errors import StudioError
from writing.library.store import DraftStore, StorageError, _meta_json

STATES = ("queued", "running", "paused", "stopped", "done", "error", "interrupted")
LIVE = ("queued", "running", "paused")  # counted against the per-user cap; the runner holds them
RESUMABLE = ("paused", "stopped", "interrupted", "error")
ENDED = ("stopped", "done", "error", "interrupted")
_ID_LENGTH = 32  # uuid4().hex
_HEX = frozenset("0123456789abcdef")


class JobNotFound(StudioError, KeyError):
    """No such job for this user (another user's job looks exactly like a missing one)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "job not found"


class JobStateError(StudioError):
    """The job cannot do that in its state (resume a finished job, pause a stopped one...)."""


def check_job_id(job_id: Any) -> str:
    """A job id as the studio makes them (32 lowercase hex digits), else JobNotFound saying why."""
    if not isinstance(job_id, str):
        raise JobNotFound(f"a job id is text (32 hex digits), got {type(job_id).__name__} {job_id!r}"[:200])
    cleaned = job_id.strip()
    if len(cleaned) != _ID_LENGTH or not set(cleaned) <= _HEX:
        shown = cleaned if len(cleaned) <= 40 else cleaned[:40] + "…"
        raise JobNotFound(f"no job {shown!r}: a job id is 32 hex digits (job_start and job_list give them)")
    return cleaned


def _check_state(state: str) -> str:
    if state not in STATES:
        raise StudioError(f"unknown job state {state!r} (expected one of: {', '.join(STATES)})")
    return state


@dataclass(frozen=True)
class Job:
    id: str
    user: str
    draft_id: str | None
    state: str
    spec: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    created: float = 0.0
    updated: float = 0.0

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def doc(self) -> str | None:
        """The document's key (meta["doc"] of its long-form draft); progress has the newer one when the
        document was edited elsewhere and the job went on in a new draft."""
        key = self.progress.get("doc") or self.spec.get("doc")
        return key if isinstance(key, str) else None

    @property
    def order(self) -> list[int]:
        return [i for i in self.spec.get("order", []) if isinstance(i, int)]

    @property
    def done(self) -> list[int]:
        return [i for i in self.progress.get("done", []) if isinstance(i, int)]

    def resume_from(self) -> int | None:
        """The 0-based section a resume starts at (the partial one first), None when nothing is left."""
        left = remaining(self.order, self.done)
        return left[0] if left else None


def remaining(order: list[int], done: list[int]) -> list[int]:
    """The sections of `order` not finished yet, in order."""
    finished = set(done)
    return [i for i in order if i not in finished]


_COLUMNS = "id, user, draft_id, state, spec, progress, error, created, updated"


def _job(row: tuple) -> Job:
    def load(text: str) -> dict[str, Any]:
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            value = {}
        return value if isinstance(value, dict) else {}

    return Job(id=row[0], user=row[1], draft_id=row[2], state=row[3], spec=load(row[4]), progress=load(row[5]),
               error=row[6] or "", created=row[7], updated=row[8])


class JobStore:
    """The jobs table over a DraftStore's connection (its lock, its transactions, its error handling)."""

    def __init__(self, store: DraftStore):
        self.store = store

    def create(self, *, user: str, spec: dict[str, Any], progress: dict[str, Any], draft_id: str | None = None,
               state: str = "queued") -> Job:
        _user(user)
        _check_state(state)
        spec_json, progress_json = _meta_json(spec), _meta_json(progress)  # JSON data, bounded like a draft's meta
        job_id = uuid.uuid4().hex
        now = time.time()
        with self.store.transaction() as conn:
            conn.execute(f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?)",
                         (job_id, user, draft_id, state, spec_json, progress_json, now, now))
            self._prune(conn, user)
        return self.get(job_id, user=user)

    def get(self, job_id: Any, *, user: str) -> Job:
        _user(user)
        job_id = check_job_id(job_id)
        rows = self.store.read(f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND user = ?", (job_id, user))
        if not rows:
            raise JobNotFound(f"no job {job_id!r}")
        return _job(rows[0])

    def list(self, *, user: str, limit: int = 50, states: tuple[str, ...] | None = None) -> list[Job]:
        """`user`'s jobs, newest first (optionally only in `states`)."""
        _user(user)
        where, args = "user = ?", [user]
        if states:
            where += f" AND state IN ({', '.join('?' for _ in states)})"
            args += [_check_state(s) for s in states]
        rows = self.store.read(f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY updated DESC, rowid DESC "
                               f"LIMIT ?", (*args, max(1, int(limit))))
        return [_job(row) for row in rows]

    def live_count(self, *, user: str) -> int:
        _user(user)
        marks = ", ".join("?" for _ in LIVE)
        return int(self.store.read(f"SELECT COUNT(*) FROM jobs WHERE user = ? AND state IN ({marks})",
                                   (user, *LIVE))[0][0])

    def update(self, job_id: str, *, user: str, state: str | None = None, progress: dict[str, Any] | None = None,
               draft_id: str | None = None, error: str | None = None, only_from: tuple[str, ...] | None = None
               ) -> Job:
        """Change some columns in one transaction. `only_from`: refuse (JobStateError) unless the job is in
        one of these states, checked under the write lock (two Resume clicks start one run)."""
        _user(user)
        job_id = check_job_id(job_id)
        sets, args = ["updated = ?"], [time.time()]
        if state is not None:
            sets.append("state = ?")
            args.append(_check_state(state))
        if progress is not None:
            sets.append("progress = ?")
            args.append(_meta_json(progress))
        if draft_id is not None:
            sets.append("draft_id = ?")
            args.append(draft_id)
        if error is not None:
            sets.append("error = ?")
            args.append(error[:2000])
        with self.store.transaction() as conn:
            row = conn.execute("SELECT state FROM jobs WHERE id = ? AND user = ?", (job_id, user)).fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id!r}")
            if only_from is not None and row[0] not in only_from:
                raise JobStateError(f"the job is {row[0]}: only a job that is {' or '.join(only_from)} can do that")
            conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ? AND user = ?", (*args, job_id, user))
        return self.get(job_id, user=user)

    def interrupt_stale(self) -> int:
        """On start-up, for every user: jobs a previous process left running or queued are `interrupted`
        (their finished sections and the partial one are in their progress); returns how many."""
        with self.store.transaction() as conn:
            cur = conn.execute("UPDATE jobs SET state = 'interrupted', updated = ? WHERE state IN ('running', "
                               "'queued')", (time.time(),))
            return cur.rowcount

    def runnable(self) -> list[Job]:
        """Every user's queued or running jobs, oldest first (the runner's work list)."""
        rows = self.store.read(f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') "
                               f"ORDER BY created, rowid")
        return [_job(row) for row in rows]

    def _prune(self, conn: Any, user: str) -> None:
        """Keep the newest JOBS_KEPT_PER_USER ended jobs of a user: each holds a copy of its outline."""
        marks = ", ".join("?" for _ in ENDED)
        conn.execute(f"DELETE FROM jobs WHERE user = ? AND state IN ({marks}) AND id NOT IN (SELECT id FROM jobs "
                     f"WHERE user = ? AND state IN ({marks}) ORDER BY updated DESC LIMIT ?)",
                     (user, *ENDED, user, *ENDED, JOBS_KEPT_PER_USER))


def _user(user: str) -> str:
    if not isinstance(user, str) or not user:
        raise StudioError("a job needs a user (the logged-in name, or 'local')")
    return user


__all__ = ["ENDED", "LIVE", "RESUMABLE", "STATES", "Job", "JobNotFound", "JobStateError", "JobStore",
           "StorageError", "check_job_id", "remaining"]
