"""``python -m polyphase explain``: the main job of the README."""

import subprocess
import sys

import numpy as np
import pytest

from polyphase.__main__ import main


def test_explain_prints_operator_components_and_matrices(capsys):
    assert main(["explain", "--stride", "2", "--kernel", "1,2,3", "--length", "5"]) == 0
    out = capsys.readouterr().out
    assert "Down(2) @ Conv([1, 2, 3])" in out
    assert "E[0,0](z) = taps [1. 3.]" in out and "E[0,1](z) = taps [2.]" in out
    assert "equals Conv([1, 2, 3]).T @ Up(2): True" in out
    assert "Conv([1, 2, 3]) @ Repeat(2) equals Conv([1, 3, 5, 3]) @ Up(2): True" in out
    # the printed strided-conv matrix is the full convolution matrix, every 2nd row
    full = np.array([[1, 0, 0, 0, 0], [3, 2, 1, 0, 0], [0, 0, 3, 2, 1], [0, 0, 0, 0, 3]])
    rows = [line for line in out.splitlines() if line.strip().startswith("[")]
    printed = np.array([[float(v) for v in r.replace("[", " ").replace("]", " ").split()]
                        for r in rows[:4]])
    np.testing.assert_array_equal(printed, full)


@pytest.mark.parametrize("args", [["explain", "--stride", "0"],
                                  ["explain", "--kernel", "a,b"],
                                  ["explain", "--kernel", ""],
                                  ["explain", "--mode", "wide"], []])
def test_explain_rejects_bad_arguments(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "polyphase", "explain", "-s", "3",
                             "-k", "1,1,1", "-n", "4"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Down(3) @ Conv([1, 1, 1])" in result.stdout


def test_import_is_light():
    # numba, scipy.sparse and matplotlib load on first use, not on import
    code = ("import sys, polyphase; "
            "print(sorted(m for m in ('numba', 'scipy.sparse', 'matplotlib', 'torch') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
