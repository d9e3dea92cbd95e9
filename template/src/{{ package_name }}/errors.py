"""The one error type that library code raises for problems a user can fix."""


class UsageError(Exception):
    """A problem the user can fix, in one sentence; the command exits `exit_code`."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Stopped(UsageError):
    """A stop the user asked for (SIGINT, SIGTERM): not a failure, yet no success."""
