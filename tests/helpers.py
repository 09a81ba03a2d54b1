"""Small helpers shared by the test modules (plain functions, not fixtures)."""

import numpy as np


def random_array(shape, dtype, rng):
    """Standard normal samples of ``dtype`` (complex dtypes get both parts)."""
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def tolerance(dtype):
    """Relative tolerance for results computed in ``dtype``."""
    return 2e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
