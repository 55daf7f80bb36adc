"""Params: block arithmetic, copies, dtype conversion, flattening, initialisation (docs/model.md)."""

import numpy as np
import pytest

import implicit
from implicit import BLOCKS, Params, init_params


def rand_params(m, d, seed):
    rng = np.random.default_rng(seed)
    return Params(rng.standard_normal((m, m)), rng.standard_normal((m, d)), rng.standard_normal(m), rng.standard_normal(m))


def assert_blocks(p, fn):
    for name in BLOCKS:
        fn(name, getattr(p, name))


def test_blocks_order_and_shapes():
    p = rand_params(4, 3, 0)
    assert BLOCKS == ("A", "W", "u", "v")
    assert [n for n, _ in p.blocks()] == list(BLOCKS)
    assert (p.m, p.d) == (4, 3)
    assert p.dtype == np.float64


def test_arithmetic_is_blockwise():
    p, q = rand_params(4, 3, 0), rand_params(4, 3, 1)
    s, t, c = p + q, p - q, 2.5 * p
    for name in BLOCKS:
        a, b = getattr(p, name), getattr(q, name)
        np.testing.assert_array_equal(getattr(s, name), a + b)
        np.testing.assert_array_equal(getattr(t, name), a - b)
        np.testing.assert_array_equal(getattr(c, name), 2.5 * a)
        np.testing.assert_array_equal(getattr(p * 2.5, name), 2.5 * a)
        np.testing.assert_array_equal(getattr(-p, name), -a)
    # sum() starts from 0: __radd__ with a scalar
    tot = sum([p, q])
    np.testing.assert_array_equal(tot.A, p.A + q.A)
    # arithmetic returns new arrays and leaves the operands alone
    A_before = p.A.copy()
    s.A[...] = 0.0
    np.testing.assert_array_equal(p.A, A_before)
    with pytest.raises(TypeError):
        p * q


def test_axpy_in_place_and_restricted_to_names():
    p, q = rand_params(4, 3, 0), rand_params(4, 3, 1)
    ref = p.copy()
    A_id = id(p.A)
    out = p.axpy(-0.3, q)
    assert out is p and id(p.A) == A_id
    for name in BLOCKS:
        np.testing.assert_array_equal(getattr(p, name), getattr(ref, name) - 0.3 * getattr(q, name))
    p2 = ref.copy()
    p2.axpy(2.0, q, names=("u",))
    np.testing.assert_array_equal(p2.u, ref.u + 2.0 * q.u)
    for name in ("A", "W", "v"):
        np.testing.assert_array_equal(getattr(p2, name), getattr(ref, name))


def test_axpy_distance():
    """The update of axpy, and ‖block − ref.block‖ of the updated blocks only."""
    p, q, r = rand_params(4, 3, 0), rand_params(4, 3, 1), rand_params(4, 3, 2)
    ref = p.copy().axpy(-0.3, q, names=("A", "W"))
    dist = p.axpy_distance(-0.3, q, r, names=("A", "W"))
    assert p.allclose(ref, rtol=0, atol=0) and set(dist) == {"A", "W"}
    for name in ("A", "W"):
        assert dist[name] == pytest.approx(np.linalg.norm(getattr(p, name) - getattr(r, name)), rel=1e-12)
    p2 = ref.copy()
    dist = p2.axpy_distance(1.0, q, r.astype(np.float32), names=("u",))  # mixed dtypes: the NumPy path
    np.testing.assert_array_equal(p2.u, ref.u + q.u)
    assert dist["u"] == pytest.approx(np.linalg.norm(p2.u - r.u.astype(np.float32)))


def test_vdot():
    p, q = rand_params(5, 2, 0), rand_params(5, 2, 1)
    expected = sum(float(np.sum(getattr(p, n) * getattr(q, n))) for n in BLOCKS)
    assert p.vdot(q) == pytest.approx(expected, rel=1e-14)
    assert p.vdot(q) == pytest.approx(float(p.flatten() @ q.flatten()), rel=1e-14)
    assert p.vdot(p) == pytest.approx(np.linalg.norm(p.flatten()) ** 2, rel=1e-14)
    assert isinstance(p.vdot(q), float)


def test_copy_is_independent():
    p = rand_params(4, 3, 0)
    c = p.copy()
    for name in BLOCKS:
        assert not np.shares_memory(getattr(p, name), getattr(c, name))
        getattr(c, name)[...] = 7.0
    assert not np.any(p.A == 7.0) and not np.any(p.u == 7.0)


def test_zeros_like():
    p = rand_params(4, 3, 0)
    z = p.zeros_like()
    assert_blocks(z, lambda n, a: (a.shape == getattr(p, n).shape) or pytest.fail(n))
    assert not np.any(z.flatten())


def test_astype():
    p = rand_params(4, 3, 0)
    f = p.astype(np.float32)
    assert f.dtype == np.float32
    for name in BLOCKS:
        a = getattr(f, name)
        assert a.dtype == np.float32 and a.flags.c_contiguous
        np.testing.assert_array_equal(a, getattr(p, name).astype(np.float32))
        assert not np.shares_memory(a, getattr(p, name))
    back = f.astype(np.float64)
    assert back.dtype == np.float64
    assert back.allclose(p, rtol=1e-6, atol=1e-7)
    # astype of a non-contiguous block gives a C-contiguous copy
    q = Params(np.asfortranarray(p.A), p.W, p.u, p.v).astype(np.float64)
    assert q.A.flags.c_contiguous


def test_flatten_unflatten_round_trip():
    m, d = 4, 3
    p = rand_params(m, d, 0)
    vec = p.flatten()
    assert vec.shape == (m * m + m * d + 2 * m,)
    np.testing.assert_array_equal(vec[: m * m], p.A.ravel())
    np.testing.assert_array_equal(vec[m * m : m * m + m * d], p.W.ravel())
    np.testing.assert_array_equal(vec[-2 * m : -m], p.u)
    np.testing.assert_array_equal(vec[-m:], p.v)
    q = Params.unflatten(vec, m, d)
    for name in BLOCKS:
        np.testing.assert_array_equal(getattr(q, name), getattr(p, name))
    np.testing.assert_array_equal(q.flatten(), vec)
    with pytest.raises(ValueError, match="m=4"):
        Params.unflatten(vec[:-1], m, d)
    with pytest.raises(ValueError):
        Params.unflatten(vec, m, d + 1)


def test_bad_shapes_raise():
    m, d = 4, 3
    A, W, u, v = np.zeros((m, m)), np.zeros((m, d)), np.zeros(m), np.zeros(m)
    for bad in [
        (np.zeros((m, m + 1)), W, u, v),
        (np.zeros(m), W, u, v),
        (np.zeros((m, m, 1)), W, u, v),
        (A, np.zeros((m + 1, d)), u, v),
        (A, np.zeros(m), u, v),
        (A, W, np.zeros(m + 1), v),
        (A, W, u, np.zeros((m, 1))),
    ]:
        with pytest.raises(ValueError, match="shape"):
            Params(*bad)


def test_scalar_A_raises_value_error():
    # a 0-d A is a bad shape too: it must give the ValueError, not an IndexError from A.shape[0]
    with pytest.raises(ValueError, match="shape"):
        Params(np.zeros(()), np.zeros((4, 3)), np.zeros(4), np.zeros(4))


def test_init_params_distribution():
    d, m = 30, 200
    p = init_params(d, m, seed=0)
    assert (p.m, p.d, p.dtype) == (m, d, np.float64)
    assert p.A.shape == (m, m) and p.W.shape == (m, d) and p.u.shape == (m,) and p.v.shape == (m,)
    # A: 40000 N(0,1) draws: mean sd 0.005, var sd ~0.007
    assert abs(p.A.mean()) < 0.02 and abs(p.A.var() - 1.0) < 0.03
    # W: 6000 draws: mean sd 0.013, var sd 0.018
    assert abs(p.W.mean()) < 0.05 and abs(p.W.var() - 1.0) < 0.08
    # a Gaussian, not e.g. uniform with unit variance: kurtosis 3
    kurt = np.mean(p.A**4) / np.mean(p.A**2) ** 2
    assert abs(kurt - 3.0) < 0.15
    for s in (p.u, p.v):
        assert set(np.unique(s)) == {-1.0, 1.0}
        assert abs(s.mean()) < 0.25  # 200 fair signs: sd 0.07
    assert not np.array_equal(p.u, p.v)


def test_init_params_seeded():
    a, b, c = init_params(5, 7, seed=3), init_params(5, 7, seed=3), init_params(5, 7, seed=4)
    for name in BLOCKS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.A, c.A) and not np.array_equal(a.W, c.W)
    # same generator stream as documented: A, W, u, v from default_rng(seed)
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(a.A, rng.standard_normal((7, 7)))
    np.testing.assert_array_equal(a.W, rng.standard_normal((7, 5)))


def test_init_params_dtype():
    p = init_params(3, 4, seed=0, dtype=np.float32)
    assert p.dtype == np.float32 and p.W.dtype == np.float32 and p.u.dtype == np.float32
    np.testing.assert_array_equal(p.A, init_params(3, 4, seed=0).A.astype(np.float32))


@pytest.mark.parametrize("d,m", [(0, 4), (3, 0), (-1, 4), (2.5, 4), (3, 4.5), (True, 4)])
def test_init_params_bad_values(d, m):
    with pytest.raises(ValueError, match="positive integer"):
        init_params(d, m, seed=0)


def test_init_params_accepts_integral_floats():
    p = init_params(3.0, 4.0, seed=0)
    assert (p.d, p.m) == (3, 4)


def test_check_trainable():
    from implicit.model import check_trainable

    assert check_trainable("A") == ("A",)
    assert check_trainable(("v", "A")) == ("A", "v")
    assert check_trainable(list(BLOCKS)) == BLOCKS
    for bad in [(), ("B",), ("A", "x"), "", ("a",)]:
        with pytest.raises(ValueError, match="trainable"):
            check_trainable(bad)


def test_public_api():
    for name in ["Params", "init_params", "equilibrium", "NotConverged", "loss_and_grad", "predict", "gram",
                 "train", "gradient_flow", "TRACE_COLUMNS", "GRAM_COLUMNS", "features"]:
        assert hasattr(implicit, name), name
