"""Each Numba kernel of implicit/_numba.py against a pure-NumPy statement of what it computes.

Inputs are random with exact zeros planted (the ReLU/mask threshold is the strict ``> 0``:
a zero pre-activation is inactive), plus a few negative zeros; float64 and float32.
"""

import numpy as np
import pytest

from implicit import _numba

DTYPES = [np.float64, np.float32]
SHAPES = [(7, 13), (1, 5), (3, 1)]


def rand(shape, dtype, seed, zeros=0.2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < zeros] = 0.0
    flat = x.reshape(-1)
    flat[:: max(1, flat.size // 3)] = -0.0  # signed zeros are not positive either
    return np.ascontiguousarray(x, dtype=dtype)


def tol(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)


# -- NumPy references ----------------------------------------------------------------------
def np_relu_map(P, Phi, Z, scale=1.0):
    # the kernel multiplies by the float64 scale, so float32 inputs are summed in float64
    Pn = (scale * P.astype(np.float64) + Phi).astype(P.dtype)
    Zn = np.where(Pn > 0, Pn, 0).astype(P.dtype)
    res = np.sqrt(np.sum((Zn.astype(np.float64) - Z.astype(np.float64)) ** 2, axis=1))
    return Pn, Zn, res


def np_adjoint_map(T, u, K, scale=1.0):
    Kn = (u[None, :] + scale * T.astype(np.float64)).astype(T.dtype)
    res = np.sqrt(np.sum((Kn.astype(np.float64) - K.astype(np.float64)) ** 2, axis=1))
    return Kn, res


def np_mask_positive(P, K):
    return np.where(P > 0, K, 0).astype(K.dtype)


def np_relu_scaled(Q, scale):
    return (np.where(Q > 0, Q, 0) * Q.dtype.type(scale)).astype(Q.dtype)


def np_input_adjoint(Q, M, v, r, scale):
    return np.where(Q > 0, (M + r[:, None] * v[None, :]) * M.dtype.type(scale), 0).astype(M.dtype)


# -- tests -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [1.0, 0.37])
def test_relu_map(dtype, shape, scale):
    P, Phi, Z = rand(shape, dtype, 1), rand(shape, dtype, 2), np.abs(rand(shape, dtype, 3))
    if scale == 1.0:  # plant exact cancellations P + Phi == 0: must give z = 0
        P.flat[1::4] = -Phi.flat[1::4]
    Pn_ref, Zn_ref, res_ref = np_relu_map(P, Phi, Z, scale)
    assert np.any(Pn_ref == 0)
    Pk, Zout, res = P.copy(), np.full(shape, np.nan, dtype), np.full(shape[0], np.nan, dtype)
    delta = np.full(shape, np.nan, np.float32)
    Z_before = Z.copy()
    _numba.relu_map(Pk, Phi, Z, Zout, res, scale, delta)
    np.testing.assert_array_equal(Pk, Pn_ref)          # P updated in place to scale·P + Φ
    np.testing.assert_array_equal(Zout, Zn_ref)        # Zout = σ(P + Φ)
    assert not np.any(np.signbit(Zout))               # no −0 leaks out of the ReLU
    np.testing.assert_array_equal(Z, Z_before)         # Z untouched when Zout is separate
    np.testing.assert_allclose(res, res_ref, **tol(dtype))
    np.testing.assert_allclose(delta, Zn_ref.astype(np.float64) - Z, rtol=1e-6, atol=1e-7)  # the step, float32
    assert res.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_map_in_place_alias(dtype):
    shape = (6, 11)
    P, Phi, Z = rand(shape, dtype, 4), rand(shape, dtype, 5), np.abs(rand(shape, dtype, 6))
    Pn_ref, Zn_ref, res_ref = np_relu_map(P, Phi, Z)
    res = np.empty(shape[0], dtype)
    _numba.relu_map(P, Phi, Z, Z, res, 1.0, np.empty(shape, np.float32))  # Zout is Z
    np.testing.assert_array_equal(Z, Zn_ref)
    np.testing.assert_array_equal(P, Pn_ref)
    np.testing.assert_allclose(res, res_ref, **tol(dtype))  # residual against the OLD Z


@pytest.mark.parametrize("shape", SHAPES)
def test_relu_increment(shape):
    """P ← P + scale·T (float32 T), Z ← σ(P), residual and step against the old Z."""
    P, Z = rand(shape, np.float64, 30), np.abs(rand(shape, np.float64, 31))
    T = rand(shape, np.float32, 32)
    scale = 0.37
    Pn = P + scale * T.astype(np.float64)
    Zn = np.where(Pn > 0, Pn, 0.0)
    Pk, Zk, res, delta = P.copy(), Z.copy(), np.empty(shape[0]), np.empty(shape, np.float32)
    _numba.relu_increment(Pk, T, Zk, res, delta, scale)
    np.testing.assert_array_equal(Pk, Pn)
    np.testing.assert_array_equal(Zk, Zn)
    assert not np.any(np.signbit(Zk))
    np.testing.assert_allclose(res, np.linalg.norm(Zn - Z, axis=1), rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(delta, (Zn - Z).astype(np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alias", [False, True])
@pytest.mark.parametrize("scale", [1.0, 0.37])
def test_adjoint_map(dtype, alias, scale):
    shape = (5, 9)
    T, K, u, P = rand(shape, dtype, 7), rand(shape, dtype, 8), rand((shape[1],), dtype, 9), rand(shape, dtype, 33)
    D = P > 0
    Kn_ref, res_ref = np_adjoint_map(T, u, K, scale)
    res = np.empty(shape[0], dtype)
    M, delta = np.full(shape, np.nan, dtype), np.full(shape, np.nan, np.float32)
    T_before, K_before = T.copy(), K.copy()
    if alias:
        _numba.adjoint_map(T, u, D, K, K, res, scale, M, delta)
        out = K
    else:
        out = np.full(shape, np.nan, dtype)
        _numba.adjoint_map(T, u, D, K, out, res, scale, M, delta)
        np.testing.assert_array_equal(K, K_before)
    np.testing.assert_array_equal(out, Kn_ref)
    np.testing.assert_array_equal(T, T_before)
    np.testing.assert_allclose(res, res_ref, **tol(dtype))
    np.testing.assert_array_equal(M, np_mask_positive(P, Kn_ref))                       # D⊙K_new
    np.testing.assert_allclose(delta, np_mask_positive(P, Kn_ref.astype(np.float64) - K_before), rtol=1e-6, atol=1e-6)


def test_adjoint_increment():
    """K ← K + scale·T1 (float32 T1), res = ‖scale·T1‖, M = D⊙K, delta = D⊙(scale·T1);
    the same K as u + scale·(T + T1) when K = u + scale·T (K is affine in its product)."""
    shape = (5, 9)
    T, P = rand(shape, np.float64, 34), rand(shape, np.float64, 36)
    u, T1 = rand((shape[1],), np.float64, 37), rand(shape, np.float32, 38)
    scale = 0.37
    K = u[None, :] + scale * T
    step = scale * T1.astype(np.float64)
    Kk, res = K.copy(), np.empty(shape[0])
    M, delta = np.full(shape, np.nan), np.full(shape, np.nan, np.float32)
    _numba.adjoint_increment(T1, P > 0, Kk, res, scale, M, delta)
    np.testing.assert_array_equal(Kk, K + step)
    np.testing.assert_allclose(Kk, u[None, :] + scale * (T + T1.astype(np.float64)), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(res, np.linalg.norm(step, axis=1), rtol=1e-13)
    np.testing.assert_array_equal(M, np_mask_positive(P, K + step))
    np.testing.assert_array_equal(delta, np_mask_positive(P, step).astype(np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mask_scale_rows(dtype):
    P, K, c = rand((6, 7), dtype, 60), rand((6, 7), dtype, 61), rand((6,), dtype, 62)
    M = np.full((6, 7), np.nan, dtype)
    _numba.mask_scale_rows(P, K, c, M)
    np.testing.assert_allclose(M, c[:, None] * np_mask_positive(P, K), **tol(dtype))
    assert np.all(M[P <= 0] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_mask_positive(dtype, shape):
    P, K = rand(shape, dtype, 10), rand(shape, dtype, 11)
    M = np.full(shape, np.nan, dtype)
    _numba.mask_positive(P, K, M)
    np.testing.assert_array_equal(M, np_mask_positive(P, K))
    assert np.all(M[P <= 0] == 0)
    M2 = np.full(shape, np.nan, dtype)
    _numba.mask_positive(P > 0, K, M2)  # the masks as bool
    np.testing.assert_array_equal(M2, M)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_scaled(dtype, shape):
    Q = rand(shape, dtype, 12)
    scale = 1.0 / np.sqrt(37.0)
    out = np.full(shape, np.nan, dtype)
    _numba.relu_scaled(Q, scale, out)
    np.testing.assert_allclose(out, np_relu_scaled(Q, scale), **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_array_equal(out, np_relu_scaled(Q, scale))
    assert np.all(out[Q <= 0] == 0) and np.all(out[Q > 0] > 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_input_adjoint(dtype, shape):
    N, m = shape
    Q, M = rand(shape, dtype, 13), rand(shape, dtype, 14)
    v, r = rand((m,), dtype, 15), rand((N,), dtype, 16)
    scale = 1.0 / np.sqrt(11.0)
    out = np.full(shape, np.nan, dtype)
    _numba.input_adjoint(Q, M, v, r, scale, out)
    ref = np_input_adjoint(Q, M, v, r, scale)
    np.testing.assert_allclose(out, ref, **tol(dtype))
    assert np.all(out[Q <= 0] == 0)
    # element-wise, so out may alias M
    M2 = M.copy()
    _numba.input_adjoint(Q, M2, v, r, scale, M2)
    np.testing.assert_allclose(M2, ref, **tol(dtype))


def test_same_mask_rows():
    D1 = rand((6, 8), np.float64, 17) > 0
    D2 = D1.copy()
    D2[1, 3] = ~D2[1, 3]   # row 1 differs in one unit
    D2[4] = ~D2[4]         # row 4 everywhere
    ref = np.all(D1 == D2, axis=1)
    np.testing.assert_array_equal(_numba.same_mask_rows(D1, D2), ref)
    assert not ref[1] and not ref[4] and ref.sum() == 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_flip_correction(dtype):
    N, m, scale = 4, 7, 0.3
    Pold, Pnew, K = rand((N, m), dtype, 18), rand((N, m), dtype, 19), rand((N, m), dtype, 20)
    A = rand((m, m), dtype, 21)
    K0 = rand((N, m), dtype, 22)
    ref = K0 + scale * (((Pnew > 0).astype(dtype) - (Pold > 0).astype(dtype)) * K) @ A
    out = K0.copy()
    _numba.flip_correction(Pold > 0, Pnew, K, A, scale, out)
    np.testing.assert_allclose(out, ref, **tol(dtype))
    assert not np.array_equal(out, K0)  # some units flipped


@pytest.mark.parametrize("dtype", DTYPES)
def test_extrapolate_adjoint(dtype):
    N, m = 6, 8
    K1, K2, K3 = (rand((N, m), dtype, 40 + i) for i in range(3))
    u1, u2, u3, u = (rand((m,), dtype, 50 + i) for i in range(4))
    coef = np.array([[1.0, 0.0, 0.0], [1.9, -0.9, 0.0], [2.9, -2.8, 0.9]])
    p = np.array([1, 2, 3, 3, 2, 1])
    C = [K1 - u1, K2 - u2, K3 - u3]
    ref = np.stack([sum(coef[q - 1, i] * C[i][j] for i in range(q)) for j, q in enumerate(p)]) + u
    out = np.full((N, m), np.nan, dtype)
    _numba.extrapolate_adjoint(K1, K2, K3, u1, u2, u3, coef, p, u, out)
    np.testing.assert_allclose(out, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_extrapolate_forward(dtype):
    shape = (6, 8)
    Z, Zp, Phi, Phik, Phip = (rand(shape, dtype, 60 + i) for i in range(5))
    for s in (1.0, 0.9):
        ref = Z + s * (Z - Zp) + (Z > 0) * (Phi - Phik - s * (Phik - Phip))
        out = np.full(shape, np.nan, dtype)
        _numba.extrapolate_forward(Z, Zp, Phi, Phik, Phip, s, out)
        np.testing.assert_allclose(out, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_axpy_and_axpy_dist(dtype):
    x, y, y0 = rand((50,), dtype, 50), rand((50,), dtype, 51), rand((50,), dtype, 52)
    ref = y + dtype(0.3) * x
    y1 = y.copy()
    _numba.axpy(dtype(0.3), x, y1)
    np.testing.assert_allclose(y1, ref, **tol(dtype))
    dist = _numba.axpy_dist(dtype(0.3), x, y, y0)  # the same update, and ‖y_new − y0‖
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_allclose(dist, np.linalg.norm(y1.astype(float) - y0), rtol=1e-12)


def test_kernels_vs_engine_features():
    """relu_scaled is what implicit.features uses: φ = σ(XWᵀ)/√m."""
    import implicit

    p = implicit.init_params(4, 9, seed=0)
    X = np.random.default_rng(0).standard_normal((5, 4))
    Q, Phi = implicit.features(p, X)
    np.testing.assert_allclose(Q, X @ p.W.T, rtol=1e-14)
    np.testing.assert_allclose(Phi, np.maximum(X @ p.W.T, 0) / 3.0, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", DTYPES + [np.int64, np.bool_])
@pytest.mark.parametrize("ndim", [1, 2])
def test_swap_rows(dtype, ndim):
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((9, 4)[:ndim]) * 3).astype(dtype)
    i, j = np.array([0, 2, 5]), np.array([8, 3, 6])
    ref = a.copy()
    ref[i], ref[j] = a[j], a[i]
    _numba.swap_rows(a, i, j)
    np.testing.assert_array_equal(a, ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unpermute_rows(dtype):
    rng = np.random.default_rng(6)
    for N in (1, 2, 7, 30):
        a = rand((N, 5), dtype, 70 + N)
        perm = rng.permutation(N)
        ref = np.empty_like(a)
        ref[perm] = a
        _numba.unpermute_rows(a, perm)
        np.testing.assert_array_equal(a, ref)
    a = rand((6, 3), dtype, 80)
    ref = a.copy()
    _numba.unpermute_rows(a, np.arange(6))  # identity: untouched
    np.testing.assert_array_equal(a, ref)
