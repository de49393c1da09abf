"""Per-session Stop: one cancel Event per browser session, set by that session's Stop button.

Gradio's `cancels=` stops the event loop's task but not a thread we started, so every
generating handler takes an Event from here and the Stop handler sets it. Events are keyed
by `gr.Request.session_hash`; nothing is shared between sessions.
"""

from __future__ import annotations

import threading


class SessionRuns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def start(self, session: str) -> threading.Event:
        """A fresh cancel event for this session's next run (a previous one is stopped)."""
        event = threading.Event()
        with self._lock:
            previous = self._events.get(session)
            self._events[session] = event
        if previous is not None:
            previous.set()
        return event

    def stop(self, session: str) -> bool:
        """Stop this session's run; harmless when nothing runs. True if a run was signalled."""
        with self._lock:
            event = self._events.pop(session, None)
        if event is None:
            return False
        event.set()
        return True

    def finish(self, session: str, event: threading.Event) -> None:
        with self._lock:
            if self._events.get(session) is event:
                del self._events[session]

    def running(self) -> int:
        with self._lock:
            return len(self._events)
