"""UIContext: everything a tab may use, passed in explicitly (no globals).

Built once by studio.py (or a test), handed to `build_app`, which gives every tab the same one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from writing.engines.base import Engine, GenerationStats
from writing.library.presets import PresetStore
from writing.library.revisions import DEFAULT_KEEP
from writing.ui.openers import Openers
from writing.ui.runs import SessionRuns


def _local_user(request: gr.Request | None) -> str:
    return (getattr(request, "username", None) if request is not None else None) or "local"


@dataclass
class UIContext:
    engine: Engine
    runs: SessionRuns = field(default_factory=SessionRuns)
    presets: PresetStore = field(default_factory=PresetStore)
    store: Any = None  # writing.library.store.DraftStore | None (drafts library; None = no autosave)
    user_of: Callable[[gr.Request | None], str] = _local_user
    last_stats: GenerationStats | None = None  # the last finished run, for the status line
    store_problem: str = ""  # why `store` is None (e.g. read-only data folder), shown in the Library tab
    limiter: Any = None  # access.ratelimit.RateLimiter | None: per-user requests per window (ui/guard.py)
    jobs: Any = None  # writing.workspace.jobs.JobRunner | None: background document jobs (needs `store`)
    revisions_keep: int = DEFAULT_KEEP  # earlier texts kept per draft part (--revisions-keep; library/revisions.py)
    banner: str = ""  # a warning shown above the tabs, e.g. a public share link without a login
    # Set by build_app for the app being built: the tab strip, and how each draft kind reopens in its tab.
    tabs: gr.Tabs | None = None
    openers: Openers = field(default_factory=Openers)
