"""Fixed-point solvers: the forward equilibrium and the adjoint equation.

Layout: every (N, m) array holds one sample per row (C order), i.e. the SPEC's m×N
"samples as columns" matrices stored column-major.  Users therefore get samples along
axis 0, and the large products are plain BLAS-3 calls: ZAᵀ for the forward map and (D⊙K)A
for the adjoint (γ̃ is applied in the fused element-wise pass, so A is never copied).

Forward (SPEC §2):  z = f(z) = σ(γ̃Az + φ),        γ̃ = γ/√m, φ = σ(Wx)/√m.
Adjoint (SPEC §3):  k = u + γ̃Aᵀ(d ⊙ k),           d = 1[γ̃Az + φ > 0]  (unit residual).

Both maps are ρ-contractions in the Euclidean norm of each sample when ρ = γ̃‖A‖₂ < 1,
so plain iteration from any start converges with residual ‖f(z_k) − z_k‖ ≤ ρ^k ‖f(z_0) − z_0‖.
The solve stops when the largest per-sample residual ‖f(z) − z‖₂ (or, with ``lipschitz``, its
certified bound on the returned point) is below ``tol``; it
raises :class:`NotConverged` (carrying ρ and the residual history) when the residual is no
longer finite, stops decreasing for ``patience`` iterations, or ``max_iter`` is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _numba
from .linalg import spectral_norm
from .model import Params

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
        if rho >= 1:
            hint = " (ρ ≥ 1: the equilibrium equation need not be well-posed)"
        elif reason == "stalled":  # a contraction stops improving only at its rounding floor
            hint = " (ρ < 1, so the residual stalled at the rounding level of the iterates: raise tol)"
        else:
            hint = ""
        super().__init__(
            f"{what} solve did not converge ({reason}) after {self.residuals.size} iterations: "
            f"residual {last:.3e} > tol {tol:.1e}, ρ(A) = {rho:.4f}{hint}"
        )


@dataclass
class Equilibrium:
    """Result of :func:`equilibrium`.  Arrays are (N, m), one sample per row.

    ``Z``: equilibria z_i; ``Phi``: features φ_i; ``P``: pre-activations γ̃Az_i + φ_i with
    Z = σ(P) exactly (so D = 1[P > 0]); ``Q``: XWᵀ (E = 1[Q > 0]); ``n_iter`` (iterations of
    the slowest sample); ``work`` (sample-iterations / N, see :func:`iterate`; ``exact_work``
    its float64 part); ``residual``: the last largest per-sample criterion value — the
    residual of the point before Z, or with ``lipschitz`` the bound L·‖z − z_prev‖ on the
    residual of Z itself; ``residuals``: its history; ``converged``.
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
    exact_work: float = float("nan")


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
    exact_work: float = float("nan")


def features(params: Params, X: np.ndarray):
    """Q = XWᵀ and Φ = σ(Q)/√m, both (N, m)."""
    Q = np.matmul(X, params.W.T)
    Phi = np.empty_like(Q)
    _numba.relu_scaled(Q, 1.0 / np.sqrt(params.m), Phi)
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
    lipschitz: float | None = None,
    mixed: bool = False,
    A32: np.ndarray | None = None,
    feats: tuple[np.ndarray, np.ndarray] | None = None,
    return_unconverged: bool = False,
) -> Equilibrium:
    """Solve z_i = σ(γ/√m · A z_i + φ_i) for every row x_i of X (N, d).

    ``method``: "fixed-point" (plain iteration, default) or "anderson" (per-sample Anderson
    acceleration of depth ``anderson_depth`` with a safeguard: a sample whose residual did
    not decrease takes the plain step).  ``z0`` (N, m) warm-starts the iteration (default 0).
    ``lipschitz`` and ``mixed``: certified stopping and float32 increments, see :func:`iterate`
    (``A32``: a float32 copy of A to use for them; made here when not given).  ``feats``:
    (Q, Φ) = ``features(params, X)`` when already computed.
    Raises :class:`NotConverged` unless ``return_unconverged``, in which case the last
    iterate is returned with ``converged=False``.
    """
    X = check_inputs(params, X, gamma)
    Q, Phi = features(params, X) if feats is None else feats
    Z = _start(z0, Phi.shape, Phi.dtype, "z0")
    P = np.empty_like(Phi)
    delta = np.empty(P.shape, np.float32)  # the last step Z_new − Z_old, operand of an increment
    At, scale = params.A.T, gamma / np.sqrt(params.m)  # Aᵀ is an F-ordered view: BLAS reads it transposed
    low = _Low(params.A, A32, P.shape) if mixed else None

    def apply(x, out, n, exact=True, lo=0):
        r = slice(lo, n)
        res = np.empty(n - lo, dtype=x.dtype)
        if exact:  # P = γ̃ x Aᵀ + Φ from scratch
            np.matmul(x[r], At, out=P[r])
            _numba.relu_map(P[r], Phi[r], x[r], out[r], res, scale, delta[r])
        else:      # P += γ̃ δ Aᵀ with δ the last step, in float32
            np.matmul(delta[r], low.A.T, out=low.T[r])
            _numba.relu_increment(P[r], low.T[r], x[r], res, delta[r], scale)
        return res

    sol = iterate(apply, Z, rows=(P, Phi), scratch=(delta,), tol=tol, max_iter=max_iter, method=method, depth=anderson_depth,
                  patience=patience, lipschitz=lipschitz, mixed=mixed)
    n_iter, work, exact_work = sol.n_iter, sol.work, sol.exact_work
    if method != "fixed-point":  # P belongs to the point before the accelerated one:
        apply(sol.x.copy(), sol.x, len(sol.x))  # one plain step makes Z = σ(P) exact again
        n_iter, work, exact_work = n_iter + 1, work + 1, exact_work + 1
    eq = Equilibrium(sol.x, Phi, P, Q, n_iter, float(sol.residuals[-1]), sol.residuals, sol.reason is None, work,
                     exact_work)
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
    lipschitz: float | None = None,
    mixed: bool = False,
    A32: np.ndarray | None = None,
) -> Solve:
    """Solve the unit-residual adjoint k_j = u + γ̃Aᵀ(d_j ⊙ k_j), d_j = 1[P_j > 0].

    Returns a :class:`Solve` whose ``x`` is K (N, m), one sample per row.  The adjoint of
    SPEC §3 with residuals r is Λ = K·diag(r) (each column scales), so K serves both the
    gradient and the Gram matrix, and it does not change with r: a good warm start ``k0``.
    ``weights`` (N,) ≥ 0: stop when max_j weights_j·‖k_j − f(k_j)‖ < tol (weights = |r|
    gives the criterion on Λ).  ``lipschitz``, ``mixed``, ``A32``: see :func:`equilibrium`.
    """
    K = _start(k0, P.shape, P.dtype, "k0")
    if k0 is None:
        K[:] = params.u  # the first term of the Neumann series
    scale = gamma / np.sqrt(params.m)
    D = P > 0                               # the masks, permuted alongside K by the active set
    M = np.empty_like(K)                    # D⊙K, the operand of the next exact product
    T = np.empty_like(K)                    # (D⊙K)A of an exact step (a temporary)
    delta = np.empty(K.shape, np.float32)   # D⊙(K_new − K_old), operand of an increment
    _numba.mask_positive(D, K, M)
    low = _Low(params.A, A32, P.shape) if mixed else None

    def apply(x, out, n, exact=True, lo=0):
        r = slice(lo, n)
        res = np.empty(n - lo, dtype=x.dtype)
        if exact:  # K = u + γ̃(D⊙K)A from scratch
            if out is not x:  # Anderson moves x between calls: M must follow it
                _numba.mask_positive(D[r], x[r], M[r])
            np.matmul(M[r], params.A, out=T[r])
            _numba.adjoint_map(T[r], params.u, D[r], x[r], out[r], res, scale, M[r], delta[r])
        else:      # K += γ̃(D⊙δ)A with δ the last step, the product in float32
            np.matmul(delta[r], low.A, out=low.T[r])
            _numba.adjoint_increment(low.T[r], D[r], x[r], res, scale, M[r], delta[r])
        return res

    sol = iterate(apply, K, scratch=(D, M, delta), weights=weights, tol=tol, max_iter=max_iter, method=method,
                  depth=anderson_depth, patience=patience, lipschitz=lipschitz, mixed=mixed)
    if sol.reason is not None:
        raise NotConverged("adjoint", sol.reason, gamma_rho(params, gamma), sol.residuals, tol, sol.x)
    return sol


class _Low:
    """float32 copy of A and a product buffer for the low-precision increments."""

    def __init__(self, A, A32, shape):
        if A32 is None:
            A32 = A.astype(np.float32)
        elif A32.shape != A.shape or A32.dtype != np.float32:
            raise ValueError(f"A32 must be a float32 array of shape {A.shape}")
        self.A = A32
        self.T = np.empty(shape, np.float32)


#: Rows whose (weighted) residual is at least MIXED_SWITCH·tol take float64 steps only.  A
#: float32 product γ̃δAᵀ has error ≈ 3e-7·‖γ̃δAᵀ‖ ≈ 3e-8‖δ‖ (measured, m = 800), so the
#: increments of a row that switches at 3e6·tol add about 3e-8·1.1·3e6·tol ≈ 0.1·tol to its
#: product; the float64 step that confirms convergence measures the true residual anyway.
MIXED_SWITCH = 3e6


def iterate(apply, x, *, tol, max_iter, method="fixed-point", depth=5, patience=50, rows=(), scratch=(),
            weights=None, lipschitz=None, mixed=False) -> Solve:
    """Generic fixed-point loop on (N, m) iterates, one independent problem per row.

    ``apply(x, out, n, exact=True, lo=0)`` writes f(x[lo:n]) to ``out[lo:n]`` (``out`` may be
    ``x``) and returns the n − lo residual norms ‖f(x_j) − x_j‖₂.  A row is converged when
    w_j·c·res_j < tol (w = 1 or ``weights``; c = 1, or ``lipschitz`` when given), measured on
    a float64 step; the loop ends when all rows are.  Every row takes at least one step, so
    each row ends at f of its last measured point.

    Certified stopping (``lipschitz`` = L, an upper bound of the map's Lipschitz constant
    < 1): the returned point x⁺ = f(x) has residual ‖f(x⁺) − x⁺‖ ≤ L‖x⁺ − x‖ = L·res, so a row
    stops as soon as its returned point provably meets ‖f(x⁺) − x⁺‖ < tol — the criterion
    itself, on the returned point, one product earlier than measuring it.

    Active set (plain iteration): rows converge at different speeds, so once a quarter of
    the active rows have converged the rows are reordered to put the unconverged ones first
    and only that prefix is iterated — a smaller BLAS-3 product.  ``rows`` are further (N, ·)
    arrays that ``apply`` uses per row; they are permuted with ``x`` and put back in order
    with it at the end (``scratch`` arrays are permuted too, but left in the last order).

    Mixed precision (``mixed``, plain iteration only): ``apply(..., exact=False)`` computes
    the product of the *last step* δ = x_new − x_old in float32 and adds it to the kept
    float64 quantity (the pre-activations P, or K itself, which is affine in its product):
    about half the cost of a float64 step.  Rows still far from the solution
    (w·res ≥ ``MIXED_SWITCH``·tol: warm starts are poor where a ReLU unit switched)
    are moved to the front and take float64 steps alone until they are near; then the active
    rows take float32 steps, except those that have met, or are predicted (from the observed
    contraction) to meet, the criterion: moved to the back, they take the float64 step that
    measures their true residual (once they are a tenth of the active rows, or all of them;
    two products per step).  All rows take float64 steps when a float32 step did not
    contract.  Rows are moved by swapping only the misplaced ones.

    ``Solve.work`` counts row-steps / N, the cost in full-batch iterations
    (``Solve.exact_work`` the float64 ones); ``Solve.n_iter`` the steps of the slowest row.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not (0 < tol < 1) or int(max_iter) < 1:
        raise ValueError(f"need 0 < tol < 1 and max_iter ≥ 1, got tol={tol!r}, max_iter={max_iter!r}")
    if lipschitz is not None and not (0 < lipschitz < 1):
        raise ValueError(f"lipschitz must be in (0, 1) (a contraction), got {lipschitz!r}")
    N = x.shape[0]
    w = np.ones(N) if weights is None else np.array(weights, dtype=np.float64)
    crit = np.full(N, np.inf)          # c·w·res of each row's last step
    done = np.zeros(N, dtype=bool)     # converged on a float64 step (iterated on until dropped)
    steps = np.zeros(N, dtype=np.int64)
    arrays = (x, crit, done, steps, w, *rows, *scratch)
    restore = (x, *rows)
    perm = np.arange(N)
    n, work, exact_work, history, reason = N, 0, 0, [], "max_iter"
    best, since_best = np.inf, 0
    aa = _Anderson(x.shape, x.dtype, depth) if method == "anderson" else None
    mixed = bool(mixed) and aa is None
    c = 1.0 if lipschitz is None else float(lipschitz)
    far_level = MIXED_SWITCH * tol * c  # in units of crit
    q, last_max = 0.25, None

    def to_front(first):  # rows [0, n) with first[j] before the others; moves only misplaced rows
        n_first = int(np.count_nonzero(first))
        i = np.flatnonzero(~first[:n_first])   # wrong side, in front
        j = n_first + np.flatnonzero(first[n_first:])  # wrong side, behind
        if i.size:
            for a in (*arrays, perm):
                _numba.swap_rows(a, i, j)
        return n_first

    for k in range(int(max_iter)):
        # rows [0, n_step) step: [0, n32) in float32, [n32, n_step) in float64
        n_step, n32, met32 = n, 0, None
        if mixed and k > 0:
            far = crit[:n] >= far_level
            if far.any():  # the far rows alone, moved to the front, in float64
                n_step, last_max = to_front(far), None
            elif q < 0.5:  # float32, but float64 for the rows that (are about to) meet the
                #            criterion, moved to the back (if they are a tenth, or all)
                soon = crit[:n] * q < tol
                n_soon = int(np.count_nonzero(soon))
                if n_soon >= 0.1 * n or n_soon == n:
                    n32 = to_front(~soon)
                    met32 = crit[:n] < tol  # met on float32 steps (q < 1: all soon), to be confirmed
                else:
                    n32 = n
            # else: the float32 steps stopped contracting (their error floor): float64
        if aa is not None:
            res = aa.step(apply, x)
        elif n32 == 0:
            res = apply(x, x, n_step)
        elif n32 == n_step:
            res = apply(x, x, n_step, False)
        else:
            res = np.concatenate([apply(x, x, n32, False), apply(x, x, n_step, True, lo=n32)])
        work += n_step
        exact_work += n_step - n32
        steps[:n_step] += 1
        crit[:n_step] = c * w[:n_step] * res
        if aa is not None:  # Anderson steps need not contract: all rows must meet at once
            done[:] = crit < tol
        else:               # a plain float64 step contracts: a converged row stays converged
            done[n32:n_step] |= crit[n32:n_step] < tol
            if met32 is not None and np.any(met32[n32:n_step] & ~done[n32:n_step]):
                mixed = False  # a row that met the criterion on float32 steps missed it on the
                #                float64 one: the float32 error floor is above tol; float64 on
        r = float(crit[:n].max())
        history.append(r)
        if not np.isfinite(r):
            reason = "non-finite"
            break
        if done[:n].all():
            reason = None
            break
        if r < best * (1 - 1e-6):
            best, since_best = r, 0
        else:
            since_best += 1
            if since_best >= patience:
                reason = "stalled"
                break
        open_ = ~done[:n]
        if n_step == n:  # observed contraction per step of the open rows
            cmax = float(crit[:n][open_].max())
            if last_max is not None:
                q = min(1.0, max(1e-3, cmax / last_max))
            last_max = cmax
        n_open = int(open_.sum())
        # drop converged rows (always in mixed mode, so that they never take a float32 step)
        if aa is None and ((mixed and n_open < n) or n_open <= 0.75 * n):
            n = to_front(open_)
    if n < N or not np.array_equal(perm, np.arange(N)):
        for a in restore:
            _numba.unpermute_rows(a, perm)
    return Solve(x, int(steps.max()), np.array(history), work / N, reason, exact_work / N)


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
