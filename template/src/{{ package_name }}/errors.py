"""The one error type that library code raises for problems a user can fix."""


class UsageError(Exception):
    """A setting, file or folder that does not fit; the message says which and why.

    `exit_code` is the command's: 1, or 128 + the signal's number if one stopped it.
    """

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
