"""The one error type of jaxscaffold."""


class ScaffoldError(Exception):
    """A problem the user can fix; its message says what is wrong in one sentence."""
