"""Smoke tests of ``python -m benchmarks.step`` at toy sizes: every mode runs and prints its
table (the timings themselves are not checked: they belong to the benchmark, not to CI), and
the breakdown's instrumentation (the engine's timing hook, :mod:`implicit._timing`)."""

import numpy as np
import pytest

import implicit
from benchmarks import step
from implicit import _timing

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
    gradients or the features; the timed parts fit inside the step; no sink stays installed."""
    parts = step.main(["breakdown"] + TOY)["breakdown"]
    for label in ("forward solve: float64 steps", "adjoint solve: float64 steps", "forward solve: float32 increments",
                  "adjoint solve: float32 increments", "gradients ∇A, ∇W", "features XWᵀ",
                  "power iteration for ρ (GEMVs)", "warm starts (4 Numba passes + NumPy)",
                  "Numba pass relu_map", "Numba pass adjoint_map", "Numba pass axpy_dist"):
        assert parts[label] > 0, label
    known = ("forward solve: ", "adjoint solve: ", "gradients", "features", "power", "warm starts", "Numba pass ",
             "products, all", "Numba passes, all", "untimed rest", "GD step", "least products")
    assert all(label.startswith(known) for label in parts), parts
    timed = (parts["products, all"] + parts["Numba passes, all"] + parts["power iteration for ρ (GEMVs)"]
             + parts["warm starts (4 Numba passes + NumPy)"])
    assert timed <= parts["GD step, mean"]
    assert "not attributable any more" in capsys.readouterr().out
    assert _timing.sink is None


def _toy_run(steps=6):
    X, y, params = step.problem(16, 4, 24)
    return implicit.train(params, X, y, 0.1, lr=0.01, steps=steps, solver=implicit.SolverSettings(tol=1e-10))[1]


def test_instrumented_steps_fit_in_the_step_and_products_go_to_the_solves():
    """Per GD step, the timed pieces add up to no more than the step's time, and each solve's
    products are reported as such, with their row counts and dtypes."""
    with step.instrumented() as log:
        trace = _toy_run()
    assert len(log) == len(trace)  # one entry per evaluated GD step
    assert _timing.sink is None
    seconds = trace["seconds"].diff().to_numpy()
    for k in range(1, len(trace)):
        assert 0 < sum(c[3] for c in log[k]) <= seconds[k], k
        parts = {c[0] for c in log[k]}
        assert {"forward", "features", "power", "warmstart", "pass:relu_map", "pass:relu_scaled",
                "pass:axpy_dist"} <= parts, (k, parts)  # axpy_dist: the update before step k
        grad = {"adjoint", "gradients", "pass:adjoint_map", "pass:mask_positive", "pass:mask_scale_rows"}
        if k < len(trace) - 1:
            assert grad <= parts, (k, parts)
        else:  # the last step computes no gradient
            assert not grad & parts, (k, parts)
        for part, rows, dtype, sec in log[k]:
            assert sec >= 0
            if part in ("forward", "adjoint"):
                assert 1 <= rows <= 16 and dtype in ("float64", "float32")
            elif part in ("gradients", "features"):
                assert dtype == "float64"
            else:
                assert dtype == ""
    both = {(c[0], c[2]) for calls in log[1:] for c in calls if c[0] in ("forward", "adjoint")}
    assert both == {(s, t) for s in ("forward", "adjoint") for t in ("float64", "float32")}


def test_instrumented_run_gives_the_same_losses():
    """The hook only reads the clock: the trajectory is bit for bit the same with it."""
    plain = _toy_run()
    with step.instrumented() as log:
        timed = _toy_run()
    assert log and _timing.sink is None
    cols = ["train_loss", "rho", "fwd_iter", "adj_iter", "fwd_work", "adj_work", "fwd_residual", "adj_residual"]
    np.testing.assert_array_equal(plain[cols].to_numpy(), timed[cols].to_numpy())


def test_instrumented_uninstalls_after_an_error():
    with pytest.raises(RuntimeError), step.instrumented():
        assert _timing.sink is not None
        raise RuntimeError
    assert _timing.sink is None


def test_no_sink_no_reports():
    """Without a sink the engine calls nothing: a sink that was installed and removed is not
    called by a later run."""
    seen = []
    with _timing.installed(lambda *a: seen.append(a)):
        pass
    _toy_run(2)
    assert seen == [] and _timing.sink is None
    with pytest.raises(TypeError, match="callable"), _timing.installed(None):
        pass
