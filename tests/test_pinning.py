"""Threads of a split call held to CPUs of their own (polyphase.engine.pinning)."""

import os

import numpy as np
import pytest

import polyphase.nn as pnn
from polyphase.engine import pinning, winograd

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
    import numba

    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((lanes, 16, 12, 12))
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
    monkeypatch.setattr(winograd, "PARTS_PER_THREAD", 1)
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


def test_a_thread_that_starts_late_takes_fewer_parts(monkeypatch):
    """The threads take parts of the lanes in turn: when the pool's thread
    starts late (a CPU woken from idle), the caller runs the parts it would
    have waited for."""
    import threading
    import time

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
    assert ran == [True] * 4                   # all four parts in the caller
    np.testing.assert_allclose(got, np.concatenate(expected), rtol=1e-13, atol=1e-12)
