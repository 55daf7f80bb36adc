"""Output, loss and analytic gradients of the ReLU implicit network (SPEC §2–3).

Sample-row layout (N, m): Z, Φ, P = γ̃ZAᵀ + Φ, D = 1[P > 0], Q = XWᵀ, E = 1[Q > 0].

    ŷ = Zu + Φv,   r = ŷ − y,   L = ½‖r‖²
    K  = 1uᵀ + (D⊙K)(γ̃A)        (unit-residual adjoint, row j: k_j = u + γ̃Aᵀ(d_j⊙k_j))
    V  = D⊙K,   M = diag(r)V     (SPEC's M = D⊙Λ with Λ = K·diag(r), transposed)
    ∇_A L = γ̃ MᵀZ               (m, m)
    ∇_W L = (1/√m)(E⊙(M + r vᵀ))ᵀX   (m, d)
    ∇_u L = Zᵀr,   ∇_v L = Φᵀr    (m,)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels
from .params import BLOCKS, Params, check_trainable
from .solver import Equilibrium, adjoint, check_inputs, equilibrium


@dataclass
class WarmStart:
    """Mutable cache of the last solves, passed back in to warm-start the next ones.

    ``Z`` (N, m): last equilibrium; ``K`` (N, m): last unit-residual adjoint.  After each call
    ``fwd_iter``/``adj_iter`` and ``fwd_residual``/``adj_residual`` hold that call's counts.
    """

    Z: np.ndarray | None = None
    K: np.ndarray | None = None
    fwd_iter: int = 0
    adj_iter: int = 0
    fwd_residual: float = float("nan")
    adj_residual: float = float("nan")

    def start(self, name, shape):
        x = getattr(self, name)
        return x if x is not None and x.shape == shape else None


@dataclass
class Evaluation:
    """Everything one forward/adjoint pass computes (see module docstring for symbols)."""

    loss: float
    r: np.ndarray            # (N,)
    eq: Equilibrium
    K: np.ndarray | None     # (N, m), None when no adjoint was needed
    grads: Params | None


def _solver_kw(kw):
    allowed = {"max_iter", "method", "anderson_depth", "patience"}
    bad = set(kw) - allowed
    if bad:
        raise TypeError(f"unexpected solver options {sorted(bad)}; allowed: {sorted(allowed)}")
    return kw


def forward(params, X, gamma, *, tol=1e-10, warm_start: WarmStart | None = None, **solver) -> Equilibrium:
    """Forward solve with an optional :class:`WarmStart` (read, then updated in place)."""
    X = check_inputs(params, X, gamma)
    z0 = warm_start.start("Z", (X.shape[0], params.m)) if warm_start is not None else None
    eq = equilibrium(params, X, gamma, tol=tol, z0=z0, **_solver_kw(solver))
    if warm_start is not None:
        warm_start.Z, warm_start.fwd_iter, warm_start.fwd_residual = eq.Z, eq.n_iter, eq.residual
    return eq


def unit_adjoint(params, gamma, eq: Equilibrium, *, tol=1e-10, warm_start=None, **solver) -> np.ndarray:
    """K (N, m) of the unit-residual adjoint at the equilibrium ``eq``."""
    k0 = warm_start.start("K", eq.P.shape) if warm_start is not None else None
    K, n_iter, res = adjoint(params, gamma, eq.P, tol=tol, k0=k0, **_solver_kw(solver))
    if warm_start is not None:
        warm_start.K, warm_start.adj_iter, warm_start.adj_residual = K, n_iter, float(res[-1])
    return K


def output(params: Params, eq: Equilibrium) -> np.ndarray:
    """ŷ = Zu + Φv, shape (N,)."""
    return eq.Z @ params.u + eq.Phi @ params.v


def evaluate(
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    gamma: float,
    *,
    tol: float = 1e-10,
    trainable=BLOCKS,
    need_grad: bool = True,
    warm_start: WarmStart | None = None,
    **solver,
) -> Evaluation:
    """Loss, residual, equilibrium, adjoint and gradients of the blocks in ``trainable``.

    Untrained blocks get zero gradients.  The adjoint is solved for K to
    tol / max(1, max|r|), so that Λ = K·diag(r) meets ``tol`` too; it is skipped when only
    u and v are trained.
    """
    trainable = check_trainable(trainable)
    X = check_inputs(params, X, gamma)
    y = _check_y(y, X.shape[0], params.dtype)
    eq = forward(params, X, gamma, tol=tol, warm_start=warm_start, **solver)
    r = output(params, eq) - y
    loss = 0.5 * float(r @ r)
    if not need_grad:
        return Evaluation(loss, r, eq, None, None)
    K = None
    grads = params.zeros_like()
    if "A" in trainable or "W" in trainable:
        tol_k = tol / max(1.0, float(np.max(np.abs(r))))
        K = unit_adjoint(params, gamma, eq, tol=tol_k, warm_start=warm_start, **solver)
        M = np.empty_like(K)
        _kernels.mask_positive(eq.P, K, M)  # V = D⊙K
        M *= r[:, None]                      # M = diag(r) V
        if "A" in trainable:
            np.matmul(M.T, eq.Z, out=grads.A)
            grads.A *= gamma / np.sqrt(params.m)
        if "W" in trainable:
            S = np.empty_like(M)
            _kernels.input_adjoint(eq.Q, M, params.v, r, 1.0 / np.sqrt(params.m), S)
            np.matmul(S.T, X, out=grads.W)
    if "u" in trainable:
        grads.u[:] = eq.Z.T @ r
    if "v" in trainable:
        grads.v[:] = eq.Phi.T @ r
    return Evaluation(loss, r, eq, K, grads)


def loss_and_grad(
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    gamma: float,
    *,
    tol: float = 1e-10,
    trainable=BLOCKS,
    warm_start: WarmStart | None = None,
    **solver,
) -> tuple[float, Params]:
    """(L, ∇L) with L = ½Σ(ŷ_i − y_i)² and ∇L a :class:`Params` (zeros for untrained blocks).

    X (N, d), y (N,).  ``warm_start``: a :class:`WarmStart` reused across calls.  Solver
    options (``max_iter``, ``method``, ``anderson_depth``, ``patience``) go to both solves.
    """
    ev = evaluate(params, X, y, gamma, tol=tol, trainable=trainable, warm_start=warm_start, **solver)
    return ev.loss, ev.grads


def predict(params: Params, X: np.ndarray, gamma: float, *, tol: float = 1e-10, warm_start=None, **solver) -> np.ndarray:
    """ŷ (N,) for the rows of X (N, d)."""
    return output(params, forward(params, X, gamma, tol=tol, warm_start=warm_start, **solver))


def loss(params: Params, X, y, gamma, *, tol: float = 1e-10, warm_start=None, **solver) -> float:
    """L = ½Σ(ŷ_i − y_i)²."""
    r = predict(params, X, gamma, tol=tol, warm_start=warm_start, **solver) - _check_y(y, np.shape(X)[0], params.dtype)
    return 0.5 * float(r @ r)


def _check_y(y, n, dtype):
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
        raise ValueError("y must be finite numbers")
    return y.astype(dtype, copy=False)
