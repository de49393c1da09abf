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


class LoginThrottled(BusyError):
    """Too many failed logins for this user or from this address; `.retry_after_s` says for how long."""

    def __init__(self, message: str, retry_after_s: float):
        self.retry_after_s = retry_after_s
        super().__init__(message)


class LoginThrottle:
    """Failed logins per user name and per client address: `max_failures` within `window_s` seconds
    lock that user (or address) out for `lockout_s` seconds, the right password included (a locked
    attempt is refused before the password is even compared, so guessing cannot go on). A success
    clears the user's failures, never the address's: one valid account must not let an address keep
    spraying other users' passwords. Addresses get a higher limit because several people (an office,
    a school behind one NAT) share one.
    """

    def __init__(self, *, max_failures: int = 5, max_address_failures: int = 10, window_s: float = 300.0,
                 lockout_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        if min(max_failures, max_address_failures) < 1 or window_s <= 0 or lockout_s <= 0:
            raise ValueError("login throttle needs limits >= 1 and positive windows")
        self.max_failures = max_failures
        self.max_address_failures = max_address_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._locked_until: dict[tuple[str, str], float] = {}

    def check(self, user: str, address: str) -> None:
        """Raise LoginThrottled if this user or this address is locked out."""
        now = self._clock()
        with self._lock:
            until = max(self._locked_until.get(("user", user), 0.0), self._locked_until.get(("addr", address), 0.0))
        if until > now:
            wait = until - now
            raise LoginThrottled(
                f"Too many failed logins: this account or address is locked for {wait:.0f} more second(s) "
                f"(after {self.max_failures} failures for one user or {self.max_address_failures} from one "
                f"address within {self.window_s / 60:g} minutes). Try again later.",
                retry_after_s=wait,
            )

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key, limit in ((("user", user), self.max_failures), (("addr", address), self.max_address_failures)):
                recent = self._failures.setdefault(key, deque())
                while recent and now - recent[0] >= self.window_s:
                    recent.popleft()
                recent.append(now)
                if len(recent) >= limit:
                    self._locked_until[key] = now + self.lockout_s
                    recent.clear()
            if len(self._failures) + len(self._locked_until) > 20_000:  # bounded memory under a name spray
                self._forget_idle(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(("user", user), None)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, r in self._failures.items() if not r or now - r[-1] >= self.window_s]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]
