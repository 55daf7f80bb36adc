"""Fixed-point solvers: the forward equilibrium and the adjoint equation.

Layout: every (N, m) array holds one sample per row (C order), i.e. the SPEC's m×N
"samples as columns" matrices stored column-major.  Users therefore get samples along
axis 0, and the large products are plain BLAS-3 calls: ZAᵀ for the forward map and (D⊙K)A
for the adjoint (γ̃ is applied in the fused element-wise pass, so A is never copied).

Forward (SPEC §2):  z = f(z) = σ(γ̃Az + φ),        γ̃ = γ/√m, φ = σ(Wx)/√m.
Adjoint (SPEC §3):  k = u + γ̃Aᵀ(d ⊙ k),           d = 1[γ̃Az + φ > 0]  (unit residual).

Both maps are ρ-contractions in the Euclidean norm of each sample when ρ = γ̃‖A‖₂ < 1,
so plain iteration from any start converges with residual ‖f(z_k) − z_k‖ ≤ ρ^k ‖f(z_0) − z_0‖.
The solve stops when the largest per-sample residual ‖f(z) − z‖₂ is below ``tol``; it
raises :class:`NotConverged` (carrying ρ and the residual history) when the residual is no
longer finite, stops decreasing for ``patience`` iterations, or ``max_iter`` is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _kernels
from .linalg import spectral_norm
from .params import Params

METHODS = ("fixed-point", "anderson")


class NotConverged(RuntimeError):
    """A fixed-point solve that did not reach its tolerance.

    Attributes: ``reason`` ("max_iter", "stalled" or "non-finite"), ``rho`` = γ‖A‖₂/√m,
    ``residuals`` (largest per-sample residual at each iteration), ``state`` (the last
    :class:`Equilibrium` or adjoint iterate, for inspection).
    """

    def __init__(self, what: str, reason: str, rho: float, residuals: np.ndarray, tol: float, state=None):
        self.what, self.reason, self.rho = what, reason, float(rho)
        self.residuals, self.tol, self.state = np.asarray(residuals), tol, state
        last = self.residuals[-1] if self.residuals.size else float("nan")
        hint = " (ρ ≥ 1: the equilibrium equation need not be well-posed)" if rho >= 1 else ""
        super().__init__(
            f"{what} solve did not converge ({reason}) after {self.residuals.size} iterations: "
            f"residual {last:.3e} > tol {tol:.1e}, ρ(A) = {rho:.4f}{hint}"
        )


@dataclass
class Equilibrium:
    """Result of :func:`equilibrium`.  Arrays are (N, m), one sample per row.

    ``Z``: equilibria z_i; ``Phi``: features φ_i; ``P``: pre-activations γ̃Az_i + φ_i with
    Z = σ(P) exactly (so D = 1[P > 0]); ``Q``: XWᵀ (E = 1[Q > 0]); ``n_iter`` (iterations of the slowest sample); ``work``
    (sample-iterations / N, see :func:`iterate`); ``residual``: the last largest per-sample
    residual; ``residuals``: its history; ``converged``.
    """

    Z: np.ndarray
    Phi: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    n_iter: int
    residual: float
    residuals: np.ndarray = field(repr=False)
    converged: bool = True
    work: float = float("nan")


@dataclass
class Solve:
    """Result of :func:`iterate`: iterate ``x``, ``n_iter``, ``residuals`` (largest weighted
    per-row residual at each iteration), ``work`` (row-iterations / N), ``reason`` (None when
    converged, else "max_iter", "stalled" or "non-finite")."""

    x: np.ndarray
    n_iter: int
    residuals: np.ndarray
    work: float
    reason: str | None


def features(params: Params, X: np.ndarray):
    """Q = XWᵀ and Φ = σ(Q)/√m, both (N, m)."""
    Q = X @ params.W.T
    Phi = np.empty_like(Q)
    _kernels.relu_scaled(Q, 1.0 / np.sqrt(params.m), Phi)
    return Q, Phi


def check_inputs(params: Params, X: np.ndarray, gamma: float) -> np.ndarray:
    """Validate (X, γ) against θ; return X as a C-contiguous array of θ's dtype."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != params.d:
        raise ValueError(f"X must have shape (N, {params.d}), got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X has no samples")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinity")
    if not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a positive finite number, got {gamma!r}")
    return np.ascontiguousarray(X, dtype=params.dtype)


def equilibrium(
    params: Params,
    X: np.ndarray,
    gamma: float,
    *,
    tol: float = 1e-10,
    max_iter: int = 1000,
    z0: np.ndarray | None = None,
    method: str = "fixed-point",
    anderson_depth: int = 5,
    patience: int = 50,
    return_unconverged: bool = False,
) -> Equilibrium:
    """Solve z_i = σ(γ/√m · A z_i + φ_i) for every row x_i of X (N, d).

    ``method``: "fixed-point" (plain iteration, default) or "anderson" (per-sample Anderson
    acceleration of depth ``anderson_depth`` with a safeguard: a sample whose residual did
    not decrease takes the plain step).  ``z0`` (N, m) warm-starts the iteration (default 0).
    Raises :class:`NotConverged` unless ``return_unconverged``, in which case the last
    iterate is returned with ``converged=False``.
    """
    X = check_inputs(params, X, gamma)
    Q, Phi = features(params, X)
    Z = _start(z0, Phi.shape, Phi.dtype, "z0")
    P = np.empty_like(Phi)
    At, scale = params.A.T, gamma / np.sqrt(params.m)  # Aᵀ is an F-ordered view: BLAS reads it transposed

    def apply(x, out, n):
        np.matmul(x[:n], At, out=P[:n])
        res = np.empty(n, dtype=x.dtype)
        _kernels.relu_map(P[:n], Phi[:n], x[:n], out[:n], res, scale)
        return res

    sol = iterate(apply, Z, rows=(P, Phi, Q), tol=tol, max_iter=max_iter, method=method, depth=anderson_depth, patience=patience)
    n_iter, work = sol.n_iter, sol.work
    if method != "fixed-point":  # P belongs to the point before the accelerated one:
        apply(sol.x.copy(), sol.x, len(sol.x))  # one plain step makes Z = σ(P) exact again
        n_iter, work = n_iter + 1, work + 1
    eq = Equilibrium(sol.x, Phi, P, Q, n_iter, float(sol.residuals[-1]), sol.residuals, sol.reason is None, work)
    if sol.reason is not None and not return_unconverged:
        raise NotConverged("forward", sol.reason, gamma_rho(params, gamma), sol.residuals, tol, eq)
    return eq


def adjoint(
    params: Params,
    gamma: float,
    P: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 1000,
    k0: np.ndarray | None = None,
    method: str = "fixed-point",
    anderson_depth: int = 5,
    patience: int = 50,
    weights: np.ndarray | None = None,
) -> Solve:
    """Solve the unit-residual adjoint k_j = u + γ̃Aᵀ(d_j ⊙ k_j), d_j = 1[P_j > 0].

    Returns a :class:`Solve` whose ``x`` is K (N, m), one sample per row.  The adjoint of
    SPEC §3 with residuals r is Λ = K·diag(r) (each column scales), so K serves both the
    gradient and the Gram matrix, and it does not change with r: a good warm start ``k0``.
    ``weights`` (N,) ≥ 0: stop when max_j weights_j·‖k_j − f(k_j)‖ < tol (weights = |r|
    gives the criterion on Λ).
    """
    K = _start(k0, P.shape, P.dtype, "k0")
    if k0 is None:
        K[:] = params.u  # the first term of the Neumann series
    scale = gamma / np.sqrt(params.m)
    M = np.empty_like(K)
    T = np.empty_like(K)
    P = P.copy()  # permuted alongside K by the active-set iteration

    def apply(x, out, n):
        _kernels.mask_positive(P[:n], x[:n], M[:n])
        np.matmul(M[:n], params.A, out=T[:n])
        res = np.empty(n, dtype=x.dtype)
        _kernels.adjoint_map(T[:n], params.u, x[:n], out[:n], res, scale)
        return res

    sol = iterate(apply, K, rows=(P,), weights=weights, tol=tol, max_iter=max_iter, method=method, depth=anderson_depth, patience=patience)
    if sol.reason is not None:
        raise NotConverged("adjoint", sol.reason, gamma_rho(params, gamma), sol.residuals, tol, sol.x)
    return sol


def iterate(apply, x, *, tol, max_iter, method="fixed-point", depth=5, patience=50, rows=(), weights=None) -> Solve:
    """Generic fixed-point loop on (N, m) iterates, one independent problem per row.

    ``apply(x, out, n)`` writes f(x[:n]) to ``out[:n]`` (``out`` may be ``x``) and returns the
    n residual norms ‖f(x_j) − x_j‖₂.  The loop stops when max_j w_j·res_j < tol (w = 1 or
    ``weights``).  At least one step is taken, so each row ends at f of its last measured
    point.

    Active set (plain iteration): rows converge at different speeds (warm starts are good
    for most samples and poor where a ReLU unit switched), so once a quarter of the active
    rows have converged the rows are reordered to put the unconverged ones first and only
    that prefix is iterated — a smaller BLAS-3 product.  ``rows`` are further (N, ·) arrays
    that ``apply`` reads per row; they are permuted with ``x`` and everything is put back in
    order at the end.  ``Solve.work`` counts row-iterations / N, the cost in full-batch
    iterations; ``Solve.n_iter`` counts the iterations of the slowest row.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not (0 < tol < 1) or int(max_iter) < 1:
        raise ValueError(f"need 0 < tol < 1 and max_iter ≥ 1, got tol={tol!r}, max_iter={max_iter!r}")
    N = x.shape[0]
    w = None if weights is None else np.array(weights, dtype=np.float64)
    arrays = (x, *rows) + (() if w is None else (w,))
    perm = np.arange(N)
    n, work, history, reason = N, 0, [], "max_iter"
    best, since_best = np.inf, 0
    aa = _Anderson(x.shape, x.dtype, depth) if method == "anderson" else None
    for k in range(1, int(max_iter) + 1):
        res = apply(x, x, n) if aa is None else aa.step(apply, x)
        work += n
        if w is not None:
            res = res * w[:n]
        r = float(res.max())
        history.append(r)
        if not np.isfinite(r):
            reason = "non-finite"
            break
        if r < tol:
            reason = None
            break
        if r < best * (1 - 1e-6):
            best, since_best = r, 0
        else:
            since_best += 1
            if since_best >= patience:
                reason = "stalled"
                break
        active = res >= tol
        n_active = int(active.sum())
        if aa is None and n_active <= 0.75 * n:
            order = np.concatenate([np.flatnonzero(active), np.flatnonzero(~active)])
            for a in arrays:
                a[:n] = a[:n][order]
            perm[:n] = perm[:n][order]
            n = n_active
    if n < N or not np.array_equal(perm, np.arange(N)):
        inverse = np.argsort(perm)
        for a in arrays:
            a[:] = a[inverse]
    return Solve(x, k, np.array(history), work / N, reason)


class _Anderson:
    """Per-row Anderson acceleration (type II, mixing 1) with a residual safeguard.

    With f_k = g(x_k) − x_k and difference matrices ΔF, ΔG of the last ``depth`` steps,
    each row solves min_c ‖f_k − ΔF c‖ and moves to x_{k+1} = g(x_k) − ΔG c.  A row whose
    residual did not decrease since the previous step takes the plain step g(x_k) instead.
    """

    def __init__(self, shape, dtype, depth):
        if depth < 1:
            raise ValueError(f"anderson_depth must be ≥ 1, got {depth}")
        self.depth = depth
        self.dF = np.zeros((depth,) + shape, dtype)
        self.dG = np.zeros((depth,) + shape, dtype)
        self.g = np.empty(shape, dtype)
        self.f_prev = None
        self.g_prev = np.empty(shape, dtype)
        self.res_prev = None
        self.count = 0

    def step(self, apply, x):
        res = apply(x, self.g, len(x))
        f = self.g - x
        if self.f_prev is not None:
            slot = self.count % self.depth
            np.subtract(f, self.f_prev, out=self.dF[slot])
            np.subtract(self.g, self.g_prev, out=self.dG[slot])
            self.count += 1
        self.f_prev = f
        self.g_prev[:] = self.g
        k = min(self.count, self.depth)
        if k == 0:
            x[:] = self.g
        else:
            dF, dG = self.dF[:k], self.dG[:k]
            gram = np.einsum("anm,bnm->nab", dF, dF)
            rhs = np.einsum("anm,nm->na", dF, f)
            reg = 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None] + np.finfo(x.dtype).tiny
            c = np.linalg.solve(gram + reg * np.eye(k), rhs[..., None])[..., 0]
            x[:] = self.g - np.einsum("na,anm->nm", c, dG)
            if self.res_prev is not None:
                bad = res >= self.res_prev
                x[bad] = self.g[bad]
        self.res_prev = res
        return res


def gamma_rho(params: Params, gamma: float) -> float:
    """ρ(A) = γ‖A‖₂/√m, the contraction factor of both fixed-point maps (exact, LAPACK)."""
    return gamma * spectral_norm(params.A) / np.sqrt(params.m)


def _start(x0, shape, dtype, name):
    if x0 is None:
        return np.zeros(shape, dtype)
    x0 = np.asarray(x0)
    if x0.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {x0.shape}")
    return np.array(x0, dtype=dtype, order="C", copy=True)
