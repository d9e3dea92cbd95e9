"""The one error type that library code raises for problems a user can fix."""


class UsageError(Exception):
    """A setting, file or folder that does not fit; the message says which and why."""
