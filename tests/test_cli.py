"""``python -m polyphase explain``: the main job of the README."""

import subprocess
import sys

import numpy as np
import pytest

from polyphase.__main__ import main


def test_explain_prints_operator_components_and_matrices(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
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
                                  ["explain", "--mode", "wide"],
                                  ["explain", "--figures", "x", "--no-figures"], []])
def test_explain_rejects_bad_arguments(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2


def test_module_entry_point_runs(tmp_path):
    # as in a fresh clone: the default figure directory is created in the cwd
    result = subprocess.run([sys.executable, "-m", "polyphase", "explain", "-s", "3",
                             "-k", "1,1,1", "-n", "4"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Down(3) @ Conv([1, 1, 1])" in result.stdout
    assert "checkerboard-free: True" in result.stdout
    assert sorted(p.name for p in (tmp_path / "polyphase-figures").iterdir()) == FIGURES


def test_import_is_light():
    # numba, scipy.sparse, scipy.signal, scipy.fft and matplotlib load on first
    # use, not on import
    code = ("import sys, polyphase; "
            "print(sorted(m for m in ('numba', 'scipy.sparse', 'scipy.signal', "
            "'scipy.fft', 'matplotlib', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


FIGURES = ["aliasing.png", "checkerboard.png", "frequency_response.png",
           "polyphase_components.png"]


def _line(out, prefix):
    [line] = [x for x in out.splitlines() if x.startswith(prefix)]
    return line


def test_explain_prints_the_checkerboard_analysis(capsys):
    # Odena's rule says size 4, stride 2 is fine; the phase gains say otherwise
    assert main(["explain", "-s", "2", "-k", "1,2,3,4", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "== checkerboard analysis of the transposed convolution" in out
    assert "scatter kernel w = [4. 3. 2. 1.] (q reversed), stride 2" in out
    assert _line(out, "phase gains").endswith(": [6. 4.]")
    metrics = _line(out, "max/min ratio")
    assert "max/min ratio: 1.5 " in metrics and "(max-min)/mean: 0.4 " in metrics
    alias = float(metrics.split("alias fraction:")[1])
    assert alias == pytest.approx(1 - 10 ** 2 / (2 * (6 ** 2 + 4 ** 2)), rel=1e-5)
    assert "checkerboard-free: False" in out
    verdict = _line(out, "verdict: ")
    assert verdict.startswith("verdict: CHECKERBOARD")
    assert "'kernel size divisible by stride' rule is the wrong test" in verdict
    assert "size 4 is divisible by stride 2, yet the gains differ" in verdict
    assert "saved" not in out


def test_explain_checkerboard_free_kernel_of_odd_size(capsys):
    assert main(["explain", "-s", "2", "-k", "1,2,1", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert _line(out, "phase gains").endswith(": [2. 2.]")
    assert "checkerboard-free: True" in out
    verdict = _line(out, "verdict: ")
    assert verdict.startswith("verdict: no checkerboard")
    assert "size 3 is not divisible by stride 2, yet the gains are equal" in verdict
    # stride 3: gains of [1, 1, 1] are all 1 and the rule agrees by coincidence
    assert main(["explain", "-s", "3", "-k", "1,1,1", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert _line(out, "phase gains").endswith(": [1. 1. 1.]")
    assert "agrees here by coincidence" in _line(out, "verdict: ")


def test_explain_saves_figures(capsys, tmp_path):
    target = tmp_path / "new" / "figs"
    assert main(["explain", "-s", "2", "-k", "1,1,1", "--figures", str(target)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in target.iterdir()) == FIGURES
    for name in FIGURES:
        data = (target / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
        assert f"saved {target / name}" in out
    # another kernel draws other pictures
    other = tmp_path / "other"
    assert main(["explain", "-s", "2", "-k", "1,2,1", "--figures", str(other)]) == 0
    for name in FIGURES:
        assert (target / name).read_bytes() != (other / name).read_bytes()


def test_explain_default_figure_directory_and_no_figures(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "--no-figures"]) == 0
    assert not (tmp_path / "polyphase-figures").exists()
    assert main(["explain"]) == 0
    assert sorted(p.name for p in (tmp_path / "polyphase-figures").iterdir()) == FIGURES
    assert main(["explain", "-k", "1,2,3"]) == 0          # an existing directory is fine
    assert "saved polyphase-figures" in capsys.readouterr().out


def test_explain_complex_kernel_skips_the_checkerboard(capsys, tmp_path):
    assert main(["explain", "-k", "1,1j", "--figures", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "skipped: the checkerboard analysis needs a real kernel" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["aliasing.png", "frequency_response.png", "polyphase_components.png"]
