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

numba's parallel kernels (``prange``) met the same wake affinity: after a
pause, OpenMP's worker thread was woken on the caller's CPU and ran its
share there, after the caller's -- a parallel loop of 2 x 5 ms on two
threads took 17.5 ms instead of 10 (time stamps and ``sched_getcpu`` per
``prange`` index).  :class:`numba_team` sets the CPUs of numba's threads
before a parallel kernel wakes them: 10.2 ms after a pause.

Linux only (``os.sched_setaffinity``); elsewhere, and where a process may
not change affinities, the threads run unpinned as before.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time


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


# A parallel kernel started at least this long after the calling thread's
# last one ended places numba's threads (:class:`numba_team`).  OpenMP's
# threads spin a while after a kernel before they sleep: here a kernel
# 10 ms after the last one still found them awake, 30 ms after it stalled
# (a 0.03 ms loop on two threads: 0.13 against 3.7 ms), so 1 ms is well on
# the safe side.  Calls made back to back skip the system calls (~5-10 us,
# a quarter of a small image's kernel).
TEAM_IDLE = 1e-3

# OS ids of numba's threads besides the caller, per calling thread (OpenMP
# gives each thread that starts parallel regions a team of its own) and
# thread count
_teams = {}
# per thread: when its last parallel kernel ended (perf_counter)
_local = threading.local()


def _after_fork():
    _teams.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _team(threads):
    """OS ids of the threads other than the caller's that run numba's parallel
    kernels started from this thread with ``threads`` threads, found once
    by running one (:func:`.kernels_team.thread_ids`); empty where that is
    not available."""
    key = (threading.get_native_id(), threads)
    ids = _teams.get(key)
    if ids is None:
        import numpy as np

        from .kernels_team import SUPPORTED, thread_ids
        ids = ()
        if SUPPORTED:
            seen = np.zeros(16 * threads, dtype=np.int64)
            thread_ids(seen)
            ids = tuple(sorted(set(seen.tolist()) - {threading.get_native_id()}))
        if len(_teams) >= 64:
            _teams.clear()
        _teams[key] = ids
    return ids


class numba_team:
    """Context manager around a numba parallel kernel: when the calling
    thread's last one ended over :data:`TEAM_IDLE` ago, the caller is held
    to the CPU it runs on and numba's other threads to the other CPUs, set
    before the kernel wakes them, and each gets back its affinity after.

    Why: a sleeping OpenMP thread woken by the kernel was queued on the
    caller's CPU, where the caller, done with its share, spun at the
    kernel's closing barrier: a single-channel transposed conv2d of 0.3 ms
    (512x512, two threads) took 11-12 ms as the first call after a pause,
    the 8-tap interpolator along axis 0 (f32) 6.8 against 2.7 ms.  Placed
    first: 1.0-1.2 and 3.2 ms.  With one thread, or where affinities cannot
    be set, the kernel runs as it is.

    Examples
    --------
    >>> with numba_team():
    ...     pass
    """

    def __enter__(self):
        self._restore = None
        last = getattr(_local, "end", None)
        if last is not None and time.perf_counter() - last < TEAM_IDLE:
            return self                 # (its threads still spin: awake)
        from .numba_threads import count

        threads = count()
        groups = spread(threads) if threads > 1 else None
        team = _team(threads) if groups is not None else ()
        if not team:
            return self
        restore = []
        try:
            restore.append((0, os.sched_getaffinity(0)))
            others = set().union(*groups[1:])
            for tid in team:
                restore.append((tid, os.sched_getaffinity(tid)))
                os.sched_setaffinity(tid, others)
            os.sched_setaffinity(0, groups[0])
        except OSError:
            # (may not pin, or a thread is gone: numba's pool changed and is
            # found again next time)
            _teams.pop((threading.get_native_id(), threads), None)
        self._restore = restore
        return self

    def __exit__(self, *exc):
        for tid, cpus in self._restore or ():
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                pass
        _local.end = time.perf_counter()
        return False
