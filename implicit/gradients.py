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

from . import _numba
from .model import BLOCKS, Params, check_trainable
from .solver import Equilibrium, adjoint, check_inputs, equilibrium, features
from .warmstart import WarmStart


@dataclass
class Evaluation:
    """Everything one forward/adjoint pass computes (see module docstring for symbols)."""

    loss: float
    r: np.ndarray            # (N,)
    eq: Equilibrium
    K: np.ndarray | None     # (N, m), None when no adjoint was needed
    grads: Params | None


def _solver_kw(kw):
    allowed = {"max_iter", "method", "anderson_depth", "patience", "lipschitz", "mixed", "A32"}
    bad = set(kw) - allowed
    if bad:
        raise TypeError(f"unexpected solver options {sorted(bad)}; allowed: {sorted(allowed)}")
    return kw


def forward(params, X, gamma, *, tol=1e-10, warm_start: WarmStart | None = None, **solver) -> Equilibrium:
    """Forward solve with an optional :class:`WarmStart` (read, then updated in place)."""
    X = check_inputs(params, X, gamma)
    feats = z0 = None
    if warm_start is not None:  # the features first: the start uses them
        feats = features(params, X)
        z0 = warm_start.start_Z((X.shape[0], params.m), feats[1], params.u)
    eq = equilibrium(params, X, gamma, tol=tol, z0=z0, feats=feats, **_solver_kw(solver))
    if warm_start is not None:
        warm_start.store_Z(eq, params.u)
        warm_start.fwd_iter, warm_start.fwd_work, warm_start.fwd_residual = eq.n_iter, eq.work, eq.residual
        warm_start.fwd_exact_work = eq.exact_work
    return eq


def unit_adjoint(params, gamma, eq: Equilibrium, *, tol=1e-10, weights=None, warm_start=None, k0=None, **solver) -> np.ndarray:
    """K (N, m) of the unit-residual adjoint at the equilibrium ``eq``.

    ``weights`` (N,): stop when max_j weights_j·‖k_j − f(k_j)‖ < tol (with weights = |r| this
    is the criterion on the residual-weighted adjoint Λ = K·diag(r)).  ``k0``: explicit start;
    otherwise the :class:`WarmStart`'s prediction.
    """
    if k0 is None and warm_start is not None:
        k0 = warm_start.start_K(params, gamma, eq.P)
    sol = adjoint(params, gamma, eq.P, tol=tol, k0=k0, weights=weights, **_solver_kw(solver))
    if warm_start is not None:
        warm_start.store_K(sol.x, params.u, eq.P)
        warm_start.adj_iter, warm_start.adj_work, warm_start.adj_residual = sol.n_iter, sol.work, float(sol.residuals[-1])
        warm_start.adj_exact_work = sol.exact_work
    return sol.x


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

    Untrained blocks get zero gradients.  The adjoint is solved for K with the criterion
    max_j |r_j|·‖k_j − f(k_j)‖ < tol, i.e. the SPEC's adjoint Λ = K·diag(r) meets ``tol``
    (unless that would ask K for less than 64ε‖u‖, its rounding level: then K stops there);
    it is skipped when only u and v are trained.
    """
    trainable = check_trainable(trainable)
    X = check_inputs(params, X, gamma)
    y = check_y(y, X.shape[0], params.dtype)
    if solver.get("mixed") and solver.get("A32") is None:  # one float32 copy of A for both solves
        solver = dict(solver, A32=params.A.astype(np.float32))
    eq = forward(params, X, gamma, tol=tol, warm_start=warm_start, **solver)
    r = output(params, eq) - y
    loss = 0.5 * float(r @ r)
    if not need_grad:
        return Evaluation(loss, r, eq, None, None)
    K = None
    # trained blocks are overwritten below: only untrained ones need zeros
    grads = Params(*(np.empty_like(a) if b in trainable else np.zeros_like(a) for b, a in params.blocks()))
    if "A" in trainable or "W" in trainable:
        # weights |r_j|, capped so that K is never asked for below 64ε‖u‖ (its rounding level)
        floor = 64 * np.finfo(params.dtype).eps * float(np.linalg.norm(params.u))
        weights = np.minimum(np.abs(r), tol / floor)
        K = unit_adjoint(params, gamma, eq, tol=tol, weights=weights, warm_start=warm_start, **solver)
        # M = γ̃·diag(r)(D⊙K): γ̃ on the (N, m) factor, not on the (m, m) product ∇A = MᵀZ
        scale = gamma / np.sqrt(params.m)
        gr = scale * r
        M = np.empty_like(K)
        _numba.mask_scale_rows(eq.P, K, gr, M)
        if "W" in trainable:  # S = (1/√m)·E⊙(diag(r)(D⊙K) + r vᵀ) = (1/(γ̃√m))·E⊙(M + γ̃ r vᵀ)
            S = np.empty_like(M)
            _numba.input_adjoint(eq.Q, M, params.v, gr, 1.0 / (scale * np.sqrt(params.m)), S)
            np.matmul(S.T, X, out=grads.W)
        if "A" in trainable:
            np.matmul(M.T, eq.Z, out=grads.A)
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
    options (``max_iter``, ``method``, ``anderson_depth``, ``patience``, ``lipschitz``,
    ``mixed``; see ``solver.iterate``) go to both solves.
    """
    ev = evaluate(params, X, y, gamma, tol=tol, trainable=trainable, warm_start=warm_start, **solver)
    return ev.loss, ev.grads


def predict(params: Params, X: np.ndarray, gamma: float, *, tol: float = 1e-10, warm_start=None, **solver) -> np.ndarray:
    """ŷ (N,) for the rows of X (N, d)."""
    return output(params, forward(params, X, gamma, tol=tol, warm_start=warm_start, **solver))


def loss(params: Params, X, y, gamma, *, tol: float = 1e-10, warm_start=None, **solver) -> float:
    """L = ½Σ(ŷ_i − y_i)²."""
    r = predict(params, X, gamma, tol=tol, warm_start=warm_start, **solver) - check_y(y, np.shape(X)[0], params.dtype)
    return 0.5 * float(r @ r)


def check_y(y, n, dtype):
    """y as a finite (n,) array of ``dtype``; ValueError otherwise."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
        raise ValueError("y must be finite numbers")
    return y.astype(dtype, copy=False)
