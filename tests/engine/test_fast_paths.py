"""Fast paths of the fixed-point solves give the plain path's answer to tolerance.

* certified stopping (``lipschitz``): a row stops once L·‖x⁺ − x‖ < tol, which bounds the
  residual of the returned point x⁺ — checked here by recomputing that residual from scratch;
* mixed precision (``mixed``): float32 increments of the product, with float64 steps that
  confirm convergence — checked the same way, plus the row bookkeeping of ``iterate``.
"""

import numpy as np
import pytest

import implicit
from implicit import equilibrium
from implicit.gradients import _unit_adjoint, unit_adjoint
from implicit.solver import MIXED_SWITCH, adjoint, iterate

from tests.reference import model as R

CASES = [  # (N, d, m, gamma)
    (6, 3, 10, 0.1),
    (12, 5, 8, 0.3),    # m < N
    (5, 4, 30, 0.45),   # rho ~ 0.88
    (40, 10, 120, 0.1),
]
TOL = 1e-10


def problem(N, d, m, seed=0):
    X, y = R.make_data(N, d, seed)
    return implicit.init_params(d, m, seed + 1), X, y


def rho_of(p, gamma):
    return gamma * np.linalg.norm(p.A, 2) / np.sqrt(p.m)


def fwd_residual(p, X, gamma, Z):
    """Per-sample ‖σ(γ̃Az + φ) − z‖₂ from scratch."""
    Phi = np.maximum(X @ p.W.T, 0.0) / np.sqrt(p.m)
    return np.linalg.norm(np.maximum(Z @ (gamma / np.sqrt(p.m) * p.A).T + Phi, 0.0) - Z, axis=1)


def adj_residual(p, gamma, P, K):
    """Per-sample ‖u + γ̃Aᵀ(d⊙k) − k‖₂ from scratch."""
    return np.linalg.norm(p.u + ((P > 0) * K) @ (gamma / np.sqrt(p.m) * p.A) - K, axis=1)


@pytest.mark.parametrize("N,d,m,gamma", CASES)
@pytest.mark.parametrize("lip", [False, True])
@pytest.mark.parametrize("mixed", [False, True])
def test_forward_fast_paths_meet_the_criterion(N, d, m, gamma, lip, mixed):
    p, X, _ = problem(N, d, m)
    rho = rho_of(p, gamma)
    plain = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=1e-14))
    eq = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=TOL, lipschitz=1.05 * rho if lip else None, mixed=mixed))
    true = fwd_residual(p, X, gamma, eq.Z)
    if lip:  # the returned point itself meets the criterion
        assert true.max() < TOL
    else:    # the point before the returned one does: ‖f(z⁺) − z⁺‖ ≤ ρ·tol
        assert true.max() < rho * TOL * 1.01
    assert eq.residual < TOL and eq.converged
    np.testing.assert_array_equal(eq.Z, np.maximum(eq.P, 0.0))  # Z = σ(P), D = 1[P > 0]
    # both solutions are within residual/(1 − ρ) of the fixed point
    assert np.abs(eq.Z - plain.Z).max() <= 2 * TOL / (1 - rho)
    assert 0 < eq.exact_work <= eq.work


def test_certified_stopping_saves_iterations():
    p, X, _ = problem(40, 10, 120)
    rho = rho_of(p, 0.1)
    plain = equilibrium(p, X, 0.1, solver=implicit.SolverSettings(tol=TOL))
    cert = equilibrium(p, X, 0.1, solver=implicit.SolverSettings(tol=TOL, lipschitz=1.05 * rho))
    assert cert.n_iter < plain.n_iter and cert.work < plain.work


def test_mixed_uses_float32_steps_and_far_rows_go_alone():
    """Rows started at the solution take float32 steps; rows started at 0 are far and take
    float64 steps alone first (so the work is below n_iter full iterations)."""
    p, X, _ = problem(40, 10, 120)
    Zs = equilibrium(p, X, 0.1, solver=implicit.SolverSettings(tol=1e-14)).Z
    z0 = Zs + 1e-6 * np.random.default_rng(0).standard_normal(Zs.shape)
    near = equilibrium(p, X, 0.1, z0=z0, solver=implicit.SolverSettings(tol=TOL, mixed=True))
    assert near.exact_work < near.work          # float32 steps were taken
    assert fwd_residual(p, X, 0.1, near.Z).max() < 0.3 * TOL
    z0[::2] = 0.0                               # half the rows far from the solution
    half = equilibrium(p, X, 0.1, z0=z0, solver=implicit.SolverSettings(tol=TOL, mixed=True))
    assert half.work < half.n_iter - 1           # the near rows did not follow every step
    assert fwd_residual(p, X, 0.1, half.Z).max() < 0.3 * TOL
    np.testing.assert_allclose(half.Z, Zs, atol=2 * TOL)  # rows back in their order


@pytest.mark.parametrize("N,d,m,gamma", CASES)
def test_adjoint_fast_paths_meet_the_weighted_criterion(N, d, m, gamma):
    p, X, _ = problem(N, d, m)
    rho = rho_of(p, gamma)
    eq = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=1e-14))
    w = np.logspace(-6, 0, N)[np.random.default_rng(1).permutation(N)]  # |r|-like weights
    plain = adjoint(p, gamma, eq.P, solver=implicit.SolverSettings(tol=1e-14)).x
    sol = adjoint(p, gamma, eq.P, weights=w, solver=implicit.SolverSettings(tol=TOL, lipschitz=1.05 * rho, mixed=True))
    assert np.max(w * adj_residual(p, gamma, eq.P, sol.x)) < TOL
    assert np.all(np.abs(sol.x - plain).max(axis=1) * w <= 2 * TOL / (1 - rho))
    assert sol.exact_work <= sol.work


def test_unit_adjoint_uses_the_shared_float32_copy():
    p, X, _ = problem(12, 5, 8, seed=3)
    eq = equilibrium(p, X, 0.3, solver=implicit.SolverSettings(tol=1e-13))
    K = _unit_adjoint(p, 0.3, eq, implicit.SolverSettings(tol=TOL, mixed=True), A32=p.A.astype(np.float32))
    assert adj_residual(p, 0.3, eq.P, K).max() < TOL
    with pytest.raises(ValueError, match="A32"):
        _unit_adjoint(p, 0.3, eq, implicit.SolverSettings(mixed=True), A32=p.A)  # float64: not a float32 copy
    with pytest.raises(ValueError, match="lipschitz"):
        equilibrium(p, X, 0.3, solver=implicit.SolverSettings(lipschitz=1.2))


def test_iterate_rows_finish_only_on_exact_steps():
    """``iterate`` against a fake map whose inexact steps have errors far above real float32
    (1e-3 of the step, and a bias of 10·tol: the inexact iteration converges to a wrong point
    with a vanishing step): rows must still end with a true residual below tol, because a
    row only stops on an exact step and the loop falls back to exact steps when an exact
    step shows the inexact ones miss; rows come back in order."""
    rng = np.random.default_rng(0)
    N, m, L = 30, 20, 0.3
    B = rng.standard_normal((m, m))
    B *= L / np.linalg.norm(B, 2)
    c = rng.standard_normal((N, m))
    solution = np.linalg.solve(np.eye(m) - B, c.T).T
    x0 = solution + 1e-6 * rng.standard_normal((N, m))  # near: float32 steps from the start
    x0[::3] = 0.0                                        # far: float64 steps alone first
    cc = c.copy()  # permuted alongside x by iterate
    bias = np.full((N, m), 1e-9 / np.sqrt(m))  # 10·tol per row
    log = []

    def apply(x, out, n, exact=True, lo=0):
        new = x[lo:n] @ B.T + cc[lo:n]
        if not exact:  # noise, and a bias: what an error floor of the kept product does
            step = np.linalg.norm(new - x[lo:n], axis=1, keepdims=True)
            new += 1e-3 * step * rng.standard_normal(new.shape) / np.sqrt(m) + bias[lo:n]
        res = np.linalg.norm(new - x[lo:n], axis=1)
        out[lo:n] = new
        log.append((lo, n, exact))
        return res

    x = x0.copy()
    sol = iterate(apply, x, rows=(cc, bias), settings=implicit.SolverSettings(tol=TOL, max_iter=200, lipschitz=L, mixed=True))
    assert sol.reason is None
    np.testing.assert_array_equal(cc, c)             # rows restored to their order
    true = np.linalg.norm(x @ B.T + c - x, axis=1)
    assert true.max() < TOL
    assert np.abs(x - solution).max() < 2 * TOL / (1 - L)
    assert any(not e for _, _, e in log) and log[0] == (0, N, True)
    assert sol.exact_work < sol.work and sol.n_iter <= len(log)
    assert MIXED_SWITCH * TOL > 1e-6  # float32 steps begin well before the tolerance


def test_train_mixed_only_for_float64():
    """float32 θ has no lower precision to increment in: train's default leaves it plain."""
    p, X, y = problem(12, 5, 40)
    _, tr64 = implicit.train(p, X, y, 0.1, lr=0.01, steps=4)
    _, tr32 = implicit.train(p.astype(np.float32), X, y, 0.1, lr=0.01, steps=4, solver=implicit.SolverSettings(tol=1e-5))
    assert (tr64["fwd_work_f64"] < tr64["fwd_work"]).any()
    np.testing.assert_array_equal(tr32["fwd_work_f64"], tr32["fwd_work"])
    assert tr32.attrs["status"] == "completed"
    with pytest.raises(ValueError, match="lipschitz"):
        implicit.train(p, X, y, 0.1, lr=0.01, steps=1, solver=implicit.SolverSettings(lipschitz=0.5))


def test_forward_start_uses_the_new_features():
    """WarmStart's forward start adds D_k⊙Δ²Φ to the linear extrapolation: on a GD trajectory
    it is several times closer to the next equilibrium than 2Z_k − Z_{k−1}."""
    from implicit.gradients import WarmStart, evaluate
    from implicit.solver import features

    p, X, y = problem(40, 10, 120)
    ws, theta = WarmStart(extrapolate=True), p.copy()
    for _ in range(6):
        ev = evaluate(theta, X, y, 0.1, warm_start=ws, solver=implicit.SolverSettings(tol=1e-13))
        theta.axpy(-0.01, ev.grads)
    Phi = features(theta, X)[1]
    start = ws.start_Z(Phi.shape, Phi)
    linear = 2 * ws.Z - ws._prev["Z"]
    exact = equilibrium(theta, X, 0.1, solver=implicit.SolverSettings(tol=1e-13)).Z
    err_start = np.median(np.linalg.norm(start - exact, axis=1))
    err_linear = np.median(np.linalg.norm(linear - exact, axis=1))
    assert err_start < err_linear / 3
    np.testing.assert_array_equal(ws.start_Z(Phi.shape), linear)  # without Φ: linear only


def test_extrapolation_ratio():
    """s of the geometric warm starts: the ratio of u's successive steps, 1 without a history
    or when u does not move, clipped to [0, 2]."""
    from implicit.warmstart import _ratio

    u0 = np.zeros(5)
    u1 = u0 + np.arange(5.0)
    assert _ratio(u1 + 0.9 * (u1 - u0), u1, u0) == pytest.approx(0.9, rel=1e-12)
    assert _ratio(u1, u1, u1) == 1.0 and _ratio(u1, None, u0) == 1.0 and _ratio(None, u1, u0) == 1.0
    assert _ratio(u1 + 5 * (u1 - u0), u1, u0) == 2.0 and _ratio(u1 - (u1 - u0), u1, u0) == 0.0


def test_adjoint_start_combines_the_last_three():
    """K is linear in u at fixed A and masks: three stored adjoints at u₁, u₂, u₃ and a new
    u in their affine span give the new adjoint exactly; a sample whose mask changed within
    the history combines only the solves since (here: K₁ shifted by u − u₁)."""
    from implicit.warmstart import WarmStart, _combination

    p, X, _ = problem(12, 5, 30)
    gamma, rng = 0.3, np.random.default_rng(3)
    eq = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=1e-13))
    us = [rng.standard_normal(p.m) for _ in range(3)]  # most recent first
    c = np.array([2.9, -2.8, 0.9])
    u_new = sum(ci * ui for ci, ui in zip(c, us))

    def adj(u):
        q = p.copy()
        q.u[:] = u
        return q, unit_adjoint(q, gamma, eq, solver=implicit.SolverSettings(tol=1e-13))

    ws = WarmStart(extrapolate=True)
    P_old = eq.P.copy()
    P_old[0, np.argmax(eq.P[0] > 0)] *= -1  # sample 0: one unit was off two solves ago
    for i, P in ((2, eq.P), (1, P_old), (0, eq.P)):
        ws.store_K(adj(us[i])[1], us[i], P)
    np.testing.assert_allclose(_combination(u_new, us)[2], c, rtol=1e-9)
    q, K_new = adj(u_new)
    K0 = ws.start_K(q, gamma, eq.P)
    np.testing.assert_allclose(K0[2:], K_new[2:], atol=1e-11 * np.abs(K_new).max())
    K1 = ws.K
    np.testing.assert_allclose(K0[0], K1[0] - us[0] + u_new, rtol=1e-13)  # mask changed: q = 1
    assert np.abs(K0[0] - K_new[0]).max() > 1e-6


def test_combination_falls_back():
    """_combination: q = 2 is the geometric ratio; q = 3 falls back to it when the u's are
    collinear (ill-conditioned) or the coefficients are too large; a still u gives linear."""
    from implicit.warmstart import MAX_COEF_NORM, _combination

    rng = np.random.default_rng(4)
    u0, a, b = (rng.standard_normal(6) for _ in range(3))
    still = _combination(u0, [u0, u0, u0])
    np.testing.assert_array_equal(still, [[1, 0, 0], [2, -1, 0], [2, -1, 0]])
    line = _combination(u0 + 0.9 * a, [u0, u0 - a, u0 - 2 * a])  # collinear history
    np.testing.assert_allclose(line[1], [1.9, -0.9, 0])
    np.testing.assert_array_equal(line[2], line[1])
    big = _combination(u0 + 20 * a + 30 * b, [u0, u0 + a, u0 + b])  # exact fit, |c|₁ = 99
    assert np.abs(big[2]).sum() <= MAX_COEF_NORM
    np.testing.assert_array_equal(big[2], big[1])
    ok = _combination(u0 + 2 * a + 3 * b, [u0, u0 + a, u0 + b])  # |c|₁ = 4 + 2 + 3 = 9
    np.testing.assert_allclose(ok[2], [-4, 2, 3], atol=1e-12)


def test_adjoint_start_on_a_gd_trajectory():
    """On GD, the three-term adjoint start is several times closer to the next adjoint than
    the geometric two-term one (samples whose masks did not change)."""
    from implicit import _numba
    from implicit.gradients import evaluate
    from implicit.warmstart import WarmStart, _combination

    p, X, y = problem(40, 10, 120)
    ws, theta = WarmStart(extrapolate=True), p.copy()
    for _ in range(10):
        ev = evaluate(theta, X, y, 0.1, warm_start=ws, solver=implicit.SolverSettings(tol=1e-13))
        theta.axpy(-0.01, ev.grads)
    eq = equilibrium(theta, X, 0.1, solver=implicit.SolverSettings(tol=1e-13))
    K = unit_adjoint(theta, 0.1, eq, solver=implicit.SolverSettings(tol=1e-13))
    start = ws.start_K(theta, 0.1, eq.P)
    hist = ws._prev["adj"]
    Ks, us, Ds, _ = zip(*hist)
    two = _combination(theta.u, list(us))
    two[2] = two[1]
    geo = np.empty_like(K)
    _numba.extrapolate_adjoint(*Ks, *us, two, np.full(len(K), 3), theta.u, geo)
    same = (Ds[0] == (eq.P > 0)).all(1) & (Ds[0] == Ds[1]).all(1) & (Ds[1] == Ds[2]).all(1)
    assert same.mean() > 0.5
    err3, err2 = (np.median(np.linalg.norm(s - K, axis=1)[same]) for s in (start, geo))
    assert err3 < err2 / 5
