"""Errors a writer can read. Each message says what went wrong and what to do about it."""


class StudioError(Exception):
    """Base for every error the studio shows to a user as text (never as a traceback)."""


class ParamError(StudioError, ValueError):
    """A sampling or brief value is missing, not a number, not finite or out of range."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class BudgetError(StudioError):
    """Prompt plus requested new tokens do not fit the context budget. Never truncated silently."""


class EmptyPromptError(StudioError, ValueError):
    """Nothing to send to the model."""


class ModelUnavailableError(StudioError):
    """The weights are not on disk and cannot be downloaded."""


class GenerationError(StudioError):
    """Generation failed inside the engine; the partial text already streamed is kept."""


class BusyError(StudioError):
    """The backend (queue or remote server) is overloaded right now; try again shortly."""
