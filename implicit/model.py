"""The ReLU implicit network's parameters and its explicit layers (docs/model.md).

θ = (A, W, u, v) with shapes A (m, m), W (m, d), u (m,), v (m,), initialised as
A_ij, W_ij ~ N(0, 1) i.i.d. and u_j, v_j uniform on {−1, +1} i.i.d.; the input features
φ = σ(Wx)/√m and the output ŷ = uᵀz + vᵀφ.  The implicit layer z = σ(γ/√m·Az + φ) is
solved in :mod:`implicit.solver`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import _numba, _timing

#: The parameter blocks, in the order used everywhere (traces, Gram blocks, flattening).
BLOCKS = ("A", "W", "u", "v")


@dataclass
class Params:
    """θ = (A, W, u, v).  Supports θ ± θ', c·θ, θ·c, copy() and astype().

    Arithmetic is block-wise and returns new arrays; ``axpy`` updates in place (the GD step).
    """

    A: np.ndarray
    W: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def __post_init__(self):
        m = self.A.shape[0] if self.A.ndim == 2 else -1
        if m < 1 or self.A.shape != (m, m) or self.W.ndim != 2 or self.W.shape[0] != m:
            raise ValueError(f"inconsistent shapes A{self.A.shape}, W{self.W.shape}")
        if self.u.shape != (m,) or self.v.shape != (m,):
            raise ValueError(f"u{self.u.shape} and v{self.v.shape} must both have shape ({m},)")

    # -- shape information -------------------------------------------------------------
    @property
    def m(self) -> int:
        """Width."""
        return self.A.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.W.shape[1]

    @property
    def dtype(self) -> np.dtype:
        return self.A.dtype

    def blocks(self):
        """Iterate over (name, array) in ``BLOCKS`` order."""
        return ((name, getattr(self, name)) for name in BLOCKS)

    # -- copies and conversions ---------------------------------------------------------
    def copy(self) -> "Params":
        return Params(*(np.array(a, copy=True) for _, a in self.blocks()))

    def astype(self, dtype) -> "Params":
        """Copy with every block converted to ``dtype`` (C-contiguous)."""
        return Params(*(np.ascontiguousarray(a, dtype=dtype) for _, a in self.blocks()))

    def zeros_like(self) -> "Params":
        return Params(*(np.zeros_like(a) for _, a in self.blocks()))

    def flatten(self) -> np.ndarray:
        """Concatenate the blocks into one vector (A, W, u, v order)."""
        return np.concatenate([a.ravel() for _, a in self.blocks()])

    @classmethod
    def unflatten(cls, vec: np.ndarray, m: int, d: int) -> "Params":
        """Inverse of :meth:`flatten` (views into ``vec``)."""
        sizes = np.cumsum([m * m, m * d, m, m])
        if vec.shape != (sizes[-1],):
            raise ValueError(f"vector of length {vec.shape} does not hold m={m}, d={d}")
        A, W, u, v, _ = np.split(vec, sizes)
        return cls(A.reshape(m, m), W.reshape(m, d), u, v)

    # -- arithmetic -----------------------------------------------------------------------
    def _map2(self, other, op) -> "Params":
        if isinstance(other, Params):
            return Params(*(op(a, b) for (_, a), (_, b) in zip(self.blocks(), other.blocks())))
        return Params(*(op(a, other) for _, a in self.blocks()))

    def __add__(self, other):
        return self._map2(other, np.add)

    def __sub__(self, other):
        return self._map2(other, np.subtract)

    def __mul__(self, c):
        if isinstance(c, Params):
            return NotImplemented
        return self._map2(c, np.multiply)

    __rmul__ = __mul__
    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def axpy(self, alpha: float, other: "Params", names=BLOCKS) -> "Params":
        """In place: block += alpha · other.block for each block in ``names``; returns self."""
        for name in names:
            a, x = getattr(self, name), getattr(other, name)
            if a.flags.c_contiguous and x.flags.c_contiguous and a.dtype == x.dtype and a.shape == x.shape:
                _numba.axpy(a.dtype.type(alpha), x.reshape(-1), a.reshape(-1))  # no temporary
            else:
                a += alpha * x
        return self

    def axpy_distance(self, alpha: float, other: "Params", ref: "Params", names=BLOCKS) -> dict:
        """In place, as :meth:`axpy`; returns {name: ‖block − ref.block‖_F} of the updated
        blocks, computed in the same pass (GD's distance from θ(0) at no extra read of θ)."""
        out = {}
        for name in names:
            a, x, a0 = getattr(self, name), getattr(other, name), getattr(ref, name)
            if all(b.flags.c_contiguous and b.dtype == a.dtype and b.shape == a.shape for b in (x, a0)) and a.flags.c_contiguous:
                t = _timing.sink and _timing.clock()
                out[name] = float(_numba.axpy_dist(a.dtype.type(alpha), x.reshape(-1), a.reshape(-1), a0.reshape(-1)))
                t = t and _timing.report(t, "pass:axpy_dist")
            else:
                a += alpha * x
                out[name] = float(np.linalg.norm((a - a0).astype(np.float64)))
        return out

    def vdot(self, other: "Params") -> float:
        """Euclidean inner product over all blocks."""
        return float(sum(np.vdot(a, b) for (_, a), (_, b) in zip(self.blocks(), other.blocks())))

    def allclose(self, other: "Params", **kw) -> bool:
        return all(np.allclose(a, b, **kw) for (_, a), (_, b) in zip(self.blocks(), other.blocks()))


def init_params(d: int, m: int, seed, *, dtype=np.float64) -> Params:
    """Draw θ(0) from ``numpy.random.default_rng(seed)``: A (m,m), W (m,d) ~ N(0,1); u, v ~ ±1.

    Blocks are drawn in the order A, W, u, v, so a given (d, m, seed) always gives the same θ.
    """
    d, m = _positive_int(d, "d"), _positive_int(m, "m")
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, m))
    W = rng.standard_normal((m, d))
    u = rng.choice(np.array([-1.0, 1.0]), size=m)
    v = rng.choice(np.array([-1.0, 1.0]), size=m)
    return Params(A, W, u, v).astype(dtype)


def check_trainable(trainable) -> tuple[str, ...]:
    """Validate a subset of ``BLOCKS``; returns it as a tuple in canonical order."""
    if isinstance(trainable, str):
        trainable = (trainable,)
    names = tuple(trainable)
    bad = [n for n in names if n not in BLOCKS]
    if bad or not names:
        raise ValueError(f"trainable must be a non-empty subset of {BLOCKS}, got {names!r}")
    return tuple(n for n in BLOCKS if n in names)


def _positive_int(x, name: str) -> int:
    if isinstance(x, bool) or int(x) != x or x < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


__all__ = ["BLOCKS", "Params", "init_params", "check_trainable"]
assert tuple(f.name for f in fields(Params)) == BLOCKS


def features(params: Params, X: np.ndarray):
    """The input layer: Q = XWᵀ and Φ = σ(Q)/√m, both (N, m) (φ_i = σ(Wx_i)/√m)."""
    t = _timing.sink and _timing.clock()
    Q = np.matmul(X, params.W.T)
    t = t and _timing.report(t, "features", len(X), Q.dtype)
    Phi = np.empty_like(Q)
    _numba.relu_scaled(Q, 1.0 / np.sqrt(params.m), Phi)
    t = t and _timing.report(t, "pass:relu_scaled")
    return Q, Phi


def output(params: Params, eq) -> np.ndarray:
    """The output layer ŷ = Zu + Φv, shape (N,), of an :class:`~implicit.solver.Equilibrium`."""
    return eq.Z @ params.u + eq.Phi @ params.v
