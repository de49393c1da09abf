"""Make a model's calls slow on purpose, so a test can act while a run is surely still going."""

from __future__ import annotations

import time


class SlowSteps:
    """A forward hook that makes every model call (prefill and each decode step) take `seconds` more.

    Not a sleep used as synchronisation: it stretches the work under test (a section, a run) so that
    a Pause or Stop sent after seeing its first text still lands inside it on a loaded machine.
    """

    def __init__(self, model, seconds: float):
        self.seconds = seconds
        self.calls = 0
        self.handle = model.register_forward_hook(self)

    def __call__(self, module, args, output):
        self.calls += 1
        time.sleep(self.seconds)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()
