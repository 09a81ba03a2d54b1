"""Sphinx configuration for the polyphase documentation.

Build from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python -m sphinx -b doctest docs docs/_build/doctest
"""

import doctest
import os
import sys

# Make the package importable from the repository root without installing it.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import polyphase  # noqa: E402

project = "polyphase"
author = "the polyphase developers"
copyright = "the polyphase developers"
release = polyphase.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
]

root_doc = "index"
exclude_patterns = ["_build"]
templates_path = []

# -- autodoc / autosummary / numpydoc ---------------------------------------
# The API page lists members explicitly; no stub files are generated.
autosummary_generate = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- doctest ------------------------------------------------------------------
# Every ``>>>`` block, in the pages and in the docstrings pulled in by autodoc,
# is run by ``sphinx -b doctest``.
doctest_global_setup = """
import numpy as np
import polyphase as pp
"""
doctest_default_flags = (doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
                         | doctest.DONT_ACCEPT_TRUE_FOR_1)

# -- HTML -----------------------------------------------------------------------
html_theme = "alabaster"
html_static_path = []
html_theme_options = {
    "description": "Multirate DSP with composable, exact operators",
    "fixed_sidebar": True,
}
