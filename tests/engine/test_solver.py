"""Forward equilibrium solver (docs/model.md): fixed-point residual, agreement with the dense
reference, warm starts, Anderson, the contraction bound, NotConverged, input validation."""

import dataclasses

import numpy as np
import pytest

import implicit
from implicit import NotConverged, Params, equilibrium
from implicit.linalg import PowerNorm, eigh_extremes, lambda_min, spectral_norm
from implicit.solver import gamma_rho

from tests.reference import model as R

CASES = [  # (N, d, m, gamma)
    (6, 3, 10, 0.1),
    (12, 5, 8, 0.3),   # m < N
    (5, 4, 30, 0.45),  # rho ~ 0.88
    (1, 2, 4, 0.2),    # a single sample
]


def problem(N, d, m, seed=0):
    X, y = R.make_data(N, d, seed)
    return implicit.init_params(d, m, seed + 1), X, y


def fp_residual(p, X, gamma, Z):
    """Per-sample ‖σ(γ̃Az + φ) − z‖₂, computed here from scratch."""
    gt = gamma / np.sqrt(p.m)
    Phi = np.maximum(X @ p.W.T, 0.0) / np.sqrt(p.m)
    return np.linalg.norm(np.maximum(Z @ (gt * p.A).T + Phi, 0.0) - Z, axis=1), Phi


def rho_of(p, gamma):
    return gamma * np.linalg.norm(p.A, 2) / np.sqrt(p.m)


@pytest.mark.parametrize("N,d,m,gamma", CASES)
@pytest.mark.parametrize("tol", [1e-6, 1e-12])
def test_fixed_point_residual_below_tol(N, d, m, gamma, tol):
    p, X, _ = problem(N, d, m)
    eq = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=tol))
    res, Phi = fp_residual(p, X, gamma, eq.Z)
    assert eq.converged and eq.Z.shape == (N, m)
    assert res.max() <= tol
    assert eq.residual < tol and eq.residuals[-1] == eq.residual and len(eq.residuals) == eq.n_iter
    assert np.all(eq.Z >= 0)
    # the returned pre-activations and features belong to the returned Z
    np.testing.assert_array_equal(eq.Z, np.maximum(eq.P, 0.0))
    np.testing.assert_allclose(eq.Phi, Phi, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(eq.Q, X @ p.W.T, rtol=1e-13, atol=1e-14)
    gt = gamma / np.sqrt(m)
    assert np.abs(eq.P - (eq.Z @ (gt * p.A).T + eq.Phi)).max() <= tol  # P is one step behind Z


@pytest.mark.parametrize("N,d,m,gamma", CASES)
def test_matches_dense_reference(N, d, m, gamma):
    p, X, _ = problem(N, d, m)
    tol = 1e-13
    eq = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=tol))
    Zr, Phir = R.equilibria(p, X, gamma)
    rho = rho_of(p, gamma)
    assert rho < 1
    err = np.linalg.norm(eq.Z - Zr, axis=1)
    assert err.max() <= tol / (1 - rho) + 1e-14
    np.testing.assert_allclose(eq.Phi, Phir, rtol=1e-13, atol=1e-15)
    # the activation pattern agrees with the reference's self-consistent active set
    np.testing.assert_array_equal(eq.Z > 0, Zr > 0)


def test_rows_are_independent():
    """Solving a subset of samples gives the same equilibria as solving them in a batch."""
    p, X, _ = problem(9, 4, 12)
    tol = 1e-13
    full = equilibrium(p, X, 0.3, solver=implicit.SolverSettings(tol=tol)).Z
    rows = [2, 5, 7]
    part = equilibrium(p, X[rows], 0.3, solver=implicit.SolverSettings(tol=tol)).Z
    np.testing.assert_allclose(part, full[rows], atol=4 * tol)
    # non-contiguous / Fortran-ordered / integer-free inputs give the same answer
    np.testing.assert_allclose(equilibrium(p, np.asfortranarray(X), 0.3, solver=implicit.SolverSettings(tol=tol)).Z, full, atol=4 * tol)
    Xbig = np.zeros((9, 8))
    Xbig[:, ::2] = X
    np.testing.assert_allclose(equilibrium(p, Xbig[:, ::2], 0.3, solver=implicit.SolverSettings(tol=tol)).Z, full, atol=4 * tol)


@pytest.mark.parametrize("N,d,m,gamma", CASES[:3])
def test_warm_start_from_solution(N, d, m, gamma):
    p, X, _ = problem(N, d, m)
    tol = 1e-12
    rho = rho_of(p, gamma)
    cold = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=tol))
    z0 = cold.Z.copy()
    warm = equilibrium(p, X, gamma, z0=z0, solver=implicit.SolverSettings(tol=tol))
    assert warm.n_iter == 1  # already a fixed point to tol
    np.testing.assert_array_equal(z0, cold.Z)  # z0 is not modified
    assert np.abs(warm.Z - cold.Z).max() <= 2 * tol / (1 - rho)
    rng = np.random.default_rng(5)
    z1 = cold.Z + 0.1 * rng.standard_normal(cold.Z.shape)
    pert = equilibrium(p, X, gamma, z0=z1, solver=implicit.SolverSettings(tol=tol))
    assert 1 < pert.n_iter
    assert np.linalg.norm(pert.Z - cold.Z, axis=1).max() <= 2 * tol / (1 - rho)


def test_partial_warm_start_keeps_row_order():
    """Rows converging at different speeds (only some perturbed) come back in input order,
    with P, Φ, Q belonging to the same rows (guards any per-row reordering inside the solver)."""
    N, d, m, gamma = 12, 4, 10, 0.4
    p, X, _ = problem(N, d, m)
    tol = 1e-12
    rho = rho_of(p, gamma)
    cold = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=tol))
    z0 = cold.Z.copy()
    rng = np.random.default_rng(9)
    slow = [1, 4, 10]
    z0[slow] += rng.standard_normal((len(slow), m))
    warm = equilibrium(p, X, gamma, z0=z0, solver=implicit.SolverSettings(tol=tol))
    assert np.linalg.norm(warm.Z - cold.Z, axis=1).max() <= 2 * tol / (1 - rho)
    np.testing.assert_array_equal(warm.Phi, cold.Phi)
    np.testing.assert_array_equal(warm.Q, cold.Q)
    np.testing.assert_array_equal(warm.Z, np.maximum(warm.P, 0.0))
    res, _ = fp_residual(p, X, gamma, warm.Z)
    assert res.max() <= tol
    # the same through the adjoint: gradients with a partially stale warm start
    from implicit import WarmStart

    X2, y2 = R.make_data(N, d, 0)
    ws = WarmStart()
    _, g_ref = implicit.loss_and_grad(p, X2, y2, gamma, solver=implicit.SolverSettings(tol=1e-13))
    implicit.loss_and_grad(p, X2, y2, gamma, warm_start=ws, solver=implicit.SolverSettings(tol=1e-13))
    ws.Z = ws.Z.copy()
    ws.Z[slow] += 1.0
    if ws.K is not None:
        ws.K = ws.K.copy()
        ws.K[slow] += 1.0
    _, g = implicit.loss_and_grad(p, X2, y2, gamma, warm_start=ws, solver=implicit.SolverSettings(tol=1e-13))
    for b in implicit.BLOCKS:
        ref = getattr(g_ref, b)
        assert np.abs(getattr(g, b) - ref).max() <= 1e-10 * np.abs(ref).max(), b


@pytest.mark.parametrize("N,d,m,gamma", CASES)
def test_anderson_agrees_with_plain(N, d, m, gamma):
    p, X, _ = problem(N, d, m)
    tol = 1e-12
    rho = rho_of(p, gamma)
    plain = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=tol))
    aa = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=tol, method="anderson"))
    assert aa.converged
    assert np.linalg.norm(aa.Z - plain.Z, axis=1).max() <= 2 * tol / (1 - rho)
    res, _ = fp_residual(p, X, gamma, aa.Z)
    assert res.max() <= tol
    np.testing.assert_array_equal(aa.Z, np.maximum(aa.P, 0.0))
    for depth in (1, 3):
        other = equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=tol, method="anderson", anderson_depth=depth))
        assert np.linalg.norm(other.Z - plain.Z, axis=1).max() <= 2 * tol / (1 - rho)


@pytest.mark.parametrize("gamma", [0.2, 0.45])
def test_iteration_bound(gamma):
    """Iterate k from z=0 satisfies ‖z_k − z*‖ ≤ ρ^k ‖φ‖/(1 − ρ) (docs/model.md, "Well-posedness")."""
    p, X, _ = problem(7, 4, 12)
    gt = gamma / np.sqrt(p.m)
    rho = rho_of(p, gamma)
    Zstar, Phi = R.equilibria(p, X, gamma)
    Zk = np.zeros_like(Phi)
    done = 0
    for k in (1, 2, 3, 5, 8, 13):
        eq = equilibrium(p, X, gamma, return_unconverged=True, solver=implicit.SolverSettings(tol=1e-15, max_iter=k))
        assert not eq.converged and eq.n_iter == k and len(eq.residuals) == k
        while done < k:  # the same k plain steps, written out here
            Zk = np.maximum(Zk @ (gt * p.A).T + Phi, 0.0)
            done += 1
        np.testing.assert_allclose(eq.Z, Zk, rtol=1e-12, atol=1e-15)
        err = np.linalg.norm(eq.Z - Zstar, axis=1)
        bound = rho**k * np.linalg.norm(Phi, axis=1) / (1 - rho)
        assert np.all(err <= bound * (1 + 1e-9) + 1e-15), (k, err / bound)
        # the residual history of a contraction decreases geometrically: r_k ≤ ρ^(k-1) r_1
        hist = eq.residuals
        assert np.all(hist[1:] <= rho ** np.arange(1, k) * hist[0] * (1 + 1e-9))


def cycling_params(m, d, gamma, a=3.0, seed=0):
    """A = −c·I with γ̃c = a > 1: from z = 0 the plain iteration alternates 0 → φ → σ((1 − a)φ) = 0.

    (The equation does have the solution φ/(1 + a), but the iteration provably never gets there:
    every iterate is exactly 0 or φ, the residual stays ‖φ‖.)  ρ(A) = a.
    """
    rng = np.random.default_rng(seed)
    c = a * np.sqrt(m) / gamma
    return Params(-c * np.eye(m), rng.standard_normal((m, d)), rng.choice([-1.0, 1.0], m), rng.choice([-1.0, 1.0], m))


def test_not_converged_cycling():
    X, _ = R.make_data(4, 3, 0)
    gamma = 0.3
    p = cycling_params(6, 3, gamma)
    _, Phi = implicit.features(p, X)
    with pytest.raises(NotConverged) as info:
        equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=1e-10, max_iter=1000, patience=20))
    exc = info.value
    assert exc.rho > 1 and exc.rho == pytest.approx(3.0, rel=1e-12)
    assert exc.reason == "stalled" and exc.what == "forward"
    assert "ρ ≥ 1" in str(exc) and "did not converge" in str(exc)
    hist = exc.residuals
    assert hist.ndim == 1 and len(hist) == 21  # best at step 1, then 20 non-improving steps
    np.testing.assert_allclose(hist, np.linalg.norm(Phi, axis=1).max(), rtol=1e-14)
    assert isinstance(exc.state, implicit.Equilibrium) and not exc.state.converged
    # max_iter reached first
    with pytest.raises(NotConverged) as info:
        equilibrium(p, X, gamma, solver=implicit.SolverSettings(max_iter=7))
    assert info.value.reason == "max_iter" and len(info.value.residuals) == 7
    # return_unconverged: the last iterate (odd number of steps → φ), flagged
    eq = equilibrium(p, X, gamma, return_unconverged=True, solver=implicit.SolverSettings(max_iter=7))
    assert eq.converged is False and eq.n_iter == 7
    np.testing.assert_allclose(eq.Z, Phi, rtol=1e-14)
    eq = equilibrium(p, X, gamma, return_unconverged=True, solver=implicit.SolverSettings(max_iter=8))
    np.testing.assert_array_equal(eq.Z, 0.0)
    # the true solution φ/(1 + a) exists and is a fixed point: the solver accepts it as z0
    eq = equilibrium(p, X, gamma, z0=Phi / 4.0, solver=implicit.SolverSettings(tol=1e-12))
    assert eq.converged and np.abs(eq.Z - Phi / 4.0).max() < 1e-12


def test_tol_below_rounding_says_so():
    """A contraction only stalls at its rounding floor: the error says to raise tol."""
    p, X, _ = problem(20, 5, 200)
    with pytest.raises(NotConverged) as info:
        equilibrium(p, X, 0.1, solver=implicit.SolverSettings(tol=1e-20, patience=10))
    assert info.value.reason == "stalled" and info.value.rho < 1
    assert "rounding level" in str(info.value) and "raise tol" in str(info.value)
    with pytest.raises(NotConverged, match="rounding level"):
        implicit.gram(p, X, 0.1, solver=implicit.SolverSettings(tol=1e-20, patience=10))


def test_not_converged_non_finite():
    """A = c·I with γ̃c = 1e10: z grows like 1e10^k and overflows; reported as non-finite."""
    X, _ = R.make_data(3, 2, 1)
    gamma, m = 0.5, 5
    rng = np.random.default_rng(0)
    c = 1e10 * np.sqrt(m) / gamma
    p = Params(c * np.eye(m), np.abs(rng.standard_normal((m, 2))) + 0.1, np.ones(m), np.ones(m))
    with pytest.raises(NotConverged) as info:
        equilibrium(p, X, gamma)
    exc = info.value
    assert exc.reason == "non-finite" and exc.rho > 1
    assert not np.isfinite(exc.residuals[-1]) and np.all(np.isfinite(exc.residuals[:-1]))
    assert len(exc.residuals) < 50
    eq = equilibrium(p, X, gamma, return_unconverged=True)
    assert not eq.converged
    # the training-facing entry points surface the same exception
    with pytest.raises(NotConverged):
        implicit.predict(p, X, gamma)
    with pytest.raises(NotConverged):
        implicit.loss_and_grad(p, X, np.zeros(3), gamma)


def test_adjoint_not_converged():
    """The adjoint k = u + γ̃Aᵀ(d⊙k) with A = c·I, all units active, γ̃c = 2: k_j = u(1 + 2 + 4 + …)."""
    from implicit.solver import adjoint

    m, gamma = 4, 0.5
    c = 2.0 * np.sqrt(m) / gamma
    p = Params(c * np.eye(m), np.ones((m, 2)), np.ones(m), np.ones(m))
    P = np.ones((3, m))
    with pytest.raises(NotConverged) as info:
        adjoint(p, gamma, P, solver=implicit.SolverSettings(max_iter=30))
    assert info.value.what == "adjoint" and info.value.rho == pytest.approx(2.0)
    # and with an inactive pattern it converges at once to u
    out = adjoint(p, gamma, -P)
    K = out.x if hasattr(out, "x") else out[0]  # a Solve result (or a (K, n, history) tuple)
    np.testing.assert_array_equal(K, np.ones((3, m)))


def test_float32():
    p, X, _ = problem(5, 3, 16)
    p32 = p.astype(np.float32)
    eq = equilibrium(p32, X, 0.3, solver=implicit.SolverSettings(tol=1e-5))
    assert eq.Z.dtype == np.float32 and eq.Phi.dtype == np.float32
    res, _ = fp_residual(p32.astype(np.float64), X.astype(np.float32).astype(np.float64), 0.3, eq.Z.astype(np.float64))
    assert res.max() <= 2e-5
    ref = equilibrium(p, X, 0.3, solver=implicit.SolverSettings(tol=1e-12)).Z
    assert np.abs(eq.Z - ref).max() < 1e-4


# -- validation --------------------------------------------------------------------------------
def test_input_validation():
    p, X, _ = problem(4, 3, 5)
    Xn = X.copy()
    Xn[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        equilibrium(p, Xn, 0.3)
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        equilibrium(p, Xi, 0.3)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        equilibrium(p, X[:, :2], 0.3)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        equilibrium(p, X[0], 0.3)
    with pytest.raises(ValueError, match="no samples"):
        equilibrium(p, X[:0], 0.3)
    for g in (0.0, -0.1, np.nan, np.inf):
        with pytest.raises(ValueError, match="gamma"):
            equilibrium(p, X, g)
    with pytest.raises(ValueError, match="method"):
        equilibrium(p, X, 0.3, solver=implicit.SolverSettings(method="newton"))
    with pytest.raises(ValueError, match="z0"):
        equilibrium(p, X, 0.3, z0=np.zeros((4, 6)))
    for kw in ({"tol": 0.0}, {"tol": 1.5}, {"max_iter": 0}):
        with pytest.raises(ValueError, match="tol"):
            equilibrium(p, X, 0.3, implicit.SolverSettings(**kw))
    with pytest.raises(ValueError, match="patience"):
        implicit.SolverSettings(patience=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        implicit.SolverSettings().tol = 1e-3
    with pytest.raises(ValueError, match="anderson_depth"):
        equilibrium(p, X, 0.3, solver=implicit.SolverSettings(method="anderson", anderson_depth=0))


def test_rho_and_linalg_helpers():
    p = implicit.init_params(3, 40, seed=2)
    A = p.A
    assert spectral_norm(A) == pytest.approx(np.linalg.svd(A, compute_uv=False)[0], rel=1e-13)
    assert gamma_rho(p, 0.1) == pytest.approx(0.1 * np.linalg.norm(A, 2) / np.sqrt(40), rel=1e-13)
    # ‖A(0)‖₂ ≈ 2√m for Gaussian A (docs/model.md: ρ ≈ 2γ at init)
    assert 1.6 < spectral_norm(A) / np.sqrt(40) < 2.2
    pn = PowerNorm(40, seed=0, rtol=1e-10, max_iter=5000)
    assert pn.estimate(A) == pytest.approx(spectral_norm(A), rel=1e-6)
    assert pn.estimate(A) <= spectral_norm(A) * (1 + 1e-12)
    S = A @ A.T + np.eye(40)
    lo, hi = eigh_extremes(S)
    w = np.linalg.eigvalsh(S)
    assert (lo, hi) == (w[0], w[-1]) and lambda_min(S) == w[0]
