"""Tests for implicit.infinite_width (arc-cosine kernel, lambda0, equilibrium kernel).

The slow references below are deliberately written independently of the module: per-pair
Python loops, Monte Carlo, and scipy.integrate quadrature in the *other* order of integration
(outer over the inputs' pre-activations (a, a'), inner closed form over (g, g')).
"""

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import owens_t

from implicit.infinite_width import (
    _bvn_upper,
    _maxwell_rule,
    _relu_product_moment,
    arccos_kernel,
    equilibrium_kernel,
    lambda0,
)

# any RuntimeWarning (division by zero, invalid value, ...) inside the module is a failure
pytestmark = pytest.mark.filterwarnings("error")

_SQ2 = math.sqrt(2.0)
_SQ2PI = math.sqrt(2.0 * math.pi)


def _unit_rows(rng, n, d):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _mc_gram(X, n_w, rng, chunk=250_000):
    """Monte Carlo E_w[sigma(Xw) sigma(Xw)^T] and the standard error of each entry."""
    N, d = X.shape
    s1 = np.zeros((N, N))
    s2 = np.zeros((N, N))
    for start in range(0, n_w, chunk):
        S = np.maximum(X @ rng.standard_normal((d, min(chunk, n_w - start))), 0.0)
        s1 += S @ S.T
        s2 += (S * S) @ (S * S).T
    mean = s1 / n_w
    se = np.sqrt(np.maximum(s2 / n_w - mean**2, 0.0) / n_w)
    return mean, se


def _rows_with_cosines(cs):
    """x_0 = e_1 and x_j = c_j e_1 + sqrt(1 - c_j^2) e_{j+1}, so x_0 . x_j = c_j."""
    X = np.zeros((len(cs) + 1, len(cs) + 1))
    X[0, 0] = 1.0
    for j, c in enumerate(cs, start=1):
        X[j, 0] = c
        X[j, j] = math.sqrt(1.0 - c * c)
    return X


# ----------------------------------------------------------------------------- scalar references
def _Phi(x):
    return 0.5 * math.erfc(-x / _SQ2)


def _phi(x):
    return math.exp(-0.5 * x * x) / _SQ2PI


def _arccos_ref(X, X2):
    out = np.empty((len(X), len(X2)))
    for i, x in enumerate(X):
        for j, y in enumerate(X2):
            t = math.acos(max(-1.0, min(1.0, float(np.dot(x, y)))))
            out[i, j] = (math.sin(t) + (math.pi - t) * math.cos(t)) / (2.0 * math.pi)
    return out


def _bvn_upper_ref(h, k, r):
    """P(U > h, V > k), scalar, Owen's T (checked against scipy.stats below)."""
    q = math.sqrt(1.0 - r * r)
    x, y = -h, -k
    if x == 0.0 and y == 0.0:
        return 0.25 + math.asin(r) / (2.0 * math.pi)
    if x == 0.0:
        return 0.5 * _Phi(y) - float(owens_t(y, -r / q))
    if y == 0.0:
        return 0.5 * _Phi(x) - float(owens_t(x, -r / q))
    b = 0.5 if x * y < 0.0 else 0.0
    return (
        0.5 * (_Phi(x) + _Phi(y))
        - float(owens_t(x, (y - r * x) / (x * q)))
        - float(owens_t(y, (x - r * y) / (y * q)))
        - b
    )


def _relu_prod_ref(mx, my, sx, sy, r):
    """E[X^+ Y^+] (Rosenbaum 1961), scalar version used inside the adaptive quadratures."""
    q = math.sqrt(1.0 - r * r)
    h, k = -mx / sx, -my / sy
    L = _bvn_upper_ref(h, k, r)
    A = _Phi(-(k - r * h) / q)
    B = _Phi(-(h - r * k) / q)
    ph, pk = _phi(h), _phi(k)
    EU = ph * A + r * pk * B
    EV = pk * B + r * ph * A
    EUV = r * L + r * h * ph * A + r * k * pk * B + q / (2 * math.pi) * math.exp(
        -(h * h - 2 * r * h * k + k * k) / (2 * q * q)
    )
    return mx * my * L + mx * sy * EV + my * sx * EU + sx * sy * EUV


def _fixed_point_rhs(c, k12, kappa, gamma, eps=1e-12):
    """E[sigma(gamma g + sigma(a)) sigma(gamma g' + sigma(a'))] by adaptive quadrature over (a, a').

    Inner expectation over (g, g') ~ N(0, [[kappa, k12], [k12, kappa]]) in closed form; outer over
    the four sign quadrants of (a, a') ~ N(0, [[1, c], [c, 1]]).
    """
    sd = gamma * math.sqrt(kappa)
    r = k12 / kappa
    q = math.sqrt(1.0 - c * c)

    def f(b1, b2):
        return _relu_prod_ref(b1, b2, sd, sd, r)

    opts = dict(epsabs=eps, epsrel=eps)
    both_neg = (0.25 + math.asin(c) / (2 * math.pi)) * f(0.0, 0.0)
    # a > 0 > a' (P(a' < 0 | a) = Phi(-c a / q)); the quadrant a < 0 < a' is equal by symmetry
    mixed, _ = integrate.quad(lambda a: _phi(a) * _Phi(-c * a / q) * f(a, 0.0), 0.0, 12.0, limit=200, **opts)
    # a, a' > 0 with a' = c a + q xi, xi standard normal
    both_pos, _ = integrate.dblquad(
        lambda xi, a: _phi(a) * _phi(xi) * f(a, c * a + q * xi),
        0.0,
        12.0,
        lambda a: -c * a / q,
        lambda a: 12.0,
        **opts,
    )
    return both_neg + 2.0 * mixed + both_pos


def _diag_rhs(kappa, gamma, eps=1e-12):
    """E[sigma(gamma sqrt(kappa) s + sigma(a))^2], s, a iid N(0, 1), by 2-D quadrature (no closed form)."""
    sk = gamma * math.sqrt(kappa)
    opts = dict(epsabs=eps, epsrel=eps)
    neg, _ = integrate.dblquad(lambda s, a: _phi(a) * _phi(s) * (sk * s) ** 2, -12.0, 0.0, 0.0, 12.0, **opts)
    pos, _ = integrate.dblquad(
        lambda s, a: _phi(a) * _phi(s) * (sk * s + a) ** 2,
        0.0,
        12.0,
        lambda a: max(-a / sk, -12.0),
        lambda a: 12.0,
        **opts,
    )
    return neg + pos


# ----------------------------------------------------------------------------- arc-cosine kernel
def test_arccos_matches_per_pair_reference():
    rng = np.random.default_rng(0)
    X = _unit_rows(rng, 15, 4)
    X2 = _unit_rows(rng, 7, 4)
    X = np.vstack([X, -X[:2], X[2:3]])  # exact antipodes (theta = pi) and a duplicate (theta = 0)
    G = arccos_kernel(X)
    np.testing.assert_allclose(G, _arccos_ref(X, X), rtol=0, atol=1e-14)
    np.testing.assert_allclose(arccos_kernel(X, X2), _arccos_ref(X, X2), rtol=0, atol=1e-14)
    assert G.shape == (18, 18) and G.dtype == np.float64
    assert np.all(np.diag(G) == 0.5)
    assert np.array_equal(G, G.T)
    assert np.linalg.eigvalsh(G)[0] > -1e-13


def test_arccos_matches_monte_carlo():
    rng = np.random.default_rng(1)
    X = _unit_rows(rng, 6, 5)
    G_mc, se = _mc_gram(X, 500_000, rng)
    G = arccos_kernel(X)
    assert np.all(np.abs(G - G_mc) < 5.0 * se)
    assert np.max(se) < 2e-3  # the check is sharp enough to see e.g. a wrong angle factor


def test_arccos_psd_and_bad_input():
    rng = np.random.default_rng(2)
    X = _unit_rows(rng, 60, 3)  # many points in low dimension: nearly singular
    assert np.linalg.eigvalsh(arccos_kernel(X))[0] > -1e-12
    with pytest.raises(ValueError):
        arccos_kernel(2.0 * X)
    with pytest.raises(ValueError):
        arccos_kernel(X, X[:, :2] / np.linalg.norm(X[:, :2], axis=1, keepdims=True))


def test_lambda0_vs_reference_and_monte_carlo():
    rng = np.random.default_rng(3)
    X = _unit_rows(rng, 6, 8)
    lam = lambda0(X)
    assert isinstance(lam, float)
    assert lam == pytest.approx(np.linalg.eigvalsh(_arccos_ref(X, X))[0], abs=1e-13)
    G_mc, se = _mc_gram(X, 2_000_000, rng)
    # Weyl: |lambda_min(A) - lambda_min(B)| <= ||A - B||_2 <= ||A - B||_F
    tol = 5.0 * math.sqrt(np.sum(se**2))
    assert abs(lam - np.linalg.eigvalsh(G_mc)[0]) < tol
    assert tol < 0.2 * lam  # loose, but not vacuous


# ----------------------------------------------------------------------------- building blocks
def test_relu_product_moment_closed_form():
    """Rosenbaum's formula vs direct 2-D quadrature of E[X^+ Y^+]; Owen-T orthant vs scipy.stats."""
    cases = [
        (0.3, 0.2, 0.5, 0.7, 0.4),
        (0.0, 0.0, 1.0, 1.0, 0.3),
        (0.0, 0.5, 0.1, 0.1, -0.8),
        (-0.5, 0.3, 1.0, 2.0, 0.95),
        (-1.0, -1.0, 1.0, 1.0, -0.5),
        (1.0, -2.0, 0.5, 1.5, 0.0),
        (0.5, 0.0, 0.05, 0.05, 0.99),
    ]
    for mx, my, sx, sy, r in cases:
        q = math.sqrt(1 - r * r)
        h, k = -mx / sx, -my / sy
        direct, _ = integrate.dblquad(
            lambda v, u: (mx + sx * u) * (my + sy * (r * u + q * v)) * _phi(u) * _phi(v),
            h,
            12.0,
            lambda u: (k - r * u) / q,
            lambda u: 12.0,
            epsabs=1e-13,
            epsrel=1e-13,
        )
        assert float(_relu_product_moment(mx, my, sx, sy, r)) == pytest.approx(direct, abs=1e-12)
        assert _relu_prod_ref(mx, my, sx, sy, r) == pytest.approx(direct, abs=1e-12)
    hs = np.array([0.0, 0.0, 0.7, -0.4, 1.3, 0.0, -2.0])
    ks = np.array([0.0, 0.5, 0.0, -0.4, -0.2, -1.0, 1.5])
    for r in (-0.9, -0.2, 0.0, 0.6, 0.97):
        got = _bvn_upper(hs, ks, r)
        for h, k, g in zip(hs, ks, got):
            want = stats.multivariate_normal([0, 0], [[1, r], [r, 1]]).cdf([-h, -k])
            assert g == pytest.approx(want, abs=2e-7)  # scipy's cdf is itself only ~1e-8 accurate
            assert _bvn_upper_ref(h, k, r) == pytest.approx(g, abs=1e-15)


def test_maxwell_rule_moments():
    for n in (6, 20):
        x, w = _maxwell_rule(n)
        for j in range(2 * n):  # exact for degree <= 2n - 1
            exact = 2.0 ** (j / 2) * math.gamma(j / 2 + 1)  # int_0^inf rho^j rho e^{-rho^2/2}
            assert np.dot(w, x**j) == pytest.approx(exact, rel=1e-12)


# ----------------------------------------------------------------------------- equilibrium kernel
def test_equilibrium_small_gamma_is_arccos():
    rng = np.random.default_rng(4)
    X = _unit_rows(rng, 12, 6)
    G = arccos_kernel(X)
    K = equilibrium_kernel(X, 1e-6)
    assert np.max(np.abs(K - G)) < 1e-6
    # off-diagonal entries move linearly in gamma, the diagonal quadratically
    K3 = equilibrium_kernel(X, 1e-3)
    assert 1e-5 < np.max(np.abs(K3 - G)) < 1e-3
    assert np.max(np.abs(np.diag(K3) - 0.5)) < 1e-6


@pytest.mark.parametrize("gamma", [0.1, 0.4])
def test_equilibrium_fixed_point_equation(gamma):
    cs = [-0.9, -0.3, 0.0, 0.5, 0.95]
    X = _rows_with_cosines(cs)
    K = equilibrium_kernel(X, gamma)
    kappa = K[0, 0]
    assert np.allclose(np.diag(K), kappa, rtol=0, atol=1e-15)
    # diagonal: kappa = E[sigma(gamma g + sigma(a))^2] with an independent 2-D quadrature
    assert kappa == pytest.approx(_diag_rhs(kappa, gamma), abs=1e-10)
    for j, c in enumerate(cs, start=1):
        rhs = _fixed_point_rhs(c, K[0, j], kappa, gamma)
        assert K[0, j] == pytest.approx(rhs, abs=1e-9), (gamma, c)
    # and it is not trivially the input-layer kernel
    assert np.max(np.abs(K - arccos_kernel(X))) > 1e-3


def test_equilibrium_structure_and_extreme_pairs():
    rng = np.random.default_rng(5)
    X = _unit_rows(rng, 20, 4)
    X = np.vstack([X, X[:2], -X[2:4]])  # duplicates (c = 1) and antipodes (c = -1)
    K = equilibrium_kernel(X, 0.3)
    assert K.shape == (24, 24) and K.dtype == np.float64
    assert np.all(np.isfinite(K)) and np.array_equal(K, K.T)
    assert np.all(np.diag(K) == K[0, 0])
    assert np.all(K > 0)
    assert np.linalg.eigvalsh(K)[0] > -1e-10
    np.testing.assert_allclose(K[20:22, 20:22], K[:2, :2], rtol=0, atol=1e-9)  # duplicated rows
    np.testing.assert_allclose(K[20, 0], K[0, 0], rtol=0, atol=1e-9)
    # K only depends on the cosine: the same cosines give the same entries
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    np.testing.assert_allclose(equilibrium_kernel(X @ Q, 0.3), K, rtol=0, atol=1e-9)
    assert equilibrium_kernel(X[:1], 0.3).shape == (1, 1)


def test_equilibrium_finite_width_simulation():
    """Z^T Z of a width-m implicit layer, solved by fixed-point iteration, is close to K^inf."""
    X = _rows_with_cosines([0.5, -0.3, 0.8])
    gamma, m = 0.5, 4000
    K = equilibrium_kernel(X, gamma)
    grams = []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        W = rng.standard_normal((m, X.shape[1]))
        M = (gamma / math.sqrt(m)) * rng.standard_normal((m, m), dtype=np.float32)
        B = (np.maximum(W @ X.T, 0.0) / math.sqrt(m)).astype(np.float32)
        Z = B
        for _ in range(200):
            Z_new = np.maximum(M @ Z + B, 0.0)
            done = np.max(np.abs(Z_new - Z)) < 1e-7
            Z = Z_new
            if done:
                break
        else:
            raise AssertionError("finite-width fixed point did not converge")
        Z = Z.astype(np.float64)
        grams.append(Z.T @ Z)
    mean = np.mean(grams, axis=0)
    tol = 4.0 / math.sqrt(m)
    assert np.max(np.abs(mean - K)) < tol
    assert np.max(np.abs(mean - arccos_kernel(X))) > tol  # the check can tell K^inf from G^inf


def test_equilibrium_bad_input_and_non_convergence():
    X = _rows_with_cosines([0.2, -0.5])
    for g in (0.0, -0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError):
            equilibrium_kernel(X, g)
    with pytest.raises(ValueError):
        equilibrium_kernel(1.001 * X, 0.3)
    with pytest.raises(ValueError):
        equilibrium_kernel(X[:, :2], 0.3)  # rows no longer unit norm
    with pytest.raises(RuntimeError, match="last max"):
        equilibrium_kernel(X, 0.4, max_iter=1)
