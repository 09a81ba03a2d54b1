"""Threads of a split call held to CPUs of their own (polyphase.engine.pinning)."""

import os

import numpy as np
import pytest

import polyphase.nn as pnn
from polyphase.engine import machine, numba_threads, pinning, winograd

linux = pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux only")


@linux
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_spread_gives_disjoint_groups_of_the_allowed_cpus(monkeypatch, workers):
    allowed = {0, 1, 2, 3, 5, 8, 9}
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(allowed))
    monkeypatch.setattr(pinning, "_current_cpu", lambda: 5)
    groups = pinning.spread(workers)
    assert len(groups) == workers
    assert set().union(*groups) == allowed
    assert sum(map(len, groups)) == len(allowed)            # disjoint
    assert 5 in groups[0]                 # the caller keeps the CPU it runs on


@linux
def test_spread_declines_fewer_cpus_than_workers(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert pinning.spread(2) is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: (_ for _ in ()).throw(OSError))
    assert pinning.spread(1) is None


@linux
def test_pinned_restores_the_affinity_it_found():
    before = os.sched_getaffinity(0)
    one = {min(before)}
    with pinning.pinned(one):
        assert os.sched_getaffinity(0) == one
    assert os.sched_getaffinity(0) == before
    with pytest.raises(RuntimeError):
        with pinning.pinned(one):
            raise RuntimeError
    assert os.sched_getaffinity(0) == before


def _split_layer(monkeypatch, lanes=4):
    """A strided layer whose tiles the crew's threads split: complex data,
    whose products go to BLAS (real data's run on numba's threads)."""
    monkeypatch.setattr(numba_threads, "count", lambda: 2)
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 0)
    monkeypatch.setattr(winograd, "THREADS_MIN_TILES", 0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((lanes, 16, 12, 12)) + 1j * rng.standard_normal((lanes, 16, 12, 12))
    layer = pnn.Conv2d(rng.standard_normal((16, 16, 4, 4)), stride=2, padding=1)
    return layer, x


@linux
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity")
                    else True, reason="needs two CPUs")
def test_the_threads_of_a_split_layer_run_on_cpus_of_their_own(monkeypatch):
    import threading

    layer, x = _split_layer(monkeypatch)
    # one part per thread, each thread made to take one (a part waits for
    # the other to start)
    monkeypatch.setattr(winograd, "TILE_PARTS_PER_THREAD", {"amd": 1, "intel": 1})
    both = threading.Barrier(2, timeout=30)
    seen = []
    run = winograd.run2

    def spy(xs, *args):
        seen.append(frozenset(os.sched_getaffinity(0)))
        both.wait()
        return run(xs, *args)

    monkeypatch.setattr(winograd, "run2", spy)
    before = os.sched_getaffinity(0)
    layer(x)
    assert len(seen) == 2 and not seen[0] & seen[1]
    assert os.sched_getaffinity(0) == before


@linux
def test_a_process_that_may_not_pin_runs_unpinned(monkeypatch):
    """sched_setaffinity refused (a restricted container): the same numbers."""
    layer, x = _split_layer(monkeypatch)
    expected = layer(x)

    def refuse(pid, cpus):
        raise PermissionError

    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    monkeypatch.setattr(pinning, "spread", lambda workers: [{0}, {1}])
    np.testing.assert_array_equal(layer(x), expected)


@pytest.mark.parametrize("maker", ["amd", "intel"])
def test_a_thread_that_starts_late_takes_fewer_parts(monkeypatch, maker):
    """The threads take parts of the tiles in turn: when the pool's thread
    starts late (a CPU woken from idle), the caller runs the parts it would
    have waited for."""
    import threading
    import time

    monkeypatch.setattr(machine, "maker", lambda: maker)
    layer, x = _split_layer(monkeypatch)
    expected = layer(x[:1]), layer(x[1:])
    take = winograd._take_parts
    ran = []

    def late(run, *args):
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.5)

        def counted(xs, *rest):
            ran.append(threading.current_thread() is threading.main_thread())
            return run(xs, *rest)
        return take(counted, *args)

    monkeypatch.setattr(winograd, "_take_parts", late)
    got = layer(x)
    # (a strided conv2d: parts of tiles, as many a thread as the machine's)
    parts = 2 * machine.pick(winograd.TILE_PARTS_PER_THREAD)
    assert ran == [True] * parts               # all the parts in the caller
    np.testing.assert_allclose(got, np.concatenate(expected), rtol=1e-13, atol=1e-12)


def _two_numba_threads():
    import numba
    return hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2 \
        and numba.config.NUMBA_NUM_THREADS >= 2


@pytest.mark.skipif(not _two_numba_threads(), reason="needs two CPUs and two numba threads")
def test_numba_team_places_numbas_threads_before_a_kernel_after_a_pause(monkeypatch):
    """After a pause the caller is held to its CPU and numba's other threads
    to the others while the body runs, then all get their affinity back;
    right after a kernel (its threads still awake) nothing is set."""
    import threading
    import time

    import numba

    from polyphase.engine.kernels_team import SUPPORTED
    if not SUPPORTED:
        pytest.skip("no gettid")
    threads = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        team = pinning._team(2)
        me = threading.get_native_id()
        tasks = {int(t) for t in os.listdir("/proc/self/task")}
        assert team and me not in team and set(team) <= tasks
        before = {tid: os.sched_getaffinity(tid) for tid in (0,) + team}
        monkeypatch.setattr(pinning._local, "end", time.perf_counter() - 1.0, raising=False)
        with pinning.numba_team():
            mine, cpu = os.sched_getaffinity(0), pinning._current_cpu()
            theirs = [os.sched_getaffinity(tid) for tid in team]
        assert cpu in mine or cpu is None
        for cpus in theirs:
            assert cpus and not cpus & mine
        assert {tid: os.sched_getaffinity(tid) for tid in (0,) + team} == before
        with pinning.numba_team():               # right after: left as it is
            assert os.sched_getaffinity(0) == before[0]
    finally:
        numba.set_num_threads(threads)


@pytest.mark.skipif(not _two_numba_threads(), reason="needs two CPUs and two numba threads")
def test_parallel_kernels_after_a_pause_equal_serial_ones(monkeypatch):
    """The engine's parallel kernels, each entered after a pause (threads
    placed), give the numbers of the serial kernels."""
    import time

    import numba

    import polyphase as pp
    from polyphase import engine

    rng = np.random.default_rng(3)
    h = rng.standard_normal(16)
    cases = [lambda: pp.upfirdn(h, x1, 3, 2), lambda: pp.upfirdn(h, x2, 2, axis=0),
             lambda: pnn.conv_transpose2d(im, w3, stride=2),
             lambda: pnn.conv2d(im, w4, stride=2), lambda: pnn.conv2d(im, w3, stride=3)]
    x1 = rng.standard_normal(1 << 16)
    x2 = rng.standard_normal((4096, 64))
    im = rng.standard_normal((2, 1, 300, 300))
    w3, w4 = rng.standard_normal((1, 1, 3, 3)), rng.standard_normal((1, 1, 4, 4))
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = [case() for case in cases]
        numba.set_num_threads(2)
        monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)
        for case, expected in zip(cases, serial):
            monkeypatch.setattr(pinning._local, "end", time.perf_counter() - 1.0,
                                raising=False)
            np.testing.assert_allclose(case(), expected, rtol=1e-12, atol=1e-12)
    finally:
        numba.set_num_threads(threads)
