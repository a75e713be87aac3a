"""Exceptions the core raises for problems the user can fix; the CLI and GUI show their message."""


class LandguiError(Exception):
    """A problem with the user's input, reported as a one-line message (no traceback)."""


class Cancelled(LandguiError):
    """A long job stopped because its stop flag was set."""

    def __init__(self, message: str = "stopped by request") -> None:
        super().__init__(message)
