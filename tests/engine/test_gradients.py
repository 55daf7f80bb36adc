"""Analytic gradients (docs/model.md, "Gradients") against central finite differences and the dense reference."""

import numpy as np
import pytest

import implicit
from implicit import BLOCKS, Params, WarmStart

from tests.reference import model as R

FD_TOL = 1e-13  # solver tolerance for the finite-difference losses
H = 1e-5        # central-difference step
CASES = [  # (N, d, m, gamma)
    (5, 3, 6, 0.1),
    (10, 4, 5, 0.3),    # m < N
    (4, 3, 8, 0.45),    # rho ~ 0.9
    (7, 5, 12, 0.2),
]


def problem(N, d, m, seed=0):
    X, y = R.make_data(N, d, seed)
    return implicit.init_params(d, m, seed + 1), X, y


def fd_block(p, X, y, gamma, block, h=H):
    """Central differences of L over every entry of one block."""
    a = getattr(p, block)
    out = np.empty_like(a)
    for idx in np.ndindex(a.shape):
        q = p.copy()
        getattr(q, block)[idx] += h
        lp = implicit.loss(q, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
        getattr(q, block)[idx] -= 2 * h
        lm = implicit.loss(q, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
        out[idx] = (lp - lm) / (2 * h)
    return out


def rel_err(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def fd_agrees(analytic, fd, rtol=1e-6):
    """The check used below: norm-relative error and entry-wise error, both ≤ rtol."""
    scale = np.abs(fd).max()
    return rel_err(analytic, fd) <= rtol and np.abs(analytic - fd).max() <= rtol * scale


def directional_fd(p, X, y, gamma, direction, h=H):
    lp = implicit.loss(p + h * direction, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
    lm = implicit.loss(p - h * direction, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
    return (lp - lm) / (2 * h)


def random_direction(p, seed):
    rng = np.random.default_rng(seed)
    vec = rng.standard_normal(p.flatten().size)
    return Params.unflatten(vec / np.linalg.norm(vec), p.m, p.d)


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("N,d,m,gamma", CASES)
def test_gradient_blocks_vs_finite_differences(N, d, m, gamma):
    p, X, y = problem(N, d, m)
    assert implicit.solver.gamma_rho(p, gamma) < 1
    L, g = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
    assert L == pytest.approx(implicit.loss(p, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL)), rel=1e-13)
    errs = {}
    for b in BLOCKS:
        fd = fd_block(p, X, y, gamma, b)
        an = getattr(g, b)
        assert np.linalg.norm(an) > 0
        errs[b] = rel_err(an, fd)
        assert fd_agrees(an, fd), (b, errs[b])
    print(f"FD rel errors N={N} d={d} m={m} gamma={gamma}: " + ", ".join(f"{b}={e:.1e}" for b, e in errs.items()))


@pytest.mark.parametrize("N,d,m,gamma", CASES[:2])
def test_finite_difference_check_can_fail(N, d, m, gamma):
    """The same check rejects slightly wrong gradients (relative 1e-5 or one entry off)."""
    p, X, y = problem(N, d, m)
    _, g = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
    for b in BLOCKS:
        fd = fd_block(p, X, y, gamma, b)
        an = getattr(g, b)
        assert fd_agrees(an, fd)
        assert not fd_agrees(an * (1 + 1e-5), fd), b
        bad = an.copy()
        k = np.unravel_index(np.argmax(np.abs(an)), an.shape)
        bad[k] += 1e-5 * np.abs(an).max()
        assert not fd_agrees(bad, fd), b
    # a plausible formula slip: ∇_A without the activation mask D (use K instead of V = D⊙K)
    ev = implicit.evaluate(p, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
    wrong_A = (gamma / np.sqrt(m)) * (ev.K * ev.r[:, None]).T @ ev.eq.Z
    assert not fd_agrees(wrong_A, fd_block(p, X, y, gamma, "A"))


@pytest.mark.parametrize("N,d,m,gamma", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_directional_derivative(N, d, m, gamma, seed):
    p, X, y = problem(N, d, m)
    _, g = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
    delta = random_direction(p, seed)
    fd = directional_fd(p, X, y, gamma, delta)
    an = g.vdot(delta)
    assert abs(an - fd) <= 1e-6 * abs(fd), (an, fd)
    # a perturbed gradient fails the same check
    g_bad = g + 1e-5 * np.linalg.norm(g.flatten()) * delta
    assert abs(g_bad.vdot(delta) - fd) > 1e-6 * abs(fd)


@pytest.mark.parametrize("N,d,m,gamma", CASES)
def test_matches_reference(N, d, m, gamma):
    p, X, y = problem(N, d, m)
    tol = 1e-13
    yhat = implicit.predict(p, X, gamma, solver=implicit.SolverSettings(tol=tol))
    yref = R.predict(p, X, gamma)
    assert np.abs(yhat - yref).max() <= 1e-10 * max(1.0, np.abs(yref).max())
    L, g = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=tol))
    Lr, gr = R.loss_and_grad(p, X, y, gamma)
    assert abs(L - Lr) <= 1e-10 * Lr
    for b in BLOCKS:
        an, ref = getattr(g, b), gr[b]
        assert np.abs(an - ref).max() <= 1e-10 * np.abs(ref).max(), b


def test_adjoint_matches_reference():
    """K rows are k_i = (I − γ̃AᵀD_i)⁻¹u, so V = D⊙K equals the reference's c_i = G_iᵀu."""
    p, X, y = problem(6, 3, 9)
    gamma = 0.35
    ev = implicit.evaluate(p, X, y, gamma, solver=implicit.SolverSettings(tol=1e-13))
    for i, x in enumerate(X):
        s = R.sample_quantities(p, x, gamma)
        V_i = np.where(ev.eq.P[i] > 0, ev.K[i], 0.0)
        np.testing.assert_allclose(V_i, s["c"], rtol=0, atol=1e-11 * np.abs(s["c"]).max())
    np.testing.assert_allclose(ev.r, R.predict(p, X, gamma) - y, atol=1e-11)


@pytest.mark.parametrize("trainable", [("A",), ("W",), ("u", "v"), ("A", "u"), ("W", "v")])
def test_trainable_subsets(trainable):
    p, X, y = problem(6, 3, 7)
    gamma = 0.3
    L_all, g_all = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=1e-13))
    L, g = implicit.loss_and_grad(p, X, y, gamma, trainable=trainable, solver=implicit.SolverSettings(tol=1e-13))
    assert L == pytest.approx(L_all, rel=1e-13)
    for b in BLOCKS:
        if b in trainable:
            np.testing.assert_allclose(getattr(g, b), getattr(g_all, b), rtol=1e-10, atol=1e-13)
        else:
            assert not np.any(getattr(g, b)), b
    ev = implicit.evaluate(p, X, y, gamma, trainable=trainable)
    assert (ev.K is None) == (not ({"A", "W"} & set(trainable)))


def test_warm_start_and_anderson_give_same_gradient():
    p, X, y = problem(8, 4, 10)
    gamma = 0.4
    L0, g0 = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=1e-13))
    ws = WarmStart()
    L1, g1 = implicit.loss_and_grad(p, X, y, gamma, warm_start=ws, solver=implicit.SolverSettings(tol=1e-13))
    assert ws.Z is not None and ws.K is not None and ws.fwd_iter > 1 and ws.adj_iter > 1
    assert ws.fwd_residual < 1e-13
    L2, g2 = implicit.loss_and_grad(p, X, y, gamma, warm_start=ws, solver=implicit.SolverSettings(tol=1e-13))
    assert ws.fwd_iter == 1 and ws.adj_iter == 1  # restarted at the solution
    L3, g3 = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=1e-13, method="anderson"))
    for L, g in [(L1, g1), (L2, g2), (L3, g3)]:
        assert L == pytest.approx(L0, rel=1e-11)
        for b in BLOCKS:
            np.testing.assert_allclose(getattr(g, b), getattr(g0, b), rtol=0, atol=1e-10 * np.abs(getattr(g0, b)).max())
    # a warm start of the wrong shape (other data) is ignored, not an error
    L4, _ = implicit.loss_and_grad(p, X[:3], y[:3], gamma, warm_start=ws, solver=implicit.SolverSettings(tol=1e-13))
    assert L4 == pytest.approx(implicit.loss(p, X[:3], y[:3], gamma, solver=implicit.SolverSettings(tol=1e-13)), rel=1e-11)


def test_float32_gradients_close_to_float64():
    p, X, y = problem(6, 3, 10)
    gamma = 0.2
    _, g64 = implicit.loss_and_grad(p, X, y, gamma, solver=implicit.SolverSettings(tol=1e-12))
    L32, g32 = implicit.loss_and_grad(p.astype(np.float32), X, y, gamma, solver=implicit.SolverSettings(tol=1e-5))
    assert g32.dtype == np.float32
    for b in BLOCKS:
        assert rel_err(getattr(g32, b).astype(np.float64), getattr(g64, b)) < 1e-4, b


def test_loss_is_half_sum_of_squares():
    p, X, y = problem(5, 3, 6)
    yhat = implicit.predict(p, X, 0.2, solver=implicit.SolverSettings(tol=1e-13))
    assert implicit.loss(p, X, y, 0.2, solver=implicit.SolverSettings(tol=1e-13)) == pytest.approx(0.5 * np.sum((yhat - y) ** 2), rel=1e-14)
    # ŷ = Zu + Φv
    eq = implicit.equilibrium(p, X, 0.2, solver=implicit.SolverSettings(tol=1e-13))
    np.testing.assert_allclose(yhat, eq.Z @ p.u + eq.Phi @ p.v, rtol=1e-13)


def test_input_validation():
    p, X, y = problem(4, 3, 5)
    Xn = X.copy()
    Xn[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        implicit.loss_and_grad(p, Xn, y, 0.3)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        implicit.loss_and_grad(p, X[:, :2], y, 0.3)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        implicit.loss_and_grad(p, X, y[:3], 0.3)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        implicit.loss_and_grad(p, X, y[:, None], 0.3)
    with pytest.raises(ValueError, match="y must have shape"):
        implicit.loss(p, X, y[:3], 0.3)
    yn = y.copy()
    yn[2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        implicit.loss_and_grad(p, X, yn, 0.3)
    for g in (0.0, -1.0):
        with pytest.raises(ValueError, match="gamma"):
            implicit.loss_and_grad(p, X, y, g)
        with pytest.raises(ValueError, match="gamma"):
            implicit.predict(p, X, g)
    with pytest.raises(ValueError, match="method"):
        implicit.loss_and_grad(p, X, y, 0.3, solver=implicit.SolverSettings(method="broyden"))
    for bad in [("B",), (), "x", ("A", "z")]:
        with pytest.raises(ValueError, match="trainable"):
            implicit.loss_and_grad(p, X, y, 0.3, trainable=bad)
    with pytest.raises(TypeError, match="maxiter"):
        implicit.loss_and_grad(p, X, y, 0.3, maxiter=5)
    with pytest.raises(TypeError, match="SolverSettings"):
        implicit.loss_and_grad(p, X, y, 0.3, {"max_iter": 5})


def test_large_residuals_well_posed():
    """A well-posed problem (ρ ≈ 0.19) with large labels must still give its gradient.

    The adjoint is solved to tol / max|r|; with |r| ~ 1e6 that is below the rounding level of
    K (~ε‖u‖), so the solve must not be declared stalled (NotConverged) for that reason.
    """
    X, y = R.make_data(20, 10, 0)
    p = implicit.init_params(10, 80, seed=1)
    gamma = 0.1
    assert implicit.solver.gamma_rho(p, gamma) < 0.2
    y_big = 1e6 * y
    L, g = implicit.loss_and_grad(p, X, y_big, gamma)
    Lr, gr = R.loss_and_grad(p, X, y_big, gamma)
    assert L == pytest.approx(Lr, rel=1e-10)
    for b in BLOCKS:
        assert np.abs(getattr(g, b) - gr[b]).max() <= 1e-9 * np.abs(gr[b]).max(), b
