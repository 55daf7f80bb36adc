"""Gram matrix / NTK (docs/ntk.md): blocks vs J Jᵀ from finite-difference Jacobians and from the
dense reference, symmetry and PSD, H ⪰ H^v, and ΦᵀΦ → G∞ (arc-cosine kernel)."""

import numpy as np
import pytest

import implicit
from implicit import BLOCKS, Params

from tests.reference import model as R

FD_TOL = 1e-13
H = 1e-5


def problem(N, d, m, seed=0):
    X, y = R.make_data(N, d, seed)
    return implicit.init_params(d, m, seed + 1), X, y


def fd_jacobian(p, X, gamma, h=H):
    """{block: (N, size)} with rows ∂ŷ_i/∂block by central differences through implicit.predict."""
    J = {}
    for b in BLOCKS:
        a = getattr(p, b)
        cols = []
        for idx in np.ndindex(a.shape):
            q = p.copy()
            getattr(q, b)[idx] += h
            yp = implicit.predict(q, X, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
            getattr(q, b)[idx] -= 2 * h
            ym = implicit.predict(q, X, gamma, solver=implicit.SolverSettings(tol=FD_TOL))
            cols.append((yp - ym) / (2 * h))
        J[b] = np.array(cols).T
    return J


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("N,d,m,gamma", [(4, 3, 5, 0.3), (6, 3, 4, 0.45)])
def test_gram_blocks_vs_finite_difference_jacobian(N, d, m, gamma):
    p, X, _ = problem(N, d, m)
    Hb = implicit.gram(p, X, gamma, blocks=True, solver=implicit.SolverSettings(tol=FD_TOL))
    assert set(Hb) == set(BLOCKS)
    J = fd_jacobian(p, X, gamma)
    Jr = R.jacobian(p, X, gamma)
    errs = {}
    for b in BLOCKS:
        target = J[b] @ J[b].T
        assert Hb[b].shape == (N, N)
        errs[b] = rel(Hb[b], target)
        assert errs[b] <= 1e-6, (b, errs[b])
        # the reference Jacobian itself agrees with the finite differences
        assert rel(Jr[b], J[b]) <= 1e-6, b
    # able to fail: a Gram block off by a relative 1e-5 is rejected by the same check
    assert rel(Hb["A"] * (1 + 1e-5), J["A"] @ J["A"].T) > 1e-6
    print(f"Gram vs FD JJᵀ N={N} d={d} m={m} gamma={gamma}: " + ", ".join(f"{b}={e:.1e}" for b, e in errs.items()))


@pytest.mark.parametrize("N,d,m,gamma", [(5, 3, 7, 0.2), (9, 4, 6, 0.4), (3, 6, 15, 0.1)])
def test_gram_matches_reference(N, d, m, gamma):
    p, X, _ = problem(N, d, m)
    Hb = implicit.gram(p, X, gamma, blocks=True, solver=implicit.SolverSettings(tol=1e-13))
    Hr = R.gram_blocks(p, X, gamma)
    for b in BLOCKS:
        assert rel(Hb[b], Hr[b]) <= 1e-10, b
    Hsum = implicit.gram(p, X, gamma, solver=implicit.SolverSettings(tol=1e-13))
    assert rel(Hsum, sum(Hr.values())) <= 1e-10


def test_gram_sum_and_trainable_subsets():
    p, X, _ = problem(6, 3, 8)
    gamma = 0.3
    Hb = implicit.gram(p, X, gamma, blocks=True, solver=implicit.SolverSettings(tol=1e-13))
    np.testing.assert_allclose(implicit.gram(p, X, gamma, solver=implicit.SolverSettings(tol=1e-13)), sum(Hb.values()), rtol=1e-12)
    for tr in [("A",), ("W",), ("u", "v"), ("A", "v")]:
        sub = implicit.gram(p, X, gamma, blocks=True, trainable=tr, solver=implicit.SolverSettings(tol=1e-13))
        assert set(sub) == set(tr)
        for b in tr:
            np.testing.assert_allclose(sub[b], Hb[b], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(implicit.gram(p, X, gamma, trainable=tr, solver=implicit.SolverSettings(tol=1e-13)), sum(Hb[b] for b in tr), rtol=1e-10)
    with pytest.raises(ValueError, match="trainable"):
        implicit.gram(p, X, gamma, trainable=("Q",))
    # H^u = ZZᵀ and H^v = ΦΦᵀ (samples as rows)
    eq = implicit.equilibrium(p, X, gamma, solver=implicit.SolverSettings(tol=1e-13))
    np.testing.assert_allclose(Hb["u"], eq.Z @ eq.Z.T, rtol=1e-12)
    np.testing.assert_allclose(Hb["v"], eq.Phi @ eq.Phi.T, rtol=1e-12)


@pytest.mark.parametrize("N,d,m,gamma", [(10, 4, 30, 0.1), (20, 5, 12, 0.4)])
def test_gram_symmetric_psd_and_dominates_Hv(N, d, m, gamma):
    p, X, _ = problem(N, d, m)
    Hb = implicit.gram(p, X, gamma, blocks=True)
    H = sum(Hb.values())
    lmax = np.linalg.eigvalsh(H)[-1]
    for name, M in list(Hb.items()) + [("H", H)]:
        assert np.abs(M - M.T).max() <= 1e-13 * np.abs(M).max(), name
        w = np.linalg.eigvalsh((M + M.T) / 2)
        assert w[0] >= -1e-10 * lmax, (name, w[0])
    # H ⪰ H^v: λ_min(H − H^v) ≥ 0 up to rounding, hence λ_min(H) ≥ λ_min(ΦᵀΦ)
    assert np.linalg.eigvalsh(H - Hb["v"])[0] >= -1e-10 * lmax
    assert implicit.lambda_min(H) >= implicit.lambda_min(Hb["v"]) - 1e-10 * lmax
    # m < N: H^u = ZZᵀ has rank ≤ m, so its small eigenvalues are ~0 (while H stays PD from H^W)
    if m < N:
        assert np.linalg.eigvalsh(Hb["u"])[N - m - 1] <= 1e-10 * lmax
        assert implicit.lambda_min(H) > 1e-6 * lmax


def arccos_kernel(X):
    """G∞_ij = (sin θ + (π − θ) cos θ)/(2π), cos θ = x_iᵀx_j (written out here, docs/ntk.md)."""
    C = np.clip(X @ X.T, -1.0, 1.0)
    theta = np.arccos(C)
    return (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)


def features_gram(X, m, seed):
    """ΦΦᵀ from implicit.features at width m (A is never touched: a zero-stride stand-in)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, X.shape[1]))
    p = Params(np.broadcast_to(np.zeros(1), (m, m)), W, np.ones(m), np.ones(m))
    _, Phi = implicit.features(p, X)
    return Phi @ Phi.T


def test_features_gram_approaches_arccos_kernel():
    X, _ = R.make_data(6, 5, 0)
    G = arccos_kernel(X)
    np.testing.assert_allclose(np.diag(G), 0.5, rtol=1e-14)
    np.testing.assert_allclose(G, R.arccos_kernel(X), rtol=1e-13)
    # orthogonal inputs: θ = π/2 gives 1/(2π)
    np.testing.assert_allclose(arccos_kernel(np.eye(2))[0, 1], 1 / (2 * np.pi), rtol=1e-14)
    errs = {}
    for m in (200, 20000):
        errs[m] = np.mean([np.abs(features_gram(X, m, s) - G).max() for s in range(4)])
    assert errs[20000] < errs[200] / 3
    for m, e in errs.items():
        assert e <= 3 / np.sqrt(m), (m, e, e * np.sqrt(m))
    # G∞ is positive definite for non-parallel inputs: λ0 > 0
    assert np.linalg.eigvalsh(G)[0] > 1e-3


def test_gram_input_validation():
    p, X, _ = problem(4, 3, 5)
    with pytest.raises(ValueError, match="gamma"):
        implicit.gram(p, X, -0.1)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        implicit.gram(p, X[:, :1], 0.1)
    with pytest.raises(ValueError, match="method"):
        implicit.gram(p, X, 0.1, solver=implicit.SolverSettings(method="x"))
