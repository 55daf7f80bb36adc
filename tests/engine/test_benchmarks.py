"""Smoke tests of ``python -m benchmarks.step`` at toy sizes: every mode runs and prints its
table (the timings themselves are not checked: they belong to the benchmark, not to CI)."""

import numba
import numpy as np
import pytest

import implicit._numba as K
import implicit.linalg as L
import implicit.solver as S
from benchmarks import step

TOY = ["--N", "16", "--d", "4", "--m", "24", "--steps", "3", "--warmup", "2", "--repeats", "1"]


def test_headline_table(capsys):
    step.main(TOY + ["--late-steps", "4", "7"])
    out = capsys.readouterr().out
    for row in ("ours: median s / GD step", "ours: ... in BLAS products (one more run)", "ours / DGEMM rate", "fwd + adj work, full-batch iterations",
                "least products at our work, s / GD step",
                "ours, steps 4-7: work (target <= 10)", "ours, steps 4-7: slowest sample"):
        assert row in out
    step.main(TOY + ["--late-steps", "0", "0"])
    assert "steps 4-7" not in capsys.readouterr().out
    with pytest.raises(SystemExit, match="late-steps"):
        step.main(TOY + ["--late-steps", "5", "5"])


def test_other_modes(capsys):
    step.main(["solvers"] + TOY)
    step.main(["float32", "--f32-steps", "8"] + TOY)
    step.main(["scaling", "--scaling-steps", "2", "--m-grid", "16", "24", "--N-grid", "8", "16"] + TOY)
    out = capsys.readouterr().out
    assert "+ float32 increments (default)" in out and "speed-up float32 vs float64" in out
    assert "fitted exponent of time per step in m" in out and "fitted exponent of time per step in N" in out


def test_floor_seconds():
    """2 float64 + (work − 2) float32 iterations, ∇A, and 4Nmd for XWᵀ and ∇W."""
    N, d, m = 10, 3, 20
    t64, t32 = 2 * m * m * N / 1e9, 2 * m * m * N / 4e9
    assert step.floor_seconds(7.5, N, d, m, 1e9, 4e9) == pytest.approx(3 * t64 + 5.5 * t32 + 4 * N * m * d / 1e9)
    assert step.floor_seconds(1.0, N, d, m, 1e9, 4e9) == pytest.approx(2 * t64 + 4 * N * m * d / 1e9)


def test_breakdown_accounts_for_every_timed_call(capsys):
    """Every product is attributed to its solve (float64 steps / float32 increments), the
    gradients or the features; the timed parts fit inside the step; the engine is restored."""
    parts = step.main(["breakdown"] + TOY)["breakdown"]
    for label in ("forward solve: float64 steps", "adjoint solve: float64 steps", "forward solve: float32 increments",
                  "adjoint solve: float32 increments", "gradients ∇A, ∇W",
                  "features XWᵀ", "power iteration for ρ (GEMVs)", "Numba pass relu_map", "Numba pass axpy_dist"):
        assert parts[label] > 0, label
    known = ("forward solve: ", "adjoint solve: ", "gradients", "features", "power", "Numba pass ", "products, all",
             "Numba passes, all", "untimed rest", "GD step", "least products")
    assert all(label.startswith(known) for label in parts), parts
    timed = parts["products, all"] + parts["Numba passes, all"] + parts["power iteration for ρ (GEMVs)"]
    assert timed < parts["GD step, mean"]
    assert S.np is np and S._numba is K and L.PowerNorm.estimate.__qualname__ == "PowerNorm.estimate"


def test_instrumented_restores_after_an_error():
    with pytest.raises(RuntimeError), step.instrumented():
        assert S.np is not np and S._numba is not K
        raise RuntimeError
    assert S.np is np and S._numba is K


def test_kernels_compile_inside_instrumented():
    """A kernel compiled inside the block (an empty Numba cache: a fresh clone's first run)
    resolves its helpers from ``_kernels``, which must stay untouched."""
    relu_map = numba.njit(K.relu_map.py_func)  # uncached: compiles on the call below
    P, Phi, Z = np.ones((2, 3)), np.zeros((2, 3)), np.zeros((2, 3))
    res, delta = np.empty(2), np.empty((2, 3), np.float32)
    with step.instrumented():
        relu_map(P, Phi, Z, Z, res, 0.5, delta)
    np.testing.assert_allclose(Z, 0.5)
    np.testing.assert_allclose(res, 0.5 * np.sqrt(3))
