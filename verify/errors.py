"""The one exception type for a user's mistake."""


class TargetError(Exception):
    """A target that cannot be resolved, a bad option, unreadable input: the user's
    mistake, reported by the CLI as one line and exit code 2."""
