"""The one exception type for a user's mistake, and the hint that goes with a typo."""

import difflib
from collections.abc import Iterable


class TargetError(Exception):
    """A target that cannot be resolved, a bad option, unreadable input: the user's
    mistake, reported by the CLI as one line and exit code 2."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'silu'?)' for a near miss among ``choices``, '' for none."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
