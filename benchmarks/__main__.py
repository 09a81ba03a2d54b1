"""polyphase against scipy.signal and torch, side by side: ``python -m benchmarks``.

Run from the repository root.  Each thread count runs in its own process with
numba, BLAS, OpenMP and torch pinned to it for the whole process (torch picks
different algorithms per thread count).  Within a process ours and the peer's
implementation are timed interleaved (A B A B ..., ``--repeats`` repeats of at
least 40 ms each, median), after checking that both give the same numbers and
dtype.  The table gives the ratio peer time / our time (> 1: polyphase is
faster), our useful GMAC/s (multiplications by inserted zeros do not count)
and the fraction of the FMA peak, and whether the issue's target holds.

Examples::

    python -m benchmarks                        # everything, 1 and 2 threads
    python -m benchmarks --cases U1 C5 --threads 1 --json out.json
    python -m benchmarks --list

Case U9 (2 threads over 1 on U1, U2 and U8) is timed in a process of its
own, our 1- and 2-thread calls interleaved, with two ceilings timed the
same way: a loop in registers (what a second thread gains on compute) and
a copy of 64 MB (on memory), to read the compute rows and the
memory-bound rows against; J1/J2 (JIT compile and warm-cache start-up)
each in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from .cases import CASES
from .timing import PEAK_GMACS, copy_bandwidth, interleaved, machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _selected(patterns):
    return [i for i, c in enumerate(CASES)
            if not patterns or any(c.id == p or c.id.startswith(p) for p in patterns)]


def _same(ours, theirs, dtype):
    """Relative max error, after checking shapes and dtypes agree."""
    if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
        raise AssertionError(f"ours {ours.shape} {ours.dtype} != peer "
                             f"{theirs.shape} {theirs.dtype}")
    err = float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))
    if err > (1e-4 if dtype in ("float32", "complex64") else 1e-9):
        raise AssertionError(f"results differ: relative error {err:.2e}")
    return err


def run_child(indices, threads, repeats):
    """Time the cases ``indices`` with everything pinned to ``threads``."""
    import numba
    numba.set_num_threads(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    bandwidth = copy_bandwidth()
    rows = []
    for i in indices:
        case = CASES[i]
        row = dict(id=case.id, case=case.label, dtype=case.dtype, peer=case.peer,
                   threads=threads, target=case.target)
        if case.needs_torch and torch is None:
            rows.append(dict(row, skipped="torch is not installed"))
            continue
        try:
            ours, theirs, macs, nbytes = case.make(rng)
            row["max_rel_error"] = _same(ours(), theirs(), case.dtype)
        except Exception as exc:            # report it, and go on with the others
            rows.append(dict(row, skipped=f"{type(exc).__name__}: {exc}"))
            continue
        # with several threads, let the other library's idle threads stop
        # spinning before each timed block (see timing.interleaved)
        t = interleaved({"ours": ours, "peer": theirs}, repeats,
                        gap=float(os.environ.get("PP_BENCH_GAP", 0.15)) if threads > 1 else 0.0)
        gmacs = macs / t["ours"] / 1e9
        row.update(ours_ms=t["ours"] * 1e3, peer_ms=t["peer"] * 1e3,
                   ratio=t["peer"] / t["ours"], gmacs=gmacs,
                   peak_fraction=gmacs / (PEAK_GMACS[case.dtype] * threads),
                   gbs=nbytes / t["ours"] / 1e9, copy_gbs=bandwidth)
        if case.bandwidth_target is not None:
            row["bandwidth_fraction"] = row["gbs"] / bandwidth
            row["met"] = row["bandwidth_fraction"] >= case.bandwidth_target
        elif case.target is not None:
            row["met"] = row["ratio"] >= case.target
        rows.append(row)
        print(f"  {case.id:4} {case.label:44} {case.dtype:8} {threads}t "
              f"ratio {row['ratio']:6.2f}", file=sys.stderr, flush=True)
    return rows


def _pinned_env(threads):
    n = str(threads)
    return dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n,
                MKL_NUM_THREADS=n, NUMBA_NUM_THREADS=n)


def run_threads(indices, threads, repeats):
    cmd = [sys.executable, "-m", "benchmarks", "--child", str(threads),
           "--repeats", str(repeats), "--indices", ",".join(map(str, indices))]
    out = subprocess.run(cmd, env=_pinned_env(threads), cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# J1 / J2: each case is one kernel at one dtype, its input large enough for
# the parallel path (numba's threads set to 1 for the serial first call)
JIT_CASES = {
    # (10 taps, 5 a phase: 8 would fit the transposed kernel's 4-delay boxes;
    # 8000 samples, 16009 outputs: fewer than the band route needs,
    # engine.BAND_MIN_OUTPUTS, enough work for the parallel path)
    "upfirdn L=2 (1-D kernel, phase streams)":
        "pp.upfirdn(np.ones(10, dt), np.ones(8000, dt), 2)",
    # (M = 5 with 4 taps: 9.75 multiply-adds a tap on the band, see band.MAX_WASTE)
    "upfirdn M=5 (1-D kernel, split jobs)":
        "pp.upfirdn(np.ones(4, dt), np.ones(1 << 17, dt), 1, 5)",
    "upfirdn 3/2, 96 taps (band kernel)":
        "pp.upfirdn(np.ones(96, dt), np.ones(1 << 15, dt), 3, 2)",
    # (3 taps at L = 2, fewer than two a phase: not the band route, see
    # band.MIN_TAPS)
    "upfirdn axis=0, 3 taps (axis-0 kernel)":
        "pp.upfirdn(np.ones(3, dt), np.ones((2048, 64), dt), 2, axis=0)",
    "upfirdn axis=0, 8 taps (band kernel, axis 0)":
        "pp.upfirdn(np.ones(8, dt), np.ones((4096, 64), dt), 2, axis=0)",
    "conv_transpose2d 1 channel (2x2-box kernel)":
        "pnn.conv_transpose2d(np.ones((1, 1, 128, 128), dt), np.ones((1, 1, 3, 3), dt), "
        "stride=2)",
    "conv2d stride 2, 1 channel (4x4-box kernel)":
        "pnn.conv2d(np.ones((1, 1, 256, 256), dt), np.ones((1, 1, 3, 3), dt), stride=2)",
    "conv2d stride 3, 1 channel (strided kernel)":
        "pnn.conv2d(np.ones((1, 1, 512, 512), dt), np.ones((1, 1, 3, 3), dt), stride=3)",
    # (column strides 2-4 take the strided kernel; 5 the ring)
    "conv2d stride 5, 1 channel (ring kernel)":
        "pnn.conv2d(np.ones((1, 1, 512, 512), dt), np.ones((1, 1, 3, 3), dt), stride=5)",
    "conv_transpose2d 8 channels (phases kernel)":
        "pnn.conv_transpose2d(np.ones((1, 8, 16, 16), dt), np.ones((8, 8, 3, 3), dt), "
        "stride=2)",
    "conv2d stride 3, 16 -> 64 channels (points kernel)":
        "pnn.conv2d(np.ones((4, 16, 48, 48), dt), np.ones((64, 16, 3, 3), dt), stride=3, "
        "padding=1)",
}

# J1 only: the 1-D kernel is compiled per kind of signal (see
# kernels.job_kernel); these are the kinds with the most code.  And the
# transposed layers' products on the grid with their interleave, which
# rows of a few blocks still take (gemm._phases_apply).  (J2 keeps the
# calls above, the same from run to run; each further kind would add its
# load, 10-20 ms.)
KIND_CASES = {
    "conv_transpose2d 8 channels, rows of 6 (GEMM + interleave)":
        "pnn.conv_transpose2d(np.ones((1, 8, 32, 6), dt), np.ones((8, 8, 3, 3), dt), "
        "stride=2)",
    # (16 taps, 5-6 a phase: 12 would fit the transposed kernel's 4-delay
    # boxes.  Each with 13-16 thousand outputs, as the first case above)
    "upfirdn L=3 (1-D kernel, phase streams, gather)":
        "pp.upfirdn(np.ones(16, dt), np.ones(5000, dt), 3)",
    "upfirdn 2/3 (1-D kernel, split jobs, pairs)":
        "pp.upfirdn(np.ones(12, dt), np.ones(21000, dt), 2, 3)",
    "upfirdn 3/2, 15 taps (1-D kernel, split jobs, gather)":
        "pp.upfirdn(np.ones(15, dt), np.ones(10000, dt), 3, 2)",
}

# J1, one process per case with an empty numba cache, so that a kernel is
# charged for every function it compiles (helpers shared with another
# kernel included): numba's start-up first (compiling a trivial function
# pays what any first compile pays: the registries, LLVM's set-up), then
# the case's first call on one thread, then its first call on two (the
# parallel entry; threads permitting).
_COLD_SCRIPT = """
import json, time
import numpy as np
import numba
import polyphase as pp
import polyphase.nn as pnn
dt = np.{dtype}
t = time.perf_counter()
numba.njit(lambda v: v + 1)(1.0)
startup = time.perf_counter() - t
numba.set_num_threads(1)
t = time.perf_counter()
{call}
serial = time.perf_counter() - t
parallel = None
if numba.config.NUMBA_NUM_THREADS > 1:
    numba.set_num_threads(2)
    t = time.perf_counter()
    {call}
    parallel = time.perf_counter() - t
print(json.dumps(dict(startup=startup, serial=serial, parallel=parallel)))
"""

# J2: a warm cache (every case run once before), a fresh process: import,
# then every case's first call.  Timed on their own too: numba's import, and
# after the calls, the registries numba's own cache would load before each
# kernel (its target context's refresh; the engine's cache skips it, see
# polyphase.engine.jit).
_WARM_SCRIPT = """
import json, time
t0 = time.perf_counter()
import numpy as np
import polyphase as pp
import polyphase.nn as pnn
t = time.perf_counter()
import numba
numba_s = time.perf_counter() - t
dt = np.{dtype}
{calls}
total_s = time.perf_counter() - t0
t = time.perf_counter()
from numba.core.registry import cpu_target
cpu_target.target_context.refresh()
print(json.dumps(dict(numba_s=numba_s, total_s=total_s,
                      refresh_s=time.perf_counter() - t)))
"""


def _python(script, env):
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_jit(dtype="float64"):
    """J1: each kernel's cold first calls (serial, then parallel), each in a
    fresh process with an empty cache (``JIT_CASES`` and ``KIND_CASES``);
    then J2 (:func:`run_warm`)."""
    rows, startups = [], []
    for name, call in {**JIT_CASES, **KIND_CASES}.items():
        with tempfile.TemporaryDirectory() as cache:
            res = _python(_COLD_SCRIPT.format(dtype=dtype, call=call),
                          dict(_pinned_env(2), NUMBA_CACHE_DIR=cache))
        startups.append(res["startup"])
        rows.append(dict(id="J1", case=f"cold JIT: {name}", dtype=dtype,
                         seconds=res["serial"], target_s=3.0, met=res["serial"] <= 3.0))
        if res["parallel"] is not None:
            rows.append(dict(id="J1", case="  then its first 2-thread call", dtype=dtype,
                             seconds=res["parallel"], target_s=3.0,
                             met=res["parallel"] <= 3.0))
    rows.insert(0, dict(id="J1", case="numba start-up (once, before any kernel; median)",
                        dtype=dtype, seconds=float(np.median(startups)), target_s=None,
                        met=None))
    return rows + run_warm(dtype)


def run_warm(dtype="float64"):
    """J2's rows: import and the first calls of ``JIT_CASES`` in a fresh
    process whose caches a first run filled (:func:`_warm_env`)."""
    script = _WARM_SCRIPT.format(dtype=dtype, calls="\n".join(JIT_CASES.values()))
    with tempfile.TemporaryDirectory() as cache:
        env = _warm_env(cache)
        _python(script, env)                         # fills both caches
        res = _python(script, env)
        # the same start where PYTHONDONTWRITEBYTECODE is set: the installed
        # packages' bytecode as installed, polyphase's modules compiled from
        # source at each start (an editable install writes no .pyc of its own)
        plain = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}
        no_pyc = _python(script, dict(plain, PYTHONDONTWRITEBYTECODE="1"))
    rows = [dict(id="J2", case="numba import", dtype=dtype,
                 seconds=res["numba_s"], target_s=None, met=None)]
    rows.append(dict(id="J2", case="numba's registries (not loaded; timed after)",
                     dtype=dtype, seconds=res["refresh_s"], target_s=None, met=None))
    rows.append(dict(id="J2", case="warm cache: import + all first calls", dtype=dtype,
                     seconds=res["total_s"], target_s=0.5, met=res["total_s"] <= 0.5))
    rows.append(dict(id="J2", case="  the same, PYTHONDONTWRITEBYTECODE=1",
                     dtype=dtype, seconds=no_pyc["total_s"], target_s=None, met=None))
    return rows


def _warm_env(cache):
    """J2's environment: one thread, numba's cache and Python's bytecode
    cache both in ``cache``.

    A warm start is one whose caches hold what an earlier run wrote, and
    Python's bytecode cache is one of them: where ``PYTHONDONTWRITEBYTECODE``
    is set (as on the machines these runs were made on), every start
    compiled polyphase's modules from source, 0.06-0.08 s of J2's 0.50 s
    on the Xeon.  ``PYTHONPYCACHEPREFIX`` keeps the bytecode out of the
    source tree and out of later runs."""
    env = dict(_pinned_env(1), NUMBA_CACHE_DIR=cache,
               PYTHONPYCACHEPREFIX=os.path.join(cache, "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


SCALING_CASES = ("U1", "U2", "U8")


def run_scaling_child(indices, repeats):
    """U9: our 2-thread speed over our 1-thread speed on the cases ``indices``
    (U1, U2 and U8), the two timed interleaved in one process (A B A B, the
    thread count set before each block), as every other ratio.  Derived from
    the 1- and 2-thread runs instead, which are minutes apart, the ratio
    took the machine's slow and fast spells of both: U1 float64 1.15 in one
    run, 1.50 interleaved a few minutes later."""
    rng = np.random.default_rng(0)
    gap = float(os.environ.get("PP_BENCH_GAP", 0.15))
    rows = []
    for i in indices:
        case = CASES[i]
        rows.append(_scaling_row(f"2 threads / 1: {case.id} {case.label}", case.dtype,
                                 case.make(rng)[0], repeats, gap, target=1.8))
    rows.append(_scaling_ceiling(repeats, gap))
    rows.append(_memory_ceiling(repeats, gap))
    return rows


def _scaling_row(case, dtype, fn, repeats, gap, target=None):
    """U9's row for ``fn``: its time a call on one thread over its time on
    two, the two timed interleaved (the thread count set before each
    block); a ceiling when ``target`` is None."""
    import numba
    t = interleaved({"1": fn, "2": fn}, repeats, gap=gap,
                    before={"1": lambda: numba.set_num_threads(1),
                            "2": lambda: numba.set_num_threads(2)})
    s = t["1"] / t["2"]
    print(f"  U9   {case[:60]:60} {dtype:8} ratio {s:6.2f}", file=sys.stderr, flush=True)
    row = dict(id="U9", case=case, dtype=dtype, ours_1t_ms=t["1"] * 1e3,
               ours_2t_ms=t["2"] * 1e3, ratio=s, target=target)
    if target is not None:
        row["met"] = s >= target
    return row


def _scaling_ceiling(repeats, gap):
    """U9's ceiling on this machine: the same 2-thread / 1-thread ratio for
    a loop that touches no memory (multiply-adds on 16 vectors in
    registers, two equal parts run by numba's threads), timed as U9's cases.
    On the EPYC's two vCPUs it measured 1.25 to 2.04 within one session,
    minutes apart (one thread 3.1 ms a call, then 6.5 ms for three times
    the work: the clock, or the host's placing of the vCPUs, changes under
    the process), and two Python threads pinned one to each vCPU running
    such a loop scaled 1.73-2.08 (medians 1.85-1.96 over three runs of
    nine).  A row of U9 can be read against this ceiling of its own run."""
    from .probes import register_loop
    units = np.random.default_rng(1).random(512).astype(np.float32) * 0.5
    reps = 600_000
    register_loop(units, 2, 10)
    return _scaling_row("ceiling: a loop in registers (no memory)", "float32",
                        lambda: register_loop(units, 2, reps), repeats, gap)


def _memory_ceiling(repeats, gap):
    """U9's memory ceiling: the same 2-thread / 1-thread ratio for a copy
    of 64 MB in two parts (:func:`.probes.copy_parts`, 128 MB read and
    written), the bytes U8's memory-bound rows move in float64.  Those rows
    are read against it, as the compute rows against the loop in
    registers."""
    from .probes import copy_parts
    src = np.ones(1 << 23)
    dst = np.empty_like(src)
    copy_parts(src, dst, 2)
    return _scaling_row("ceiling: a copy of 64 MB (memory)", "float64",
                        lambda: copy_parts(src, dst, 2), repeats, gap)


def run_scaling(indices, repeats):
    cmd = [sys.executable, "-m", "benchmarks", "--scaling-child",
           "--repeats", str(repeats), "--indices", ",".join(map(str, indices))]
    out = subprocess.run(cmd, env=_pinned_env(2), cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def print_table(rows, file=sys.stdout):
    print(f"{'id':4} {'case':50} {'dtype':8} {'thr':>3} {'peer ms':>9} {'ours ms':>9} "
          f"{'ratio':>7} {'GMAC/s':>7} {'%peak':>6} {'target':>7}  met", file=file)
    for r in rows:
        if "skipped" in r:
            print(f"{r['id']:4} {r['case'][:50]:50} {r['dtype']:8} {r['threads']:>3}  "
                  f"skipped: {r['skipped']}", file=file)
            continue
        if "seconds" in r:
            target, met = ("", "") if r["target_s"] is None else \
                ("<=%gs" % r["target_s"], "yes" if r["met"] else "NO")
            print(f"{r['id']:4} {r['case'][:50]:50} {r['dtype']:8} {'':>3} "
                  f"{'':>9} {r['seconds'] * 1e3:9.0f} {'':>7} {'':>7} {'':>6} "
                  f"{target:>7}  {met}", file=file)
            continue
        thr = r.get("threads", "")
        times = (f"{r['peer_ms']:9.3f} {r['ours_ms']:9.3f}" if "ours_ms" in r
                 else f"{'':>9} {'':>9}")
        perf = (f"{r['gmacs']:7.2f} {100 * r['peak_fraction']:6.1f}" if "gmacs" in r
                else f"{'':>7} {'':>6}")
        if "bandwidth_fraction" in r:
            target = f"{100 * r['bandwidth_fraction']:.0f}%bw"
        else:
            target = "" if r.get("target") is None else f">={r['target']:.3g}"
        met = "" if "met" not in r else ("yes" if r["met"] else "NO")
        print(f"{r['id']:4} {r['case'][:50]:50} {r['dtype']:8} {thr:>3} {times} "
              f"{r['ratio']:7.2f} {perf} {target:>7}  {met}", file=file)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=[],
                        help="case ids or prefixes (U1 U8 C ...); default: all")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="write machine info and all rows to this file")
    parser.add_argument("--no-jit", action="store_true", help="skip J1/J2")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scaling-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--indices", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child or args.scaling_child:
        indices = [int(i) for i in args.indices.split(",") if i]
        print(json.dumps(run_scaling_child(indices, args.repeats) if args.scaling_child
                         else run_child(indices, args.child, args.repeats)))
        return
    indices = _selected(args.cases)
    if args.list:
        for i in indices:
            c = CASES[i]
            print(f"{c.id:4} {c.label:50} {c.dtype:8} vs {c.peer}")
        return
    started = time.time()
    rows = []
    for threads in args.threads:
        print(f"{threads} thread(s):", file=sys.stderr, flush=True)
        rows += run_threads(indices, threads, args.repeats)
    scaling = [i for i in indices if CASES[i].id in SCALING_CASES and not CASES[i].needs_torch]
    if scaling and {1, 2} <= set(args.threads):
        print("U9, 2 threads / 1 in one process:", file=sys.stderr, flush=True)
        rows += run_scaling(scaling, args.repeats)
    if not args.no_jit and (not args.cases or any(p.startswith("J") for p in args.cases)):
        rows += run_jit()
    print_table(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(machine=machine(), repeats=args.repeats,
                           peak_gmacs=PEAK_GMACS, seconds=time.time() - started,
                           rows=rows), fh, indent=1)


if __name__ == "__main__":
    main()
