"""Gradient descent (implicit.train) and gradient flow (implicit.gradient_flow)."""

import numpy as np
import pandas as pd
import pytest

import implicit
from implicit import BLOCKS, GRAM_COLUMNS, INVARIANT_COLUMNS, TRACE_COLUMNS

from tests.reference import model as R

N, D, M, GAMMA = 20, 10, 80, 0.1


@pytest.fixture(scope="module")
def data():
    X, y = R.make_data(N, D, 0)
    Xt, yt = R.make_data(7, D, 3)
    return X, y, Xt, yt


@pytest.fixture(scope="module")
def params():
    return implicit.init_params(D, M, seed=1)


@pytest.fixture(scope="module")
def long_run(data, params):
    X, y, Xt, yt = data
    p0 = params.copy()
    theta, trace = implicit.train(params, X, y, GAMMA, lr="auto", steps=300, X_test=Xt, y_test=yt)
    for b in BLOCKS:  # the input parameters are not modified
        np.testing.assert_array_equal(getattr(params, b), getattr(p0, b))
    return theta, trace


def rho_exact(p, gamma=GAMMA):
    return gamma * np.linalg.norm(p.A, 2) / np.sqrt(p.m)


# -- GD on all blocks ------------------------------------------------------------------------
def test_gd_converges_linearly(long_run):
    _, tr = long_run
    assert tr.attrs["status"] == "completed" and tr.attrs["reason"] is None
    loss = tr["train_loss"].to_numpy()
    assert len(tr) == 301 and list(tr["step"]) == list(range(301))
    assert loss[-1] <= 1e-4 * loss[0], (loss[0], loss[-1])
    assert np.all(np.diff(loss) < 0)  # η = 1/λ_max: monotone
    half = tr["step"] >= 150
    k, logl = tr["step"][half].to_numpy(float), np.log(loss[half])
    slope, icpt = np.polyfit(k, logl, 1)
    r2 = 1 - np.sum((logl - (slope * k + icpt)) ** 2) / np.sum((logl - logl.mean()) ** 2)
    assert slope < 0 and r2 > 0.95, (slope, r2)


def test_trace_columns_and_attrs(long_run):
    _, tr = long_run
    assert list(tr.columns) == list(TRACE_COLUMNS)
    assert {"lr", "status", "reason"} <= set(tr.attrs)
    assert np.all(np.isfinite(tr[["train_loss", "test_loss", "rho", "fwd_residual", "rel_change_A", "rel_change_W"]].to_numpy()))
    assert np.all(tr["fwd_iter"] >= 1)
    if "fwd_work" in tr:  # work = sample-iterations / N: at most the slowest sample's count
        assert np.all((tr["fwd_work"] > 0) & (tr["fwd_work"] <= tr["fwd_iter"] + 1e-12))
        assert np.all(tr["adj_work"].iloc[:-1] <= tr["adj_iter"].iloc[:-1] + 1e-12)
    # an adjoint is solved at every step that takes a GD step
    assert np.all(tr["adj_iter"].iloc[:-1] >= 1)
    assert np.all(tr["fwd_residual"] < 1e-10) and np.all(tr["adj_residual"].iloc[:-1] < 1e-10)
    assert np.all(np.diff(tr["seconds"]) >= 0)
    assert tr["rel_change_A"].iloc[0] == 0 and tr["rel_change_W"].iloc[0] == 0


def test_rho_column(long_run, params):
    theta, tr = long_run
    # the warm-started power iteration has aligned after 300 steps
    assert tr["rho"].iloc[-1] == pytest.approx(rho_exact(theta), rel=1e-6)
    # step 0 is a cold power iteration (stops on a 1e-6 relative change, small eigengap): a lower
    # bound within ~1e-4
    assert tr["rho"].iloc[0] == pytest.approx(rho_exact(params), rel=1e-4)
    assert tr["rho"].iloc[0] <= rho_exact(params) * (1 + 1e-12)
    assert tr["rho"].max() < 1


def test_rel_change_columns(long_run, params):
    theta, tr = long_run
    ra = np.linalg.norm(theta.A - params.A) / np.linalg.norm(params.A)
    rw = np.linalg.norm(theta.W - params.W) / np.linalg.norm(params.W)
    assert tr["rel_change_A"].iloc[-1] == pytest.approx(ra, rel=1e-12)
    assert tr["rel_change_W"].iloc[-1] == pytest.approx(rw, rel=1e-12)
    assert ra > 0 and rw > 0


def test_final_losses_match_final_params(long_run, data):
    theta, tr = long_run
    X, y, Xt, yt = data
    assert tr["train_loss"].iloc[-1] == pytest.approx(implicit.loss(theta, X, y, GAMMA, solver=implicit.SolverSettings(tol=1e-13)), rel=1e-6)
    assert tr["test_loss"].iloc[-1] == pytest.approx(implicit.loss(theta, Xt, yt, GAMMA, solver=implicit.SolverSettings(tol=1e-13)), rel=1e-9)


def test_auto_lr_is_inverse_lambda_max(long_run, data, params):
    _, tr = long_run
    X, y, _, _ = data
    lmax = np.linalg.eigvalsh(sum(R.gram_blocks(params, X, GAMMA).values()))[-1]
    assert tr.attrs["lr"] == pytest.approx(1.0 / lmax, rel=1e-8)
    for trainable in [("A",), ("u", "v")]:
        _, t2 = implicit.train(params, X, y, GAMMA, lr="auto", steps=0, trainable=trainable)
        Hr = R.gram_blocks(params, X, GAMMA)
        lmax_b = np.linalg.eigvalsh(sum(Hr[b] for b in trainable))[-1]
        assert t2.attrs["lr"] == pytest.approx(1.0 / lmax_b, rel=1e-8), trainable
        assert len(t2) == 1 and t2.attrs["status"] == "completed"


def test_gd_step_is_theta_minus_lr_grad(data, params):
    """One step: θ(1) = θ(0) − η∇L(θ(0)) with the engine's gradient."""
    X, y, _, _ = data
    lr = 0.03
    theta, tr = implicit.train(params, X, y, GAMMA, lr=lr, steps=1, solver=implicit.SolverSettings(tol=1e-13))
    _, g = implicit.loss_and_grad(params, X, y, GAMMA, solver=implicit.SolverSettings(tol=1e-13))
    for b in BLOCKS:
        np.testing.assert_allclose(getattr(theta, b), getattr(params, b) - lr * getattr(g, b), rtol=0, atol=1e-13)
    assert tr.attrs["lr"] == lr


def test_train_matches_plain_gd_loop(data, params):
    """train (warm starts extrapolated along the trajectory, active-set solves, certified
    stopping, float32 increments) follows the textbook loop θ ← θ − η∇L(θ) with cold,
    independent float64 solves; so do extrapolate=False and the plain solves."""
    X, y, _, _ = data
    lr, steps, tol = 0.05, 12, 1e-12
    theta = params.copy()
    losses = []
    for _ in range(steps):
        L, g = implicit.loss_and_grad(theta, X, y, GAMMA, solver=implicit.SolverSettings(tol=tol))
        losses.append(L)
        theta = theta - lr * g
    losses.append(implicit.loss(theta, X, y, GAMMA, solver=implicit.SolverSettings(tol=tol)))
    for kw, mixed in (({}, None), ({"extrapolate": False}, None), ({"certified": False}, False)):
        th, tr = implicit.train(params, X, y, GAMMA, lr=lr, steps=steps, **kw, solver=implicit.SolverSettings(tol=tol, mixed=mixed))
        np.testing.assert_allclose(tr["train_loss"], losses, rtol=1e-9)
        for b in BLOCKS:
            ref = getattr(theta, b)
            assert np.abs(getattr(th, b) - ref).max() <= 1e-9 * np.abs(ref).max(), (kw, b)
        assert np.all(tr["fwd_residual"] < tol)
        f32_steps = (tr["fwd_work"] - tr["fwd_work_f64"]).sum()
        assert f32_steps > 0 if mixed is None else f32_steps == 0  # the float32 path ran


def test_record_every(data, params):
    X, y, _, _ = data
    _, tr = implicit.train(params, X, y, GAMMA, lr=0.05, steps=20, record_every=7)
    assert list(tr["step"]) == [0, 7, 14, 20]
    _, full = implicit.train(params, X, y, GAMMA, lr=0.05, steps=20)
    cols = ["train_loss", "rho", "rel_change_A", "rel_change_W"]
    np.testing.assert_allclose(tr[cols].to_numpy(), full.set_index("step").loc[[0, 7, 14, 20], cols].to_numpy(), rtol=1e-12)



def test_progress_callback_sees_every_step_and_changes_nothing(data, params):
    """``progress`` is called once per step with (step, steps, loss, ρ, seconds) and only reads:
    the trace and the parameters are bitwise those of a run without it."""
    X, y, Xt, yt = data
    rows = []
    theta, tr = implicit.train(params, X, y, GAMMA, lr="auto", steps=12, record_every=5, X_test=Xt, y_test=yt,
                               progress=rows.append)
    theta0, tr0 = implicit.train(params, X, y, GAMMA, lr="auto", steps=12, record_every=5, X_test=Xt, y_test=yt)
    pd.testing.assert_frame_equal(tr.drop(columns="seconds"), tr0.drop(columns="seconds"), check_exact=True)
    for b in BLOCKS:
        np.testing.assert_array_equal(getattr(theta, b), getattr(theta0, b))
    assert [r["step"] for r in rows] == list(range(13)) and {r["steps"] for r in rows} == {12}
    assert set(rows[0]) == {"step", "steps", "train_loss", "rho", "seconds"}
    recorded = tr.set_index("step")
    for r in rows:
        if r["step"] in recorded.index:  # the same loss and ρ as the trace
            assert r["train_loss"] == recorded.loc[r["step"], "train_loss"] and r["rho"] == recorded.loc[r["step"], "rho"]
    assert all(b["seconds"] >= a["seconds"] >= 0 for a, b in zip(rows, rows[1:]))
    # a run that stops reports only its good steps
    stopped = []
    _, bad = implicit.train(params, X, y, GAMMA, lr=0.05, steps=10, max_rho=rho_exact(params) * 0.5, progress=stopped.append)
    assert bad.attrs["status"] == "stopped" and stopped == []

def test_test_set_starts_follow_the_trajectory(data, params, monkeypatch):
    """The test set's forward solves are warm-started like the training set's: extrapolated
    from recorded step to recorded step (fewer iterations), with the same test losses."""
    import implicit.training as T

    X, y, Xt, yt = data
    work, solve = [], T._test_loss

    def spy(theta, X_test, y_test, gamma, tol, warm_test, solver):
        loss = solve(theta, X_test, y_test, gamma, tol, warm_test, solver)
        work.append(warm_test.fwd_work)
        return loss

    monkeypatch.setattr(T, "_test_loss", spy)
    runs = {}
    for extrapolate in (True, False):
        work.clear()
        _, tr = implicit.train(params, X, y, GAMMA, lr=0.05, steps=40, X_test=Xt, y_test=yt, record_every=4,
                               extrapolate=extrapolate)
        runs[extrapolate] = (np.mean(work[3:]), tr["test_loss"].to_numpy())
    assert runs[True][0] < runs[False][0] - 0.5
    np.testing.assert_allclose(runs[True][1], runs[False][1], rtol=1e-9)


def test_track_gram_columns(data, params):
    X, y, _, _ = data
    theta, tr = implicit.train(params, X, y, GAMMA, lr=0.05, steps=3, track_gram=True)
    assert list(tr.columns) == list(TRACE_COLUMNS) + list(GRAM_COLUMNS)
    for row, p in [(tr.iloc[0], params), (tr.iloc[-1], theta)]:
        Hb = implicit.gram(p, X, GAMMA, blocks=True, solver=implicit.SolverSettings(tol=1e-12))
        w = np.linalg.eigvalsh(sum(Hb.values()))
        assert row["lambda_min_H"] == pytest.approx(w[0], rel=1e-7)
        assert row["lambda_max_H"] == pytest.approx(w[-1], rel=1e-9)
        for b in BLOCKS:
            assert row[f"lambda_min_H{b}"] == pytest.approx(np.linalg.eigvalsh(Hb[b])[0], rel=1e-6, abs=1e-12 * w[-1]), b


def test_track_invariants_against_reference(data, params):
    """Each invariant column against the slow reference (tests/reference) at θ(k), k = 0…3:
    H from the dense Jacobian, signs from the per-sample equilibria, per-row movement of W."""
    X, y, _, _ = data
    _, tr = implicit.train(params, X, y, GAMMA, lr=0.05, steps=3, track_invariants=True)
    assert list(tr.columns) == list(TRACE_COLUMNS) + list(GRAM_COLUMNS) + list(INVARIANT_COLUMNS)
    H0 = sum(R.gram_blocks(params, X, GAMMA).values())
    lam0 = np.linalg.eigvalsh(H0)[0]
    d0 = np.array([R.sample_quantities(params, x, GAMMA)["d"] for x in X])
    e0 = X @ params.W.T > 0
    for k in range(4):
        theta = params if k == 0 else implicit.train(params, X, y, GAMMA, lr=0.05, steps=k)[0]
        row = tr.iloc[k]
        H = sum(R.gram_blocks(theta, X, GAMMA).values())
        assert row["gram_change"] == pytest.approx(np.abs(np.linalg.eigvalsh(H - H0)).max() / lam0, rel=1e-5, abs=1e-9)
        move = max(np.linalg.norm(theta.W[r] - params.W[r]) for r in range(M))
        assert row["max_neuron_move"] == pytest.approx(move, rel=1e-12, abs=1e-15)
        d = np.array([R.sample_quantities(theta, x, GAMMA)["d"] for x in X])
        assert row["flip_fraction"] == pytest.approx(np.mean(d != d0))
        assert row["flip_fraction_input"] == pytest.approx(np.mean((X @ theta.W.T > 0) != e0))
    assert tr["gram_change"].iloc[0] == 0 and tr["max_neuron_move"].iloc[0] == 0 and tr["flip_fraction"].iloc[0] == 0
    assert tr["max_neuron_move"].iloc[-1] > 0


def test_track_invariants_leaves_the_run_unchanged(data, params):
    """The tracking only reads: losses, ρ and the Gram columns are those of track_gram."""
    X, y, _, _ = data
    _, a = implicit.train(params, X, y, GAMMA, lr=0.05, steps=5, track_gram=True)
    _, b = implicit.train(params, X, y, GAMMA, lr=0.05, steps=5, track_invariants=True)
    cols = [c for c in a.columns if c != "seconds"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_stop_below_ends_at_the_first_step_under_the_target(data, params):
    X, y, _, _ = data
    _, full = implicit.train(params, X, y, GAMMA, lr="auto", steps=60, record_every=1)
    target = 1e-3
    k = int(full.loc[full["train_loss"] <= target * full["train_loss"].iloc[0], "step"].iloc[0])
    _, tr = implicit.train(params, X, y, GAMMA, lr="auto", steps=60, record_every=7, stop_below=target)
    assert tr["step"].iloc[-1] == k and tr.attrs["status"] == "completed" and f"at step {k}" in tr.attrs["reason"]
    assert tr["train_loss"].iloc[-1] == full["train_loss"].iloc[k]
    assert list(tr["step"].iloc[:-1]) == list(range(0, k, 7))
    with pytest.raises(ValueError, match="stop_below"):
        implicit.train(params, X, y, GAMMA, lr="auto", steps=3, stop_below=1.5)


def test_flips_counted_on_a_long_run(data, params):
    """Over a run long enough to move the weights, some signs flip, and the fraction is a fraction."""
    X, y, _, _ = data
    _, tr = implicit.train(params, X, y, GAMMA, lr="auto", steps=100, record_every=25, track_invariants=True)
    assert 0 < tr["flip_fraction_input"].iloc[-1] < 0.5 and 0 < tr["flip_fraction"].iloc[-1] < 0.5
    assert (tr["gram_change"].iloc[1:] > 0).all()


# -- trainable subsets -------------------------------------------------------------------------
def test_train_A_only_leaves_other_blocks_bitwise(data, params):
    X, y, _, _ = data
    theta, tr = implicit.train(params, X, y, GAMMA, lr="auto", steps=30, trainable=("A",))
    for b in ("W", "u", "v"):
        np.testing.assert_array_equal(getattr(theta, b), getattr(params, b))
    assert not np.array_equal(theta.A, params.A)
    assert np.all(tr["rel_change_W"] == 0) and tr["rel_change_A"].iloc[-1] > 0
    assert tr["train_loss"].iloc[-1] < tr["train_loss"].iloc[0]
    assert tr.attrs["trainable"] == ("A",)


def test_train_uv_never_solves_adjoint(data, params):
    X, y, _, _ = data
    theta, tr = implicit.train(params, X, y, GAMMA, lr="auto", steps=30, trainable=("u", "v"))
    assert np.all(tr["adj_iter"] == 0) and tr["adj_residual"].isna().all()
    np.testing.assert_array_equal(theta.A, params.A)
    np.testing.assert_array_equal(theta.W, params.W)
    assert np.all(tr["rel_change_A"] == 0) and np.all(tr["rel_change_W"] == 0)
    assert tr["train_loss"].iloc[-1] < 0.5 * tr["train_loss"].iloc[0]
    # and also with the Gram columns tracked (which need an adjoint for H^A, H^W)
    _, tr2 = implicit.train(params, X, y, GAMMA, lr="auto", steps=3, trainable=("u", "v"), track_gram=True)
    assert np.all(tr2["adj_iter"] == 0)


# -- stopping ------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_rho", [1.0, np.inf])
def test_forced_divergence_stops_cleanly(data, params, max_rho):
    X, y, _, _ = data
    with np.errstate(all="ignore"):
        theta, tr = implicit.train(params, X, y, GAMMA, lr=1e6, steps=50, max_rho=max_rho)
    assert tr.attrs["status"] == "stopped"
    reason = tr.attrs["reason"]
    assert isinstance(reason, str)
    assert any(s in reason for s in ("non-finite", "did not converge", "rho")), reason
    if max_rho == np.inf:  # no ρ guard: the failure must come from the solves or the loss
        assert "non-finite" in reason or "did not converge" in reason, reason
    assert 1 <= len(tr) < 51
    assert not tr["train_loss"].isna().any() and np.all(np.isfinite(tr["train_loss"]))
    assert not tr.drop(columns=["test_loss", "adj_residual"]).isna().any().any()


def test_max_rho_stops_at_step_zero(data, params):
    X, y, _, _ = data
    rho0 = rho_exact(params)
    theta, tr = implicit.train(params, X, y, GAMMA, lr=0.05, steps=10, max_rho=rho0 * (1 - 1e-3))
    assert tr.attrs["status"] == "stopped"
    assert "rho" in tr.attrs["reason"] and "step 0" in tr.attrs["reason"]
    assert len(tr) == 0 and list(tr.columns) == list(TRACE_COLUMNS)
    for b in BLOCKS:
        np.testing.assert_array_equal(getattr(theta, b), getattr(params, b))
    _, ok = implicit.train(params, X, y, GAMMA, lr=0.05, steps=5, max_rho=rho0 * 1.01)
    assert ok.attrs["status"] == "completed" and len(ok) == 6


def test_deterministic(data):
    X, y, Xt, yt = data
    runs = []
    for _ in range(2):
        p = implicit.init_params(D, M, seed=11)
        theta, tr = implicit.train(p, X, y, GAMMA, lr="auto", steps=40, X_test=Xt, y_test=yt, track_gram=True)
        runs.append((theta, tr.drop(columns=["seconds"])))
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1], check_exact=True)
    for b in BLOCKS:
        np.testing.assert_array_equal(getattr(runs[0][0], b), getattr(runs[1][0], b))
    assert runs[0][1].attrs["lr"] == runs[1][1].attrs["lr"]
    # a different seed gives a different run
    _, other = implicit.train(implicit.init_params(D, M, seed=12), X, y, GAMMA, lr="auto", steps=3)
    assert other["train_loss"].iloc[0] != runs[0][1]["train_loss"].iloc[0]


# -- validation ------------------------------------------------------------------------------------
def test_train_input_validation(data, params):
    X, y, Xt, yt = data
    kw = dict(lr=0.05, steps=2)
    Xn = X.copy()
    Xn[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        implicit.train(params, Xn, y, GAMMA, **kw)
    with pytest.raises(ValueError, match=rf"shape \(N, {D}\)"):
        implicit.train(params, X[:, :-1], y, GAMMA, **kw)
    with pytest.raises(ValueError, match="y must have shape"):
        implicit.train(params, X, y[:-1], GAMMA, **kw)
    with pytest.raises(ValueError, match="y must have shape"):
        implicit.train(params, X, y[:, None], GAMMA, lr="auto", steps=2)
    for g in (0.0, -0.5):
        with pytest.raises(ValueError, match="gamma"):
            implicit.train(params, X, y, g, **kw)
    with pytest.raises(ValueError, match="method"):
        implicit.train(params, X, y, GAMMA, **kw, solver=implicit.SolverSettings(method="newton"))
    with pytest.raises(ValueError, match="trainable"):
        implicit.train(params, X, y, GAMMA, trainable=("A", "b"), **kw)
    for lr in (0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="lr"):
            implicit.train(params, X, y, GAMMA, lr=lr, steps=2)
    with pytest.raises(ValueError):
        implicit.train(params, X, y, GAMMA, lr=0.05, steps=-1)
    with pytest.raises(ValueError):
        implicit.train(params, X, y, GAMMA, lr=0.05, steps=2, record_every=0)
    with pytest.raises(ValueError, match="y_test"):
        implicit.train(params, X, y, GAMMA, X_test=Xt, **kw)
    with pytest.raises(ValueError, match=rf"shape \(N, {D}\)"):
        implicit.train(params, X, y, GAMMA, X_test=Xt[:, :2], y_test=yt, **kw)


def test_train_lr_string_message(data, params):
    """A misspelt lr gets a message that names lr (not just float()'s conversion error)."""
    X, y, _, _ = data
    with pytest.raises(ValueError, match="lr"):
        implicit.train(params, X, y, GAMMA, lr="autp", steps=2)


def test_train_validates_y_test(data, params):
    """y_test is checked like y: shape (N_test,) and finite, with a ValueError naming y.

    (Unchecked, a scalar or NaN y_test silently gives a broadcast or NaN test loss.)
    """
    X, y, Xt, yt = data
    for bad, y_bad in {"scalar": np.float64(1.0), "nan": np.r_[yt[:-1], np.nan],
                       "short": yt[:-1], "column": yt[:, None]}.items():
        try:
            implicit.train(params, X, y, GAMMA, lr=0.05, steps=2, X_test=Xt, y_test=y_bad)
        except ValueError as exc:
            assert "y" in str(exc) and "shape" in str(exc) or "finite" in str(exc), (bad, str(exc))
        except Exception as exc:  # noqa: BLE001 - any other exception type is the bug
            pytest.fail(f"y_test {bad}: {type(exc).__name__}: {exc}")
        else:
            pytest.fail(f"y_test {bad}: accepted without error")


# -- gradient flow ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    X, y = R.make_data(5, 3, 0)
    p = implicit.init_params(3, 8, seed=1)
    gamma = 0.2
    lmax = np.linalg.eigvalsh(implicit.gram(p, X, gamma))[-1]
    return p, X, y, gamma, lmax


def test_gradient_flow_monotone_and_initial_slope(tiny):
    p, X, y, gamma, lmax = tiny
    p0 = p.copy()
    gf = implicit.gradient_flow(p, X, y, gamma, t_max=4.0 / lmax, n_eval=21)
    for b in BLOCKS:  # the input parameters are not modified
        np.testing.assert_array_equal(getattr(p, b), getattr(p0, b))
    assert list(gf.columns) == ["t", "loss"] and len(gf) == 21
    np.testing.assert_allclose(gf["t"], np.linspace(0, 4.0 / lmax, 21), rtol=1e-14)
    assert gf.attrs["status"] == 0 and gf.attrs["nfev"] > 0
    assert np.all(np.diff(gf["loss"]) < 0)
    L0, g = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=1e-13))
    assert gf["loss"].iloc[0] == pytest.approx(L0, rel=1e-10)
    assert gf["loss"].iloc[-1] < 0.5 * L0
    # dL/dt = −‖∇L‖² at t = 0
    t1 = 1e-4 / lmax
    short = implicit.gradient_flow(p, X, y, gamma, t_max=t1, t_eval=[0.0, t1], rtol=1e-10, atol=1e-12)
    slope = (short["loss"].iloc[1] - short["loss"].iloc[0]) / t1
    assert slope == pytest.approx(-g.vdot(g), rel=1e-3)
    with pytest.raises(ValueError, match="t_max"):
        implicit.gradient_flow(p, X, y, gamma, t_max=0.0)


def test_gd_approaches_gradient_flow(tiny):
    """GD loss at step k vs GF loss at t = kη: error O(η) (halves when η halves), ≤ 1e-2 relative."""
    p, X, y, gamma, lmax = tiny
    T = 4.0 / lmax
    errs = []
    for frac in (0.02, 0.01):
        lr = frac / lmax
        steps = int(round(T / lr))
        _, tr = implicit.train(p, X, y, gamma, lr=lr, steps=steps, record_every=steps // 10, solver=implicit.SolverSettings(tol=1e-12))
        gf = implicit.gradient_flow(p, X, y, gamma, t_max=T, t_eval=tr["step"].to_numpy() * lr, rtol=1e-9, atol=1e-12)
        errs.append(np.max(np.abs(tr["train_loss"].to_numpy() - gf["loss"].to_numpy()) / gf["loss"].to_numpy()))
    assert errs[0] <= 2e-2 and errs[1] <= 1e-2, errs
    assert 0.35 <= errs[1] / errs[0] <= 0.65, errs  # first order in η


def test_gradient_flow_subset(tiny):
    p, X, y, gamma, lmax = tiny
    gf = implicit.gradient_flow(p, X, y, gamma, t_max=2.0 / lmax, n_eval=6, trainable=("u", "v"))
    assert np.all(np.diff(gf["loss"]) < 0)
    # training u, v only is linear least squares in (u, v) with fixed features: compare with GD
    lr = 0.005 / lmax
    _, tr = implicit.train(p, X, y, gamma, lr=lr, steps=400, trainable=("u", "v"), record_every=80)
    gf2 = implicit.gradient_flow(p, X, y, gamma, t_max=400 * lr, t_eval=tr["step"].to_numpy() * lr, trainable=("u", "v"), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tr["train_loss"], gf2["loss"], rtol=1e-2)


def test_width_one_trains():
    """m = 1 (and 2): the cold start of the ρ estimate must not need ARPACK (k < min(shape))."""
    X = np.eye(3)
    for m in (1, 2):
        theta, tr = implicit.train(implicit.init_params(3, m, 0), X, np.ones(3), 0.1, lr=0.01, steps=2)
        assert tr.attrs["status"] == "completed"
        np.testing.assert_allclose(tr["rho"].iloc[-1], 0.1 * np.linalg.norm(theta.A, 2) / np.sqrt(m), rtol=1e-6)


def test_gradient_flow_stops_at_the_floor_or_reaches_its_horizon(tiny):
    """stop_below: a terminal event once L ≤ stop_below·L(0); t_end records where the solve ended."""
    p, X, y, gamma, lmax = tiny
    T = 4.0 / lmax
    full = implicit.gradient_flow(p, X, y, gamma, t_max=T, n_eval=21)
    assert full.attrs["status"] == 0 and full.attrs["t_end"] == pytest.approx(T)  # reached its horizon
    level = float(full["loss"].iloc[10] / full["loss"].iloc[0])  # the loss ratio halfway
    stopped = implicit.gradient_flow(p, X, y, gamma, t_max=T, n_eval=21, stop_below=level)
    assert stopped.attrs["status"] == 1 and stopped.attrs["t_end"] < T
    assert stopped.attrs["t_end"] == pytest.approx(full["t"].iloc[10], rel=1e-2)
    assert len(stopped) <= 11 and (stopped["loss"] / stopped["loss"].iloc[0] >= level * (1 - 1e-9)).all()
    never = implicit.gradient_flow(p, X, y, gamma, t_max=T, n_eval=21, stop_below=1e-12)  # floor not reached
    assert never.attrs["status"] == 0 and len(never) == 21
    with pytest.raises(ValueError, match="stop_below"):
        implicit.gradient_flow(p, X, y, gamma, t_max=T, stop_below=1.5)


@pytest.mark.parametrize("m", [8, 40])
def test_uv_training_is_linear_least_squares_in_closed_form(data, m):
    """Training u, v only leaves A, W and so Z, Φ at θ(0): GD is r(k+1) = (I − ηH)r(k) with
    H = JJᵀ = ZZᵀ + ΦΦᵀ (J = [Z, Φ]), which implicit.gram returns for trainable=("u", "v"),
    and its loss is L(k) = ½ Σᵢ cᵢ²(1 − ηλᵢ)^{2k}, H = QΛQᵀ, c = Qᵀr(0).  The engine's losses
    equal that to 1e-10 relative at every step, below (2m = 16 < N = 20: a zero mode, L stalls)
    and above the rank threshold.  (replication.jobs.steps_exact decides the linear-width u,v
    arm from this closed form.)"""
    X, y, _, _ = data
    params = implicit.init_params(D, m, seed=2)
    solver = implicit.SolverSettings(tol=1e-13, mixed=False)
    eq = implicit.equilibrium(params, X, GAMMA, solver)
    H = implicit.gram(params, X, GAMMA, trainable=("u", "v"), solver=solver)
    np.testing.assert_allclose(H, eq.Z @ eq.Z.T + eq.Phi @ eq.Phi.T, rtol=0, atol=1e-13 * np.abs(H).max())
    lam, Q = np.linalg.eigh(H)
    c = Q.T @ (implicit.predict(params, X, GAMMA, solver) - y)
    lr = 1.0 / lam[-1]
    theta, tr = implicit.train(params, X, y, GAMMA, lr=lr, steps=50, trainable=("u", "v"), solver=solver)
    k = tr["step"].to_numpy(dtype=float)[:, None]
    closed = 0.5 * (np.where(k == 0, 1.0, np.abs(1 - lr * lam) ** (2 * k)) * c**2).sum(axis=1)
    np.testing.assert_allclose(tr["train_loss"], closed, rtol=1e-10)
    assert len(tr) == 51 and closed[-1] < 0.5 * closed[0]
    for b in ("A", "W"):
        np.testing.assert_array_equal(getattr(theta, b), getattr(params, b))
