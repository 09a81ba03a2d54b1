"""Submodules imported on first use, looked up cheaply afterwards.

``import polyphase`` stays fast because numba, scipy.sparse and matplotlib
are imported only by the submodules that need them.  An ``import`` statement
inside a function re-runs the import machinery on every call (~0.4 us, a
tenth of filtering 256 samples), so hot paths look the module up here.
"""

import sys
from importlib import import_module


def submodule(name: str):
    """The module ``name`` (dotted, absolute), importing it the first time."""
    module = sys.modules.get(name)
    return module if module is not None else import_module(name)
