"""Output, loss and analytic gradients of the ReLU implicit network (docs/model.md).

Sample-row layout (N, m): Z, Φ, P = γ̃ZAᵀ + Φ, D = 1[P > 0], Q = XWᵀ, E = 1[Q > 0].

    ŷ = Zu + Φv,   r = ŷ − y,   L = ½‖r‖²
    K  = 1uᵀ + (D⊙K)(γ̃A)        (unit-residual adjoint, row j: k_j = u + γ̃Aᵀ(d_j⊙k_j))
    V  = D⊙K,   M = diag(r)V     (docs/model.md's M = D⊙Λ with Λ = K·diag(r), transposed)
    ∇_A L = γ̃ MᵀZ               (m, m)
    ∇_W L = (1/√m)(E⊙(M + r vᵀ))ᵀX   (m, d)
    ∇_u L = Zᵀr,   ∇_v L = Φᵀr    (m,)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _numba, _timing
from .model import BLOCKS, Params, check_trainable, features, output
from .solver import Equilibrium, SolverSettings, _adjoint, _equilibrium, check_inputs, settings
from .warmstart import WarmStart


@dataclass
class Evaluation:
    """Everything one forward/adjoint pass computes (see module docstring for symbols)."""

    loss: float
    r: np.ndarray            # (N,)
    eq: Equilibrium
    K: np.ndarray | None     # (N, m), None when no adjoint was needed
    grads: Params | None


def forward(params: Params, X, gamma, solver: SolverSettings | None = None, *, warm_start: WarmStart | None = None,
            ) -> Equilibrium:
    """The equilibrium of X, started from (and stored in) ``warm_start`` when given."""
    return _forward(params, X, gamma, settings(solver), warm_start)


def _forward(params, X, gamma, solver, warm_start=None, A32=None) -> Equilibrium:
    X = check_inputs(params, X, gamma)
    feats = z0 = None
    if warm_start is not None:  # the features first: the start uses them
        feats = features(params, X)
        t = _timing.sink and _timing.clock()
        z0 = warm_start.start_Z((X.shape[0], params.m), feats[1], params.u)
        t = t and _timing.report(t, "warmstart")
    eq = _equilibrium(params, X, gamma, solver, z0=z0, A32=A32, feats=feats)
    if warm_start is not None:
        t = _timing.sink and _timing.clock()
        warm_start.store_Z(eq, params.u)
        t = t and _timing.report(t, "warmstart")
        warm_start.fwd_iter, warm_start.fwd_work, warm_start.fwd_residual = eq.n_iter, eq.work, eq.residual
        warm_start.fwd_exact_work = eq.exact_work
    return eq


def unit_adjoint(params: Params, gamma, eq: Equilibrium, solver: SolverSettings | None = None, *, weights=None,
                 warm_start: WarmStart | None = None, k0=None) -> np.ndarray:
    """K (N, m) of the unit-residual adjoint at the equilibrium ``eq``.

    ``weights`` (N,): stop when max_j weights_j·‖k_j − f(k_j)‖ < tol (with weights = |r| this
    is the criterion on the residual-weighted adjoint Λ = K·diag(r)).  ``k0``: explicit start;
    otherwise the :class:`WarmStart`'s prediction.
    """
    return _unit_adjoint(params, gamma, eq, settings(solver), weights=weights, warm_start=warm_start, k0=k0)


def _unit_adjoint(params, gamma, eq, solver, *, weights=None, warm_start=None, k0=None, A32=None) -> np.ndarray:
    if k0 is None and warm_start is not None:
        t = _timing.sink and _timing.clock()
        k0 = warm_start.start_K(params, gamma, eq.P)
        t = t and _timing.report(t, "warmstart")
    sol = _adjoint(params, gamma, eq.P, solver, k0=k0, weights=weights, A32=A32)
    if warm_start is not None:
        t = _timing.sink and _timing.clock()
        warm_start.store_K(sol.x, params.u, eq.P)
        t = t and _timing.report(t, "warmstart")
        warm_start.adj_iter, warm_start.adj_work, warm_start.adj_residual = sol.n_iter, sol.work, float(sol.residuals[-1])
        warm_start.adj_exact_work = sol.exact_work
    return sol.x


def evaluate(
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    gamma: float,
    solver: SolverSettings | None = None,
    *,
    trainable=BLOCKS,
    need_grad: bool = True,
    warm_start: WarmStart | None = None,
) -> Evaluation:
    """Loss, residual, equilibrium, adjoint and gradients of the blocks in ``trainable``.

    Parameters
    ----------
    params : Params
        θ.
    X : ndarray, shape (N, d)
    y : ndarray, shape (N,)
    gamma : float
    solver : SolverSettings, optional
        Settings of both solves.
    trainable : sequence of {"A", "W", "u", "v"}
        Blocks whose gradients are computed; untrained blocks get zero gradients.
    need_grad : bool
        False: the forward solve and the loss only.
    warm_start : WarmStart, optional
        Read for the starts, then updated in place.

    Returns
    -------
    Evaluation
        ``loss`` L = ½‖r‖², ``r`` = ŷ − y, ``eq``, ``K`` (None when no adjoint was needed) and
        ``grads`` (a :class:`Params`).

    Notes
    -----
    The adjoint is solved for K with the criterion max_j |r_j|·‖k_j − f(k_j)‖ < tol, i.e. the
    adjoint Λ = K·diag(r) of docs/model.md meets ``tol`` (unless that would ask K for less
    than 64ε‖u‖, its rounding level: then K stops there); it is skipped when only u and v
    are trained.
    """
    return _evaluate(params, X, y, gamma, settings(solver), trainable=trainable, need_grad=need_grad,
                     warm_start=warm_start)


def _evaluate(params, X, y, gamma, solver, *, trainable=BLOCKS, need_grad=True, warm_start=None, A32=None):
    """:func:`evaluate` with the float32 copy ``A32`` of A shared by its solves."""
    trainable = check_trainable(trainable)
    X = check_inputs(params, X, gamma)
    y = check_y(y, X.shape[0], params.dtype)
    if solver.mixed and A32 is None:  # one float32 copy of A for both solves
        A32 = params.A.astype(np.float32)
    eq = _forward(params, X, gamma, solver, warm_start, A32)
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
        weights = np.minimum(np.abs(r), solver.tol / floor)
        K = _unit_adjoint(params, gamma, eq, solver, weights=weights, warm_start=warm_start, A32=A32)
        # M = γ̃·diag(r)(D⊙K): γ̃ on the (N, m) factor, not on the (m, m) product ∇A = MᵀZ
        scale = gamma / np.sqrt(params.m)
        gr = scale * r
        M = np.empty_like(K)
        t = _timing.sink and _timing.clock()
        _numba.mask_scale_rows(eq.P, K, gr, M)
        t = t and _timing.report(t, "pass:mask_scale_rows")
        if "W" in trainable:  # S = (1/√m)·E⊙(diag(r)(D⊙K) + r vᵀ) = (1/(γ̃√m))·E⊙(M + γ̃ r vᵀ)
            S = np.empty_like(M)
            t = t and _timing.clock()
            _numba.input_adjoint(eq.Q, M, params.v, gr, 1.0 / (scale * np.sqrt(params.m)), S)
            t = t and _timing.report(t, "pass:input_adjoint")
            np.matmul(S.T, X, out=grads.W)
            t = t and _timing.report(t, "gradients", params.m, grads.W.dtype)
        if "A" in trainable:
            t = t and _timing.clock()
            np.matmul(M.T, eq.Z, out=grads.A)
            t = t and _timing.report(t, "gradients", params.m, grads.A.dtype)
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
    solver: SolverSettings | None = None,
    *,
    trainable=BLOCKS,
    warm_start: WarmStart | None = None,
) -> tuple[float, Params]:
    """The loss and its gradient, from the adjoint equation (docs/model.md, "Gradients").

    Parameters
    ----------
    params : Params
        θ = (A, W, u, v).
    X : ndarray, shape (N, d)
    y : ndarray, shape (N,)
    gamma : float
    solver : SolverSettings, optional
        Settings of the forward and adjoint solves.
    trainable : sequence of {"A", "W", "u", "v"}
        Blocks to differentiate; the others get zero gradients.
    warm_start : WarmStart, optional
        Reused across calls.

    Returns
    -------
    loss : float
        L = ½Σ(ŷ_i − y_i)².
    grads : Params
        ∇_A L = γ̃MᵀZ, ∇_W L = (1/√m)(E⊙(M + r vᵀ))ᵀX, ∇_u L = Zᵀr, ∇_v L = Φᵀr.

    Raises
    ------
    NotConverged
        When a solve fails.
    """
    ev = evaluate(params, X, y, gamma, solver, trainable=trainable, warm_start=warm_start)
    return ev.loss, ev.grads


def predict(params: Params, X: np.ndarray, gamma: float, solver: SolverSettings | None = None, *,
            warm_start: WarmStart | None = None) -> np.ndarray:
    """ŷ = Zu + Φv (N,) for the rows of X (N, d)."""
    return output(params, forward(params, X, gamma, solver, warm_start=warm_start))


def loss(params: Params, X, y, gamma, solver: SolverSettings | None = None, *, warm_start: WarmStart | None = None) -> float:
    """L = ½Σ(ŷ_i − y_i)²."""
    r = predict(params, X, gamma, solver, warm_start=warm_start) - check_y(y, np.shape(X)[0], params.dtype)
    return 0.5 * float(r @ r)


def check_y(y, n, dtype):
    """y as a finite (n,) array of ``dtype``; ValueError otherwise."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
        raise ValueError("y must be finite numbers")
    return y.astype(dtype, copy=False)
