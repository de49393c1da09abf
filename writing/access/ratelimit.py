"""Per-user request rate limit: at most `limit` generation requests per `window_s` seconds."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from writing.errors import BusyError


class RateLimiter:
    def __init__(self, *, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        if limit < 1 or window_s <= 0:
            raise ValueError("rate limit needs limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}

    def check(self, user: str) -> None:
        """Record one request for `user`, or raise BusyError saying when to try again."""
        now = self._clock()
        with self._lock:
            recent = self._recent.setdefault(user, deque())
            while recent and now - recent[0] >= self.window_s:
                recent.popleft()
            if len(recent) >= self.limit:
                wait = self.window_s - (now - recent[0])
                raise BusyError(
                    f"Too many requests: at most {self.limit} every {self.window_s:g} s. "
                    f"Try again in {wait:.0f} s."
                )
            recent.append(now)
            if len(self._recent) > 10_000:  # forget idle users so memory stays bounded
                self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for user in [u for u, r in self._recent.items() if not r or now - r[-1] >= self.window_s]:
            del self._recent[user]
