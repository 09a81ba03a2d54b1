"""numba's threads start without changing the OpenMP thread count that other
libraries in the process (torch) share: :mod:`polyphase.engine.numba_threads`.

Each case runs in a fresh process (numba starts its threads once per
process), with one OpenMP thread asked for and two numba threads.
"""

import json
import os
import subprocess
import sys

import pytest

_ENV = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="2")

_SCRIPT = """
import json
{before}
import numpy as np
import numba
import polyphase as pp
pp.upfirdn(np.ones(64), np.ones(1 << 22), 2)        # (a parallel call)
from threadpoolctl import threadpool_info
print(json.dumps(dict(
    layer=numba.threading_layer(), numba=numba.get_num_threads(),
    openmp=[i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"],
    torch={torch})))
"""


def _run(before="", torch="None"):
    out = subprocess.run([sys.executable, "-c", _SCRIPT.format(before=before, torch=torch)],
                         env=_ENV, check=True, stdout=subprocess.PIPE, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    if res["layer"] != "omp":
        pytest.skip(f"numba's threading layer is {res['layer']}, not OpenMP")
    return res


def test_openmp_keeps_its_thread_count():
    res = _run()
    assert res["numba"] == 2
    assert res["openmp"] and all(n == 1 for n in res["openmp"])


def test_torch_keeps_its_thread_count():
    pytest.importorskip("torch")
    res = _run("import torch\ntorch.set_num_threads(1)", "torch.get_num_threads()")
    assert res["numba"] == 2
    assert res["torch"] == 1
    assert all(n == 1 for n in res["openmp"])


def test_torch_imported_after_keeps_the_environment_s_count():
    """A runtime numba loaded first holds what ``OMP_NUM_THREADS`` says."""
    pytest.importorskip("torch")
    res = _run("", "__import__('torch').get_num_threads()")
    assert res["numba"] == 2
    assert res["torch"] == 1


def test_numba_starts_when_threadpoolctl_cannot_inspect():
    """The restore is a courtesy: if threadpoolctl fails, numba's threads
    still start and the count is numba's."""
    script = """
import threadpoolctl
def broken(*a, **k):
    raise RuntimeError("no inspection here")
threadpoolctl.ThreadpoolController.__init__ = broken
import numba
from polyphase.engine import numba_threads
print(numba_threads.count() == numba.get_num_threads() >= 1)
"""
    out = subprocess.run([sys.executable, "-c", script], env=_ENV, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    assert out.strip().splitlines()[-1] == "True"


def test_one_numba_thread_starts_nothing():
    """With ``NUMBA_NUM_THREADS=1`` the count is 1 without numba's threading
    layer started (a large call, which would ask for the count, included);
    with two, asking starts it."""
    script = """
import numpy as np
import polyphase as pp
from numba.np.ufunc import parallel
from polyphase.engine import numba_threads
y = pp.upfirdn(np.ones(64), np.ones(1 << 20), 2)
print(numba_threads.count(), parallel._is_initialized, float(y[100]))
"""
    res = {}
    for n in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", script],
                             env=dict(_ENV, NUMBA_NUM_THREADS=n), check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        res[n] = out.strip().splitlines()[-1]
    assert res["1"] == "1 False 32.0"
    assert res["2"] == "2 True 32.0"


def test_the_count_follows_set_num_threads_once_started():
    """Once numba's threads are started, the count is read from the threading
    layer straight (``numba_threads._read``) and still follows
    ``numba.set_num_threads``, per calling thread, as
    ``numba.get_num_threads`` does."""
    script = """
import threading
import numba
from polyphase.engine import numba_threads
first = numba_threads.count()
direct = numba_threads._read is not None
numba.set_num_threads(1)
one = numba_threads.count()
seen = []
t = threading.Thread(target=lambda: seen.append(numba_threads.count()))
t.start(); t.join()
numba.set_num_threads(2)
print(first, direct, one, seen[0], numba_threads.count(), numba.get_num_threads())
"""
    out = subprocess.run([sys.executable, "-c", script], env=_ENV, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    assert out.strip().splitlines()[-1] == "2 True 1 2 2 2"
