"""spate's exception classes. Each derives from the built-in exception the official SDK
raises in the same situation, so `except RuntimeError:` written for the SDK still works."""


class RecordingClosed(RuntimeError):
    """The recording was shut down (or its engine stopped): nothing more can be logged."""


class FlushTimeout(RuntimeError, TimeoutError):
    """`flush` (or `set_sinks`, `disconnect`) did not finish by its timeout."""


class DataLost(RuntimeError):
    """A flush finished, but data was lost since the previous one (dropped with a reason, or
    a sink failed). `losses` says what, where and why."""

    losses: dict

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.losses = {}


class NoRecording(RuntimeError):
    """A call needs a recording: call `spate.init(...)` first, or pass `recording=`."""
