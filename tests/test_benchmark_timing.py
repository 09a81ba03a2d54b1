"""The benchmark suite's interleaved timing (benchmarks.timing)."""

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import timing


def test_interleaved_runs_each_setup_before_each_of_its_blocks():
    """``before[name]`` runs before ``name``'s first call and before each of
    its timed blocks, and none of ``name``'s calls runs under the other's
    setup: the U9 case sets the thread count this way."""
    state = {"threads": None}
    calls = {"one": [], "two": []}

    def make(name):
        return lambda: calls[name].append(state["threads"])

    t = timing.interleaved({"one": make("one"), "two": make("two")}, repeats=3,
                           min_repeat=0.0,
                           before={"one": lambda: state.update(threads=1),
                                   "two": lambda: state.update(threads=2)})
    assert set(t) == {"one", "two"} and all(v >= 0 for v in t.values())
    assert calls["one"] and set(calls["one"]) == {1}
    assert calls["two"] and set(calls["two"]) == {2}
    assert len(calls["one"]) == 2 + 3            # warm-up, inner-loop sizing, 3 blocks


_FAULTS_CHILD = """
import json, resource
import torch
from benchmarks import timing
torch.set_num_threads(1)
x, w = torch.ones((1, 1, 512, 512)), torch.ones((1, 1, 3, 3))

def faults():
    # minor page faults of one call, which allocates its output and columns
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with torch.inference_mode():
        torch.nn.functional.conv_transpose2d(x, w, stride=2)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

fresh = [faults() for _ in range(4)]
timing.settle_allocator()
print(json.dumps([fresh, [faults() for _ in range(4)]]))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's mmap threshold")
def test_a_settled_allocator_spares_the_peer_its_page_faults():
    """torch's ``conv_transpose2d`` of a 512x512 image (a 4 MB output, 9 MB
    of columns) faults in ~2300 fresh pages at every call of a process that
    has freed no large block; after :func:`timing.settle_allocator`, none
    after the first call (a process of its own: this one's allocator may
    have settled already)."""
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, "-c", _FAULTS_CHILD], check=True,
                         stdout=subprocess.PIPE, text=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    fresh, settled = json.loads(out.strip().splitlines()[-1])
    pages = (4 << 20) // 4096                     # the output's pages alone
    assert min(fresh[1:]) >= pages
    assert max(settled[1:]) < pages // 20


def test_register_loop_computes_its_closed_form():
    """U9's ceiling probe (:func:`benchmarks.probes.register_loop`) does the
    work it claims: each part runs ``reps`` rounds of ``acc = acc * a + b``
    from zero, whose closed form is ``b * (1 - a**reps) / (1 - a)``, and the
    parts (the threads' shares) agree."""
    import numpy as np

    from benchmarks.probes import register_loop

    rng = np.random.default_rng(2)
    ab = (rng.random(512) * 0.5).astype(np.float32)
    a, b = ab[:256].astype(np.float64), ab[256:].astype(np.float64)
    for reps in (1, 7, 50):
        got = register_loop(ab, 3, reps)
        want = (b * (1 - a ** reps) / (1 - a)).sum()
        np.testing.assert_allclose(got, want, rtol=1e-4)


def test_copy_parts_copies_every_element_once_in_any_parts():
    """U9's memory ceiling probe (:func:`benchmarks.probes.copy_parts`)
    copies the whole array whatever the parts, an odd length and more parts
    than elements included."""
    import numpy as np

    from benchmarks.probes import copy_parts

    rng = np.random.default_rng(3)
    for n, parts in ((1, 2), (7, 3), (1000, 2), (5, 8)):
        src, dst = rng.standard_normal(n), np.full(n, np.nan)
        assert copy_parts(src, dst, parts) == src[-1]
        np.testing.assert_array_equal(dst, src)
