"""Fixed-point solvers: the forward equilibrium and the adjoint equation.

Layout: every (N, m) array holds one sample per row (C order), i.e. the m×N "samples as
columns" matrices of docs/model.md stored column-major.  Users therefore get samples along
axis 0, and the large products are plain BLAS-3 calls: ZAᵀ for the forward map and (D⊙K)A
for the adjoint (γ̃ is applied in the fused element-wise pass, so A is never copied).

Forward (docs/model.md, "The model"):  z = f(z) = σ(γ̃Az + φ),  γ̃ = γ/√m, φ = σ(Wx)/√m.
Adjoint (docs/model.md, "Gradients"):  k = u + γ̃Aᵀ(d ⊙ k),    d = 1[γ̃Az + φ > 0]  (unit residual).

Both maps are ρ-contractions in the Euclidean norm of each sample when ρ = γ̃‖A‖₂ < 1,
so plain iteration from any start converges with residual ‖f(z_k) − z_k‖ ≤ ρ^k ‖f(z_0) − z_0‖.
The solve stops when the largest per-sample residual ‖f(z) − z‖₂ (or, with ``lipschitz``, its
certified bound on the returned point) is below ``tol``; it raises :class:`NotConverged`
(carrying ρ and the residual history) when the residual is no longer finite, stops decreasing
for ``patience`` iterations, or ``max_iter`` is reached.  How a solve runs is one
:class:`SolverSettings`; docs/solver.md describes the fast paths.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from . import _numba, _timing
from .linalg import spectral_norm
from .model import Params, features

METHODS = ("fixed-point", "anderson")


@dataclass(frozen=True)
class SolverSettings:
    """How the fixed-point solves run; the same settings serve the forward and adjoint solves.

    Parameters
    ----------
    tol : float
        Stop when every sample's residual ‖f(x) − x‖₂ (weighted, for the adjoint of a
        gradient) is below ``tol``, 0 < tol < 1.
    max_iter : int
        Iterations before :class:`NotConverged` ("max_iter"), ≥ 1.
    method : {"fixed-point", "anderson"}
        Plain iteration, or per-sample Anderson acceleration of depth ``anderson_depth`` with
        a safeguard (a sample whose residual did not decrease takes the plain step).
    anderson_depth : int
        Steps Anderson acceleration remembers, ≥ 1.
    patience : int
        Iterations without a decrease of the largest residual before "stalled", ≥ 1.
    lipschitz : float or None
        Certified stopping: an upper bound L < 1 of the map's Lipschitz constant; a sample
        stops when L·‖x⁺ − x‖ < tol proves its returned point meets the tolerance.
    mixed : bool or None
        Late iterations as float32 increments confirmed by a float64 step (plain iteration
        only).  None: the caller's default — :func:`implicit.train` uses them when θ is
        float64, single solves do not.

    Raises
    ------
    ValueError
        For a value outside the ranges above.
    """

    tol: float = 1e-10
    max_iter: int = 1000
    method: str = "fixed-point"
    anderson_depth: int = 5
    patience: int = 50
    lipschitz: float | None = None
    mixed: bool | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not (0 < self.tol < 1) or int(self.max_iter) < 1:
            raise ValueError(f"need 0 < tol < 1 and max_iter ≥ 1, got tol={self.tol!r}, max_iter={self.max_iter!r}")
        if self.lipschitz is not None and not (0 < self.lipschitz < 1):
            raise ValueError(f"lipschitz must be in (0, 1) (a contraction), got {self.lipschitz!r}")
        if int(self.anderson_depth) < 1:
            raise ValueError(f"anderson_depth must be ≥ 1, got {self.anderson_depth}")
        if int(self.patience) < 1:
            raise ValueError(f"patience must be ≥ 1, got {self.patience}")

    def replace(self, **changes) -> SolverSettings:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)


def settings(solver: SolverSettings | None) -> SolverSettings:
    """``solver``, or the default :class:`SolverSettings` for None; TypeError for anything else."""
    if solver is None:
        return DEFAULT
    if not isinstance(solver, SolverSettings):
        raise TypeError(f"solver must be a SolverSettings or None, got {type(solver).__name__}")
    return solver


DEFAULT = SolverSettings()


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
    solver: SolverSettings | None = None,
    *,
    z0: np.ndarray | None = None,
    return_unconverged: bool = False,
) -> Equilibrium:
    """Solve z_i = σ(γ/√m · A z_i + φ_i) for every row x_i of X.

    Parameters
    ----------
    params : Params
        θ = (A, W, u, v) of width m and input dimension d.
    X : ndarray, shape (N, d)
        Inputs, one sample per row.
    gamma : float
        The scale γ > 0 of the implicit layer; the map is a contraction when ρ(A) < 1.
    solver : SolverSettings, optional
        Tolerance, iteration limits, method and fast paths (default :class:`SolverSettings`).
    z0 : ndarray, shape (N, m), optional
        Warm start (default 0).
    return_unconverged : bool
        Return the last iterate with ``converged=False`` instead of raising.

    Returns
    -------
    Equilibrium
        Z, Φ, P, Q (all (N, m)), iterations, work and residuals.

    Raises
    ------
    NotConverged
        When the solve fails (non-finite, stalled or ``max_iter``) and not
        ``return_unconverged``; it carries ρ(A) and the residual history.
    ValueError
        For inputs of the wrong shape, non-finite X or γ ≤ 0.
    """
    return _equilibrium(params, X, gamma, settings(solver), z0=z0, return_unconverged=return_unconverged)


def _equilibrium(params, X, gamma, solver: SolverSettings, *, z0=None, return_unconverged=False, A32=None, feats=None):
    """:func:`equilibrium` with the engine's buffers: ``A32``, a float32 copy of A for the
    mixed-precision increments (made here when needed and not given), and ``feats`` =
    ``features(params, X)`` when already computed."""
    X = check_inputs(params, X, gamma)
    Q, Phi = features(params, X) if feats is None else feats
    Z = _start(z0, Phi.shape, Phi.dtype, "z0")
    P = np.empty_like(Phi)
    delta = np.empty(P.shape, np.float32)  # the last step Z_new − Z_old, operand of an increment
    At, scale = params.A.T, gamma / np.sqrt(params.m)  # Aᵀ is an F-ordered view: BLAS reads it transposed
    low = _Low(params.A, A32, P.shape) if solver.mixed else None

    def apply(x, out, n, exact=True, lo=0):
        r = slice(lo, n)
        res = np.empty(n - lo, dtype=x.dtype)
        t = _timing.sink and _timing.clock()
        if exact:  # P = γ̃ x Aᵀ + Φ from scratch
            np.matmul(x[r], At, out=P[r])
            t = t and _timing.report(t, "forward", n - lo, x.dtype)
            _numba.relu_map(P[r], Phi[r], x[r], out[r], res, scale, delta[r])
            t = t and _timing.report(t, "pass:relu_map")
        else:      # P += γ̃ δ Aᵀ with δ the last step, in float32
            np.matmul(delta[r], low.A.T, out=low.T[r])
            t = t and _timing.report(t, "forward", n - lo, low.A.dtype)
            _numba.relu_increment(P[r], low.T[r], x[r], res, delta[r], scale)
            t = t and _timing.report(t, "pass:relu_increment")
        return res

    sol = iterate(apply, Z, solver, rows=(P, Phi), scratch=(delta,))
    n_iter, work, exact_work = sol.n_iter, sol.work, sol.exact_work
    if solver.method != "fixed-point":  # P belongs to the point before the accelerated one:
        apply(sol.x.copy(), sol.x, len(sol.x))  # one plain step makes Z = σ(P) exact again
        n_iter, work, exact_work = n_iter + 1, work + 1, exact_work + 1
    eq = Equilibrium(sol.x, Phi, P, Q, n_iter, float(sol.residuals[-1]), sol.residuals, sol.reason is None, work,
                     exact_work)
    if sol.reason is not None and not return_unconverged:
        raise NotConverged("forward", sol.reason, gamma_rho(params, gamma), sol.residuals, solver.tol, eq)
    return eq


def adjoint(
    params: Params,
    gamma: float,
    P: np.ndarray,
    solver: SolverSettings | None = None,
    *,
    k0: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> Solve:
    """Solve the unit-residual adjoint k_j = u + γ̃Aᵀ(d_j ⊙ k_j), d_j = 1[P_j > 0].

    Parameters
    ----------
    params : Params
        θ; only A and u enter.
    gamma : float
        γ of the forward solve.
    P : ndarray, shape (N, m)
        Pre-activations of the equilibrium (``Equilibrium.P``).
    solver : SolverSettings, optional
        As for :func:`equilibrium`.
    k0 : ndarray, shape (N, m), optional
        Warm start (default: u in every row, the first term of the Neumann series).
    weights : ndarray, shape (N,), optional
        Stop when max_j weights_j·‖k_j − f(k_j)‖ < tol (weights = |r| gives the criterion on
        the residual-weighted adjoint Λ = K·diag(r)).

    Returns
    -------
    Solve
        ``x`` is K (N, m), one sample per row.  The adjoint of docs/model.md with residuals r
        is Λ = K·diag(r), so K serves both the gradient and the Gram matrix, and it does not
        change with r: a good warm start.

    Raises
    ------
    NotConverged
        When the solve fails.
    """
    return _adjoint(params, gamma, P, settings(solver), k0=k0, weights=weights)


def _adjoint(params, gamma, P, solver: SolverSettings, *, k0=None, weights=None, A32=None) -> Solve:
    """:func:`adjoint` with the float32 copy ``A32`` of A (see :func:`_equilibrium`)."""
    K = _start(k0, P.shape, P.dtype, "k0")
    if k0 is None:
        K[:] = params.u  # the first term of the Neumann series
    scale = gamma / np.sqrt(params.m)
    D = P > 0                               # the masks, permuted alongside K by the active set
    M = np.empty_like(K)                    # D⊙K, the operand of the next exact product
    T = np.empty_like(K)                    # (D⊙K)A of an exact step (a temporary)
    delta = np.empty(K.shape, np.float32)   # D⊙(K_new − K_old), operand of an increment
    t = _timing.sink and _timing.clock()
    _numba.mask_positive(D, K, M)
    t = t and _timing.report(t, "pass:mask_positive")
    low = _Low(params.A, A32, P.shape) if solver.mixed else None

    def apply(x, out, n, exact=True, lo=0):
        r = slice(lo, n)
        res = np.empty(n - lo, dtype=x.dtype)
        t = _timing.sink and _timing.clock()
        if exact:  # K = u + γ̃(D⊙K)A from scratch
            if out is not x:  # Anderson moves x between calls: M must follow it
                _numba.mask_positive(D[r], x[r], M[r])
                t = t and _timing.report(t, "pass:mask_positive")
            np.matmul(M[r], params.A, out=T[r])
            t = t and _timing.report(t, "adjoint", n - lo, x.dtype)
            _numba.adjoint_map(T[r], params.u, D[r], x[r], out[r], res, scale, M[r], delta[r])
            t = t and _timing.report(t, "pass:adjoint_map")
        else:      # K += γ̃(D⊙δ)A with δ the last step, the product in float32
            np.matmul(delta[r], low.A, out=low.T[r])
            t = t and _timing.report(t, "adjoint", n - lo, low.A.dtype)
            _numba.adjoint_increment(low.T[r], D[r], x[r], res, scale, M[r], delta[r])
            t = t and _timing.report(t, "pass:adjoint_increment")
        return res

    sol = iterate(apply, K, solver, scratch=(D, M, delta), weights=weights)
    if sol.reason is not None:
        raise NotConverged("adjoint", sol.reason, gamma_rho(params, gamma), sol.residuals, solver.tol, sol.x)
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
#: float32 product γ̃δAᵀ has a relative error of a few float32 roundings, about 3e-8‖δ‖ here
#: (docs/solver.md), so the increments of a row that switches at 3e6·tol add about 0.1·tol to
#: its product; the float64 step that confirms convergence measures the true residual anyway.
MIXED_SWITCH = 3e6


class _ActiveSet:
    """The rows still iterated: rows [0, n) of every per-row array, moved by swaps.

    Rows converge at different speeds, so once a quarter of the active rows have converged
    the unconverged ones are moved to the front and only that prefix is iterated — a smaller
    BLAS-3 product.  ``restore`` arrays are put back in the original order at the end; the
    others (bookkeeping and scratch) are permuted along but left in the last order.
    """

    def __init__(self, arrays, restore, N):
        self.arrays, self.restore, self.n = arrays, restore, N
        self.perm = np.arange(N)

    def to_front(self, first) -> int:
        """Reorder rows [0, n) so that the rows with ``first`` come first, swapping only the
        misplaced ones; returns their count."""
        n_first = int(np.count_nonzero(first))
        i = np.flatnonzero(~first[:n_first])   # wrong side, in front
        j = n_first + np.flatnonzero(first[n_first:])  # wrong side, behind
        if i.size:
            t = _timing.sink and _timing.clock()
            for a in (*self.arrays, self.perm):
                _numba.swap_rows(a, i, j)
                t = t and _timing.report(t, "pass:swap_rows")
        return n_first

    def put_back(self):
        """Undo every move on the ``restore`` arrays."""
        N = len(self.perm)
        if self.n < N or not np.array_equal(self.perm, np.arange(N)):
            t = _timing.sink and _timing.clock()
            for a in self.restore:
                _numba.unpermute_rows(a, self.perm)
                t = t and _timing.report(t, "pass:unpermute_rows")


class _PrecisionSchedule:
    """Which active rows take a float32 increment and which a float64 step (``mixed`` only).

    Rows still far from the solution (criterion ≥ MIXED_SWITCH·tol: warm starts are poor
    where a ReLU unit switched) are moved to the front and take float64 steps alone until
    they are near; then the active rows take float32 steps, except those that have met, or
    are predicted (from the observed contraction ``q``) to meet, the criterion: moved to the
    back, they take the float64 step that measures their true residual (once they are a
    tenth of the active rows, or all of them; two products per step).  All rows take float64
    steps when a float32 step did not contract (q ≥ ½), and from the moment a row that met
    the criterion on float32 steps misses it on the float64 one (the float32 error floor is
    above tol).
    """

    def __init__(self, mixed, tol, c):
        self.mixed, self.tol = bool(mixed), tol
        self.far_level = MIXED_SWITCH * tol * c  # in units of the criterion
        self.q, self.last_max = 0.25, None

    def plan(self, k, crit, active: _ActiveSet):
        """(n_step, n32, met32): rows [0, n32) step in float32, [n32, n_step) in float64;
        ``met32`` marks the rows that met the criterion on float32 steps, to be confirmed."""
        n = active.n
        if not self.mixed or k == 0:
            return n, 0, None
        far = crit[:n] >= self.far_level
        if far.any():  # the far rows alone, moved to the front, in float64
            self.last_max = None
            return active.to_front(far), 0, None
        if self.q >= 0.5:  # the float32 steps stopped contracting (their error floor)
            return n, 0, None
        soon = crit[:n] * self.q < self.tol
        n_soon = int(np.count_nonzero(soon))
        if n_soon >= 0.1 * n or n_soon == n:
            n32 = active.to_front(~soon)
            return n, n32, crit[:n] < self.tol  # met on float32 steps (q < 1: all soon)
        return n, n, None

    def confirm(self, met32, done, n32, n_step):
        """Float64 from now on if a row that met the criterion in float32 missed it in float64."""
        if met32 is not None and np.any(met32[n32:n_step] & ~done[n32:n_step]):
            self.mixed = False

    def observe(self, crit, open_, n, n_step):
        """Update the observed contraction per step of the open rows (full steps only)."""
        if n_step == n:
            cmax = float(crit[:n][open_].max())
            if self.last_max is not None:
                self.q = min(1.0, max(1e-3, cmax / self.last_max))
            self.last_max = cmax


class _Stall:
    """Stops a solve whose largest residual has not decreased for ``patience`` iterations."""

    def __init__(self, patience):
        self.patience, self.best, self.since_best = patience, np.inf, 0

    def stalled(self, r) -> bool:
        if r < self.best * (1 - 1e-6):
            self.best, self.since_best = r, 0
        else:
            self.since_best += 1
        return self.since_best >= self.patience


def iterate(apply, x, settings: SolverSettings, *, rows=(), scratch=(), weights=None) -> Solve:
    """Generic fixed-point loop on (N, m) iterates, one independent problem per row.

    ``apply(x, out, n, exact=True, lo=0)`` writes f(x[lo:n]) to ``out[lo:n]`` (``out`` may be
    ``x``) and returns the n − lo residual norms ‖f(x_j) − x_j‖₂.  A row is converged when
    w_j·c·res_j < tol (w = 1 or ``weights``; c = 1, or ``settings.lipschitz`` when given),
    measured on a float64 step; the loop ends when all rows are.  Every row takes at least
    one step, so each row ends at f of its last measured point.

    Certified stopping (``lipschitz`` = L, an upper bound of the map's Lipschitz constant
    < 1): the returned point x⁺ = f(x) has residual ‖f(x⁺) − x⁺‖ ≤ L‖x⁺ − x‖ = L·res, so a row
    stops as soon as its returned point provably meets ‖f(x⁺) − x⁺‖ < tol — the criterion
    itself, on the returned point, one product earlier than measuring it.

    Active set (plain iteration, :class:`_ActiveSet`): converged rows leave the product.
    ``rows`` are further (N, ·) arrays that ``apply`` uses per row; they are permuted with
    ``x`` and put back in order with it at the end (``scratch`` arrays are permuted too, but
    left in the last order).

    Mixed precision (``mixed``, plain iteration only, :class:`_PrecisionSchedule`):
    ``apply(..., exact=False)`` computes the product of the *last step* δ = x_new − x_old in
    float32 and adds it to the kept float64 quantity (the pre-activations P, or K itself,
    which is affine in its product): about half the cost of a float64 step.

    ``Solve.work`` counts row-steps / N, the cost in full-batch iterations
    (``Solve.exact_work`` the float64 ones); ``Solve.n_iter`` the steps of the slowest row.
    """
    tol = settings.tol
    N = x.shape[0]
    w = np.ones(N) if weights is None else np.array(weights, dtype=np.float64)
    crit = np.full(N, np.inf)          # c·w·res of each row's last step
    done = np.zeros(N, dtype=bool)     # converged on a float64 step (iterated on until dropped)
    steps = np.zeros(N, dtype=np.int64)
    active = _ActiveSet((x, crit, done, steps, w, *rows, *scratch), (x, *rows), N)
    aa = _Anderson(x.shape, x.dtype, settings.anderson_depth) if settings.method == "anderson" else None
    c = 1.0 if settings.lipschitz is None else float(settings.lipschitz)
    schedule = _PrecisionSchedule(bool(settings.mixed) and aa is None, tol, c)
    stall = _Stall(settings.patience)
    work, exact_work, history, reason = 0, 0, [], "max_iter"

    for k in range(int(settings.max_iter)):
        n = active.n
        n_step, n32, met32 = schedule.plan(k, crit, active)
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
            schedule.confirm(met32, done, n32, n_step)
        r = float(crit[:n].max())
        history.append(r)
        if not np.isfinite(r):
            reason = "non-finite"
            break
        if done[:n].all():
            reason = None
            break
        if stall.stalled(r):
            reason = "stalled"
            break
        open_ = ~done[:n]
        schedule.observe(crit, open_, n, n_step)
        n_open = int(open_.sum())
        # drop converged rows (always in mixed mode, so that they never take a float32 step)
        if aa is None and ((schedule.mixed and n_open < n) or n_open <= 0.75 * n):
            active.n = active.to_front(open_)
    active.put_back()
    return Solve(x, int(steps.max()), np.array(history), work / N, reason, exact_work / N)


class _Anderson:
    """Per-row Anderson acceleration (type II, mixing 1) with a residual safeguard.

    With f_k = g(x_k) − x_k and difference matrices ΔF, ΔG of the last ``depth`` steps,
    each row solves min_c ‖f_k − ΔF c‖ and moves to x_{k+1} = g(x_k) − ΔG c.  A row whose
    residual did not decrease since the previous step takes the plain step g(x_k) instead.
    """

    def __init__(self, shape, dtype, depth):
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
