"""Background document jobs in the UI: progress lines, following a job from a page, the Library's
progress column, and the job API for gradio_client.

The studio owns one JobRunner (writing/workspace/jobs.py; `ctx.jobs`, created by studio.py). A page
never generates for a job: it asks for the job's status every FOLLOW_EVERY_S while the job is live
(`changed_status`: the job's row and the runner's memory), so a page closed mid-job stops nothing, and a page
that opens the document again sees the same text, with no work done twice. Without a drafts database
there is no runner (`ctx.jobs` None) and the Long-form tab writes in the page as before.

API (gr.api, private to the logged-in user: another user's job is "no job"):
    /job_start(brief: dict, outline: dict, rewrite=False, preset="", doc="") -> status
    /job_status(job_id) -> status        /job_list() -> [status, ...] (newest first, without outlines)
    /job_pause(job_id) -> status         /job_stop(job_id) -> status        /job_resume(job_id) -> status
status: {"id", "state" (queued|running|paused|stopped|done|error|interrupted), "title", "doc", "draft_id",
"sections_total", "sections_done", "current_section" (1-based|null), "current_title", "words",
"target_words", "tokens", "seconds", "tokens_per_second" (null until a section of this job ended),
"eta_seconds" (null until known), "resume_from" (1-based|null), "error", "outline" (texts so far)}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.longform import brief_from_dict
from writing.compose.outline import Outline
from writing.errors import StudioError
from writing.ui.autosave import user_of
from writing.ui.guard import admitted
from writing.workspace.jobs import JobRunner, JobStatus

if TYPE_CHECKING:
    from writing.ui.context import UIContext

NO_RUNNER = ("Background jobs need the drafts database, and it is not available here (see the Library tab): "
             "nothing was started.")
FOLLOW_QUEUE = "job-follow"  # the job API: no model work, so not in the model's queue
# A page follows a job by asking for its status on a timer (gr.Timer, queue=False: a plain request each time),
# never by a streaming event chained after another: gradio's browser client can lose every update of such an
# event (it closes the page's event stream just as the event starts; CI saw the job meter freeze twice, and
# tests/test_browser_late_close.py made it happen on every try). A poll holds no queue slot and no thread.
FOLLOW_EVERY_S = 0.5


def runner_of(ctx: UIContext) -> JobRunner | None:
    return getattr(ctx, "jobs", None)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def progress_line(status: JobStatus) -> str:
    """One line for the tab and the Library: sections done / total, words vs target, speed and ETA once known."""
    head = {
        "queued": "Queued: waiting for the model",
        "running": f"Writing section {status.current} “{status.current_title}”" if status.current else "Writing",
        "paused": "Paused",
        "stopped": "Stopped",
        "done": "Done",
        "error": f"Failed: {status.error}",
        "interrupted": "Interrupted (the studio stopped)",
    }.get(status.state, status.state)
    parts = [head, f"**{status.sections_done}/{status.sections_total}** sections",
             f"{status.words:,} of {status.target:,} words"]
    if status.tokens_per_second:
        parts.append(f"{status.tokens_per_second:.1f} tok/s in this job")
    if status.eta_seconds is not None and status.state in ("queued", "running"):
        parts.append(f"about {duration(status.eta_seconds)} left")
    if status.resume_from is not None:
        parts.append(f"**Resume from section {status.resume_from}**")
    if status.rebalanced:  # the newest move of the word budgets (every one is in the API's status)
        parts.append(status.rebalanced[-1])
    return " · ".join(parts)


def library_progress(ctx: UIContext, user: str) -> dict[str, str]:
    """draft id -> progress line, for the Library list's status column (the user's unfinished jobs)."""
    runner = runner_of(ctx)
    if runner is None:
        return {}
    try:
        statuses = runner.list(user=user, limit=20)
    except StudioError:
        return {}
    found: dict[str, str] = {}
    for status in statuses:  # newest first: a document's newest job wins
        if status.draft_id and status.draft_id not in found and (status.live or status.resume_from is not None):
            found[status.draft_id] = progress_line(status).replace("**", "")
    return found


def shown_key(status: JobStatus) -> str:
    """What a page shows of a job, as one string: a new key means there is something new to show."""
    return f"{status.id}:{status.version}:{status.state}"


def changed_status(ctx: UIContext, job_id: str | None, shown: str | None, request: gr.Request | None
                   ) -> JobStatus | None:
    """The job's status if it changed since the page showed `shown` (a `shown_key`), else None. `runner.status`:
    the job's row (whose it is: one indexed SQLite read) and the runner's memory while the job is held; a page
    asks every FOLLOW_EVERY_S while the job is live. Raises StudioError for a job that is not the user's."""
    runner = runner_of(ctx)
    if runner is None or not job_id:
        return None
    status = runner.status(job_id, user=user_of(ctx, request))
    return None if shown_key(status) == shown else status


# ---------------------------------------------------------------------------------------------------------
# The API

def _checked(call: Any) -> Any:
    try:
        return call()
    except StudioError as exc:
        raise gr.Error(str(exc), title="Writing Studio") from None


def _runner(ctx: UIContext) -> JobRunner:
    runner = runner_of(ctx)
    if runner is None:
        raise gr.Error(NO_RUNNER, title="Writing Studio")
    return runner


def _public(status: JobStatus, *, outline: bool = True) -> dict[str, Any]:
    data = status.to_dict()
    if not outline:
        del data["outline"]
    return data


class JobApi:
    """The job endpoints; `params_for(preset, request)` is the tab's preset lookup (presets are per user)."""

    def __init__(self, ctx: UIContext, params_for: Any):
        self.ctx = ctx
        self.params_for = params_for

    def register(self) -> None:
        """Call inside the Long-form tab (gr.Tabs accepts only Tab children)."""
        for fn, name in ((self.job_start, "job_start"), (self.job_status, "job_status"), (self.job_list, "job_list"),
                         (self.job_pause, "job_pause"), (self.job_stop, "job_stop"),
                         (self.job_resume, "job_resume")):
            gr.api(fn, api_name=name, concurrency_id=FOLLOW_QUEUE, concurrency_limit=None)

    def job_start(self, brief: dict, outline: dict, request: gr.Request, rewrite: bool = False, preset: str = "",
                  doc: str = "", keep_total: bool = True) -> dict:
        """Start writing the outline's unlocked sections (empty ones; all of them with rewrite) as a background
        job of the logged-in user: it goes on when the client disconnects. `doc` (optional) is the key of a
        document written before (a status's "doc"), to write on into the same long-form draft. Refused first
        by the rate limit, then the outline's size caps, then the per-user cap of live jobs. Returns the
        job's status (see the module docstring). `keep_total` (default true): after a section that ran over or
        under its target, the sections still to write share the difference (the status's "rebalanced")."""
        admitted(self.ctx, request)  # the rate limit first, then the sizes, then any work
        runner = _runner(self.ctx)

        def start() -> dict:
            parsed_brief, plan = brief_from_dict(brief), Outline.from_dict(outline)
            if not isinstance(rewrite, bool):
                raise StudioError(f"rewrite: expected true or false, got {rewrite!r}")
            if not isinstance(keep_total, bool):
                raise StudioError(f"keep_total: expected true or false, got {keep_total!r}")
            if not isinstance(doc, str) or len(doc) > 64:
                raise StudioError("doc: expected a document key (the \"doc\" of a job's status), or \"\"")
            params = self.params_for(preset, request)
            return _public(runner.start_job(user=user_of(self.ctx, request), brief=parsed_brief, outline=plan,
                                            params=params, rewrite=rewrite, doc=doc or None,
                                            rebalance_targets=keep_total))
        return _checked(start)

    def job_status(self, job_id: str, request: gr.Request) -> dict:
        """The status of one of your jobs (another user's job is "no job")."""
        runner = _runner(self.ctx)
        return _checked(lambda: _public(runner.status(job_id, user=user_of(self.ctx, request))))

    def job_list(self, request: gr.Request) -> list:
        """Your jobs, newest first (statuses without the outline)."""
        runner = _runner(self.ctx)
        return _checked(lambda: [_public(s, outline=False) for s in runner.list(user=user_of(self.ctx, request))])

    def job_pause(self, job_id: str, request: gr.Request) -> dict:
        """Pause a job: the section being written stops within a decode step, its text kept; job_resume goes on."""
        runner = _runner(self.ctx)
        return _checked(lambda: _public(runner.pause(job_id, user=user_of(self.ctx, request))))

    def job_stop(self, job_id: str, request: gr.Request) -> dict:
        """Stop a job: as pause, and the job ends (job_resume can still go on from where it stopped)."""
        runner = _runner(self.ctx)
        return _checked(lambda: _public(runner.stop(job_id, user=user_of(self.ctx, request))))

    def job_resume(self, job_id: str, request: gr.Request) -> dict:
        """Resume a paused, stopped, interrupted (studio restarted) or failed job: the partial section is
        continued, then the sections left are written; finished sections are never written again."""
        admitted(self.ctx, request)
        runner = _runner(self.ctx)
        return _checked(lambda: _public(runner.resume(job_id, user=user_of(self.ctx, request))))
