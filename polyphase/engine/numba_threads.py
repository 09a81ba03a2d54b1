"""numba's thread count, its threads started without changing OpenMP's.

numba's OpenMP threading layer starts its threads by calling
``omp_set_num_threads(NUMBA_NUM_THREADS)`` on the thread that first asks for
them.  An OpenMP runtime is shared by every library in the process that
uses it -- torch's intra-op threads are OpenMP's -- so a first parallel
call of polyphase undid the caller's ``torch.set_num_threads(1)`` (or
``OMP_NUM_THREADS=1``): measured here, torch's N8 C64 -> 64 32x32 3x3
conv2d then took 4.3 ms of wall time and 8.5 ms of CPU time a call, on two
threads, where it had been asked for one.  numba's own parallel regions
pass their thread count explicitly and do not need the changed default, so
:func:`count` puts back what each OpenMP runtime loaded before held (one
that numba loaded itself: what ``OMP_NUM_THREADS`` says, where it is set).
"""

import os
import threading

_started = False
_lock = threading.Lock()


def count() -> int:
    """``numba.get_num_threads()``; the first call starts numba's threads and
    restores the default thread count of the OpenMP runtimes that were
    loaded before (see the module's notes).  Where numba has one thread
    (``NUMBA_NUM_THREADS=1``) it is 1, and nothing is started.

    Examples
    --------
    >>> from polyphase.engine import numba_threads
    >>> numba_threads.count() >= 1
    True
    """
    if _read is not None:
        return _read()
    import numba
    if not _started:
        if numba.config.NUMBA_NUM_THREADS == 1:
            # (numba allows no more threads than this: nothing to start, and
            # starting its threading layer, which loads a library and asks
            # OpenMP about its runtimes, took 17 ms of a first call)
            return 1
        _start()
    return numba.get_num_threads()


# Once numba's threads are started, its threading layer's own count
# (numba.get_num_threads() less its start-up checks): right after a kernel
# has written a few MB, which pushes Python's code and data out of the core's
# caches, numba.get_num_threads() took 12.6 us and this 4.7 (0.8 and 0.2
# with Python in cache), on the Xeon.  None until then, or where numba has
# no such function.
_read = None


def _start():
    global _started
    with _lock:
        if _started:
            return
        import numba
        from numba.np.ufunc import parallel
        if getattr(parallel, "_is_initialized", False):
            _started = True         # (started by someone else: not ours to undo)
            _read_directly()
            return
        try:
            before = _openmp_threads()
        except Exception:           # (threadpoolctl could not inspect the process:
            before = None           # numba starts, nothing is put back)
        numba.get_num_threads()     # (starts numba's threads)
        _started = True
        _read_directly()
        if before is None:
            return
        default = _environment_threads()
        try:
            for path, lib in _openmp_controllers().items():
                # (a runtime numba loaded itself held what the environment says)
                was = before.get(path, default)
                if was is not None and lib.num_threads != was:
                    lib.set_num_threads(was)
        except Exception:
            pass                    # (a thread count left as numba set it, not an error)


def _read_directly():
    """Set :data:`_read` to the threading layer's count, when numba has it."""
    global _read
    from numba.np.ufunc import parallel
    read = getattr(parallel, "_get_num_threads", None)
    if callable(read) and getattr(parallel, "_is_initialized", False):
        _read = read


def _environment_threads():
    """``OMP_NUM_THREADS``'s thread count (its first level), or None."""
    import os
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
    except ValueError:
        return None
    return n if n > 0 else None


def _openmp_controllers():
    """The OpenMP runtimes loaded in the process, by file path
    (threadpoolctl's controllers)."""
    from threadpoolctl import ThreadpoolController
    return {lib.filepath: lib for lib in ThreadpoolController().lib_controllers
            if lib.user_api == "openmp"}


def _openmp_threads():
    """Each loaded OpenMP runtime's default thread count, by file path."""
    return {path: lib.num_threads for path, lib in _openmp_controllers().items()}


def _one():
    return 1


def _after_fork():
    # numba's OpenMP threads do not exist in a forked child, and GNU OpenMP
    # waits forever for them there: a child forked after numba's threads
    # started (a DataLoader's worker, a multiprocessing pool) runs every
    # kernel on its own thread.  (Before, a 64-channel transposed conv2d
    # called in such a child never returned.)
    global _read
    import sys
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if _started or getattr(parallel, "_is_initialized", False):
        _read = _one


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
