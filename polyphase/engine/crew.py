"""Helper threads that run beside the calling thread, woken on their own CPUs.

The Winograd route splits a layer's lanes (and tiles whose products go to
BLAS) between the caller and ``n`` helper threads
(:func:`.winograd.run_lanes`), each held to CPUs of its own for the call
(:mod:`.pinning`); tiles with products in registers go to numba's threads
instead, which start at once after a recent parallel region.  It first used a ``ThreadPoolExecutor`` whose
threads pinned themselves once they ran.  Time stamps and ``sched_getcpu``
in each thread showed where a woken pool thread first ran: on the CPU of
the thread that woke it (the scheduler's wake affinity), which was busy
with the caller's share, so after a pause it started 4.5 ms late (median
of 44 calls of the 64-channel strided conv2d, two threads, a ~6 ms call).
A :class:`Crew` sets each helper's CPUs by its thread id *before* waking
it, so it is woken where it will run: it starts 1.0 ms after the caller
after a pause (the idle CPU's wake-up) and ~0.5 ms between calls made back
to back, against 4.5 and ~0.6 ms.

Measured and not kept: helpers (and the caller waiting for them) spinning
for a while before they sleep, as OpenMP's threads do, to skip that
wake-up.  In one process, alternating, with two threads, the strided
conv1d took 3.54 ms without spinning, 3.75 / 4.06 / 4.45 ms spinning up to
0.2 / 0.5 / 2 ms (with x86's ``pause`` or without), conv2d 5.80 against
6.13 / 6.38 / 6.40 ms.
"""

from __future__ import annotations

import os
import threading

from .pinning import pinned


class _Helper:
    """One helper thread, woken by a semaphore for each task."""

    def __init__(self, name):
        self.task = None
        self.error = None
        self._ring = threading.Semaphore(0)
        self._finished = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            self._ring.acquire()
            task, self.task = self.task, None
            try:
                task()
            except BaseException as error:    # re-raised in the caller
                self.error = error
            self._finished.release()

    def start(self, task, cpus):
        """Run ``task()`` on this thread, held to ``cpus`` from now on (None:
        where it is allowed to run)."""
        if cpus is not None:
            try:
                os.sched_setaffinity(self.thread.native_id, cpus)
            except OSError:
                pass                          # (may not pin: runs unpinned)
        self.task = task
        self._ring.release()

    def join(self):
        """Wait for the task given last; its exception, or None."""
        self._finished.acquire()
        error, self.error = self.error, None
        return error


class Crew:
    """``n`` helper threads that run a task beside the calling thread.

    Examples
    --------
    >>> crew = Crew(1)
    >>> ran = []
    >>> crew.run(lambda: ran.append(1), [None, None])
    >>> ran
    [1, 1]
    """

    def __init__(self, n: int, name: str = "polyphase-crew"):
        self.helpers = [_Helper(f"{name}-{i}") for i in range(n)]
        self._busy = threading.Lock()

    def run(self, task, cpus):
        """``task()`` on the calling thread and on ``len(cpus) - 1`` helpers,
        each held to its CPUs ``cpus[i]`` (a set; None: not pinned); returns
        when all have, the caller's affinity given back (the helpers keep
        theirs until their next task).

        A call made while another thread's call runs on the crew runs
        ``task()`` on the caller alone (``task`` shares its work through what
        it takes from a common source).  The first exception of a helper is
        re-raised in the caller.
        """
        if not self._busy.acquire(blocking=False):
            task()
            return
        try:
            helpers = self.helpers[:len(cpus) - 1]
            for helper, where in zip(helpers, cpus[1:]):
                helper.start(task, where)
            try:
                with pinned(cpus[0]):
                    task()
            finally:
                errors = [helper.join() for helper in helpers]
            for error in errors:
                if error is not None:
                    raise error
        finally:
            self._busy.release()
