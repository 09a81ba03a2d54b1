"""Shared fixtures: the registry of operators every generic property runs over.

Add an operator here and test_generic.py checks it (adjoint identity, dense
matrix against the numpy reference, batching, dtypes) for several lengths and
modes.
"""

import numpy as np
import pytest
from hypothesis import settings

import polyphase as pp

settings.register_profile("ci", max_examples=60, deadline=None)
settings.load_profile("ci")

_q = np.array([0.5, -1.0, 2.0, 0.25])
_g = np.array([1.0, 2.0, -1.0])

OPERATORS = {
    "conv": pp.Conv(_q),
    "conv-complex": pp.Conv([1 + 2j, -0.5j, 3.0]),
    "conv-zero-edges": pp.Conv([0.0, 1.0, 2.0, 0.0]),
    "up3": pp.Up(3),
    "down2": pp.Down(2),
    "repeat3": pp.Repeat(3),
    "delay2": pp.Delay(2),
    "advance3": pp.Delay(-3),
    "identity": pp.Identity(),
    "strided-conv": pp.Down(2) @ pp.Conv(_q),
    "transposed-conv": pp.Conv(_q).T @ pp.Up(2),
    "interpolator": pp.Conv(_q) @ pp.Up(3),
    "rational-3/2": pp.Down(2) @ pp.Conv(_q) @ pp.Up(3),
    "rational-2/5": pp.Down(5) @ pp.Conv(pp.dilate(_g, 2)) @ pp.Up(2),
    "repeat-conv": pp.Conv(_g) @ pp.Repeat(2),
    "sum": pp.Up(2) @ pp.Down(3) + pp.Down(3) @ pp.Up(2),
    "difference-scaled": 2.5 * pp.Conv(_g) - pp.Delay(1),
    "adjoint-complex": (pp.Down(2) @ pp.Conv([1j, 2.0, -1.0])).H,
    "up-down-4": pp.Up(4) @ pp.Down(4),
}


@pytest.fixture(params=sorted(OPERATORS), ids=sorted(OPERATORS))
def registered(request):
    return OPERATORS[request.param]
