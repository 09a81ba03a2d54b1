"""Threads of one call kept on different CPUs while the call runs.

The Winograd route splits a batch between the calling thread and pool
threads (:func:`.winograd.run_lanes`).  A pool thread woken from sleep is
often placed on the CPU of the thread that woke it (the scheduler's wake
affinity), and when the other CPU is idle-halted, as after a pause on a
virtual machine, nothing moves it back for longer than the call lasts: the
two halves then share one CPU.  On the reference machine (2 vCPUs) the
64-channel strided conv2d took either ~6 or ~12 ms with two threads, the
slow calls with both threads on one CPU (``sched_getcpu``), and in the
benchmark, with a pause before each timed block, 8.8-9.7 ms on average
against torch's 5.6-7.1.  Each thread of such a call is therefore held to
its own group of CPUs for the call, and its previous affinity restored
after.

Linux only (``os.sched_setaffinity``); elsewhere, and where a process may
not change affinities, the threads run unpinned as before.
"""

from __future__ import annotations

import contextlib
import functools
import os


@functools.lru_cache(maxsize=1)
def _sched_getcpu():
    """libc's ``sched_getcpu``, or None (looked up once)."""
    try:
        import ctypes

        return ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError):
        return None


def _current_cpu():
    """The CPU the calling thread runs on, or None when unknown."""
    getcpu = _sched_getcpu()
    cpu = getcpu() if getcpu is not None else -1
    return cpu if cpu >= 0 else None


def spread(workers: int):
    """Disjoint CPU sets for ``workers`` threads, the calling thread's first
    (it holds the CPU it runs on), or None when there are fewer CPUs than
    workers or affinities are not available.

    Examples
    --------
    >>> groups = spread(1)
    >>> groups is None or len(groups) == 1
    True
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except OSError:
        return None
    if len(allowed) < workers or workers < 1:
        return None
    here = _current_cpu()
    if here in allowed:
        i = allowed.index(here)
        allowed = allowed[i:] + allowed[:i]
    return [set(allowed[k::workers]) for k in range(workers)]


@contextlib.contextmanager
def pinned(cpus):
    """Run the body with the calling thread held to ``cpus`` (None: as it
    is), then give it back the affinity it had.

    Examples
    --------
    >>> import os
    >>> before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    >>> with pinned(None):
    ...     pass
    >>> before is None or os.sched_getaffinity(0) == before
    True
    """
    before = None
    if cpus is not None:
        try:
            before = os.sched_getaffinity(0)
            os.sched_setaffinity(0, cpus)
        except OSError:
            before = None
    try:
        yield
    finally:
        if before is not None:
            try:
                os.sched_setaffinity(0, before)
            except OSError:
                pass
