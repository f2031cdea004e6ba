"""The machine as a shared resource: a timed measurement takes it for itself.

Memory-bound loops timed while other work runs (the gate's other workers, another gate
on the same machine) see a share of the bandwidth and the cache, and a ratio measured
that way says nothing about the activation. Every check that is not timed holds
``TIMING_LOCK`` shared while it runs; a timing takes it exclusively, after closing the
``TURNSTILE`` so that no new check starts while it waits. It is a reader-writer lock
over ``flock``, machine-wide, which the system releases when a process dies.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator

TIMING_LOCK = os.path.join(tempfile.gettempdir(), "verify-timing.lock")
TURNSTILE = os.path.join(tempfile.gettempdir(), "verify-timing.turnstile")


@contextlib.contextmanager
def exclusive_timing() -> Iterator[float]:
    """Take the machine for a timing; yields the seconds waited for it. (Without
    ``fcntl``, on Windows, it takes nothing.)"""
    started = time.perf_counter()
    try:
        import fcntl
    except ImportError:
        yield 0.0
        return
    with open(TURNSTILE, "a+") as gate, open(TIMING_LOCK, "a+") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield time.perf_counter() - started
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)


@contextlib.contextmanager
def sharing_the_machine() -> Iterator[None]:
    """Held by a running check that is not timed: a timing waits for it to end, and it
    does not start while a timing waits or runs."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(TURNSTILE, "a+") as gate, open(TIMING_LOCK, "a+") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)  # passes at once unless a timing holds it
        fcntl.flock(gate, fcntl.LOCK_UN)
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
