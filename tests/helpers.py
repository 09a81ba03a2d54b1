"""Small helpers shared by the test modules (plain functions, not fixtures)."""

import numpy as np

from polyphase.testing import reference_matrix


def random_array(shape, dtype, rng):
    """Standard normal samples of ``dtype`` (complex dtypes get both parts)."""
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def tolerance(dtype):
    """Relative tolerance for results computed in ``dtype``."""
    return 2e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12


def record_calls(monkeypatch, owner, name):
    """Replace ``owner.name`` by a pass-through that records each call's
    positional arguments; returns the list they are appended to."""
    calls = []
    real = getattr(owner, name)

    def recording(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recording)
    return calls


def record_jobs(monkeypatch, owner, name, calls=None, parallel=None):
    """:func:`record_calls` for a numba kernel of jobs, which also runs in
    parallel groups: :func:`polyphase.engine.groups.run` receives the kernel
    and its arguments (without the job range, which a serial call ends with)
    and calls its compiled code by address (also for a serial run of many
    jobs, with one group).  Each call's arguments are appended to ``calls``
    (a new list if None), which is returned, and those of parallel runs
    (several groups) also to ``parallel`` if given.  ``owner`` may be a
    dict of kernels (``name`` a key)."""
    from polyphase.engine import groups

    calls = [] if calls is None else calls
    real = owner[name] if isinstance(owner, dict) else getattr(owner, name)

    def recording(*args):
        calls.append(args)
        return real(*args)

    if isinstance(owner, dict):
        monkeypatch.setitem(owner, name, recording)
    else:
        monkeypatch.setattr(owner, name, recording)
    run = groups.run

    def run_recording(kernel, args, njobs, ngroups, **options):
        if kernel is recording:
            calls.append(args)
            if parallel is not None and ngroups > 1:
                parallel.append(args)
            kernel = real
        return run(kernel, args, njobs, ngroups, **options)

    monkeypatch.setattr(groups, "run", run_recording)
    return calls


def assert_window_matches_dense(op, x, mode):
    """``op(x, mode=mode)`` equals the operator's dense matrix times ``x``,
    in ``x``'s dtype."""
    y = op(x, mode=mode)
    D = reference_matrix(op, x.shape, mode)
    tol = 1e-5 if x.dtype == np.float32 else tolerance(x.dtype)
    np.testing.assert_allclose(y.ravel(), D @ x.ravel(), rtol=tol, atol=tol)
    assert y.dtype == x.dtype


def brute_conv_transpose2d(x, w, stride, padding, output_padding):
    """torch.nn.functional.conv_transpose2d, one channel, by scattering
    (``stride``, ``padding`` and ``output_padding`` an int or a pair)."""
    lanes, n1, n2 = x.shape
    k1, k2 = w.shape
    (s1, s2), (q1, q2), (o1, o2) = (np.broadcast_to(v, 2) for v in
                                    (stride, padding, output_padding))
    full = np.zeros((lanes, (n1 - 1) * s1 + k1 + o1, (n2 - 1) * s2 + k2 + o2))
    for i in range(n1):
        for j in range(n2):
            full[:, i * s1:i * s1 + k1, j * s2:j * s2 + k2] += x[:, i, j, None, None] * w
    return full[:, q1:full.shape[1] - q1, q2:full.shape[2] - q2]


def window_equals_without(monkeypatch, op, x, mode, calls, owner, switch):
    """``op(x, mode=mode, channel_axis=0)``, after checking that it ran the
    route whose calls ``calls`` records and that it equals, to 1e-12, the
    same window with that route switched off (``owner.switch`` returning
    False, so that the call takes the route it would take otherwise)."""
    got = op(x, mode=mode, channel_axis=0)
    assert calls
    with monkeypatch.context() as m:
        m.setattr(owner, switch, lambda *args: False)
        expected = op(x, mode=mode, channel_axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    return got
