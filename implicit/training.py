"""Full-batch gradient descent and gradient flow on the square loss.

GD:  θ(k+1) = θ(k) − η ∇L(θ(k)) on the trained blocks, both fixed-point solves warm-started
from the previous step.  GF:  dθ/dt = −∇L(θ), integrated by an error-controlled Runge–Kutta
method (scipy's ``solve_ivp``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from . import _timing
from .gradients import _evaluate, _forward, _unit_adjoint, check_y
from .linalg import PowerNorm, eigh_extremes
from .model import BLOCKS, Params, check_trainable, output
from .ntk import gram, gram_blocks
from .solver import NotConverged, SolverSettings, check_inputs, settings
from .warmstart import WarmStart

#: Columns of the trace returned by :func:`train` (the Gram columns only with ``track_gram``).
TRACE_COLUMNS = (
    "step", "train_loss", "test_loss", "rho", "fwd_iter", "adj_iter", "fwd_work", "adj_work",
    "fwd_work_f64", "adj_work_f64", "fwd_residual", "adj_residual", "rel_change_A", "rel_change_W", "seconds",
)
GRAM_COLUMNS = ("lambda_min_H", "lambda_max_H", "lambda_min_HA", "lambda_min_HW", "lambda_min_Hu", "lambda_min_Hv")
#: Columns added by ``track_invariants`` (after the Gram columns, which it implies): the
#: quantities a convergence proof keeps bounded along training (:func:`train`, Returns).
INVARIANT_COLUMNS = ("gram_change", "max_neuron_move", "flip_fraction", "flip_fraction_input")

#: ``lr="auto"`` uses η = AUTO_LR_FRACTION · 2/λ_max(H(0)).
AUTO_LR_FRACTION = 0.5

#: Certified stopping uses L = RHO_MARGIN·ρ as the Lipschitz bound of both maps: ρ comes from
#: a warm power iteration (a lower estimate, accurate to ~1e-6 once aligned), the margin
#: makes it a safe upper bound at the cost of log(1.05)/log(1/ρ_eff) of an iteration.
RHO_MARGIN = 1.05

#: default settings of :func:`gradient_flow`'s solves
GF_SOLVER = SolverSettings(tol=1e-12)


def auto_lr(params: Params, X, y, gamma, *, trainable=BLOCKS, fraction: float = AUTO_LR_FRACTION,
            solver: SolverSettings | None = None) -> float:
    """η = fraction · 2/λ_max(H(0)) over the trained blocks (the stable range is η < 2/λ_max)."""
    H = gram(params, X, gamma, trainable=trainable, solver=solver)
    return fraction * 2.0 / eigh_extremes(H)[1]


def train(
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    gamma: float,
    *,
    lr,
    steps: int,
    solver: SolverSettings | None = None,
    trainable=BLOCKS,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    record_every: int = 1,
    track_gram: bool = False,
    track_invariants: bool = False,
    stop_below: float | None = None,
    max_rho: float = 1.0,
    extrapolate: bool = True,
    certified: bool = True,
    progress=None,
) -> tuple[Params, pd.DataFrame]:
    """Full-batch gradient descent θ(k+1) = θ(k) − η∇L(θ(k)) on the trained blocks.

    Parameters
    ----------
    params : Params
        θ(0) (not modified).
    X : ndarray, shape (N, d)
    y : ndarray, shape (N,)
    gamma : float
    lr : float or "auto"
        The step η > 0, or "auto" for η = ½·2/λ_max(H(0)) (:func:`auto_lr`).
    steps : int
        GD steps, ≥ 0.
    solver : SolverSettings, optional
        Settings of every solve.  Its ``lipschitz`` must be None (``certified`` sets it each
        step); its ``mixed`` None means float32 increments when θ is float64.
    trainable : sequence of {"A", "W", "u", "v"}
    X_test, y_test : ndarray, optional
        A test set whose loss is recorded (forward solves warm-started from recorded step to
        recorded step).
    record_every : int
        One trace row per ``record_every`` steps, and the last.
    track_gram : bool
        Also record λ_min, λ_max of H(k) and λ_min of each block (:data:`GRAM_COLUMNS`).
    track_invariants : bool
        Also record, at every recorded step, what a convergence proof keeps bounded
        (:data:`INVARIANT_COLUMNS`; implies ``track_gram``): ``gram_change`` =
        ‖H(k) − H(0)‖₂ / λ_min(H(0)) over the trained blocks; ``max_neuron_move`` =
        max_r ‖w_r(k) − w_r(0)‖₂ over the rows of W (absolute: w_r(0)ᵀx ~ N(0, 1) for a unit
        x, so it compares directly with the margin of an input unit's sign); ``flip_fraction``
        = the fraction of the N·m equilibrium activation signs 1[P > 0] (P = γ̃Az + φ) that
        differ from those at k = 0; ``flip_fraction_input`` the same for the input layer's
        signs 1[XWᵀ > 0].  Costs one N×N Gram matrix and one N×N eigen-decomposition per
        recorded step, and keeps H(0) and the k = 0 signs (N² + 2Nm values).
    stop_below : float, optional
        Stop at the first step k ≥ 1 with L(k) ≤ stop_below·L(0), recording that step (status
        "completed", ``reason`` says where): runs of different conditioning then end equally
        far trained, instead of at one budget ``steps`` that some overshoot by orders of
        magnitude and others do not reach.  None: always run ``steps`` steps.
    max_rho : float
        Stop when ρ(A) ≥ max_rho (``np.inf`` to study ill-posed γ).
    extrapolate : bool
        Warm starts extrapolated along the trajectory (:class:`WarmStart`).
    certified : bool
        Certified stopping with L = RHO_MARGIN·ρ as the Lipschitz bound (used while L < 1).
    progress : callable, optional
        Called after every step k = 0, …, steps whose loss is finite with one dict
        ``{"step": k, "steps": steps, "train_loss": L(θ(k)), "rho": ρ(A(k)), "seconds": wall
        seconds since the start}``, e.g. to log progress.  It only reads: the results are the
        same with and without it.


    Returns
    -------
    params : Params
        θ at the last good step.
    trace : DataFrame
        Columns :data:`TRACE_COLUMNS` (+ :data:`GRAM_COLUMNS`, + :data:`INVARIANT_COLUMNS`): the loss ½Σ(ŷ−y)² on train and
        test sets, ρ = γ‖A‖₂/√m (warm power iteration, rtol 1e-6), the forward/adjoint
        iterations (slowest sample), work (sample-iterations / N) and residuals of that step,
        ‖A−A(0)‖_F/‖A(0)‖_F and the same for W, and cumulative wall seconds.  ``trace.attrs``
        holds ``lr`` (NaN if the run failed before "auto" was resolved), ``dtype``, ``status``
        ("completed" or "stopped") and ``reason``.

    Notes
    -----
    The run stops early, keeping the rows of the good steps, when the loss is not finite, a
    solve does not converge, or ρ ≥ ``max_rho``; it does not raise for these.
    """
    trainable = check_trainable(trainable)
    X = check_inputs(params, X, gamma)
    solver = settings(solver)
    steps, record_every = int(steps), int(record_every)
    if steps < 0 or record_every < 1:
        raise ValueError(f"need steps ≥ 0 and record_every ≥ 1, got {steps}, {record_every}")
    if stop_below is not None and not 0 < stop_below < 1:
        raise ValueError(f"stop_below must be in (0, 1), got {stop_below!r}")
    if solver.lipschitz is not None:
        raise ValueError("train sets the solver's lipschitz itself each step (from ρ, see certified)")
    has_test = X_test is not None
    if has_test:
        X_test = check_inputs(params, X_test, gamma)
        if y_test is None:
            raise ValueError("X_test given without y_test")
        y_test = check_y(y_test, X_test.shape[0], params.dtype)

    track_gram = bool(track_gram or track_invariants)
    theta = params.copy()
    ref = {} if track_invariants else None  # H(0), λ_min(H(0)) and the k = 0 sign patterns
    A0n, W0n = np.linalg.norm(params.A), np.linalg.norm(params.W)
    dist = {"A": 0.0, "W": 0.0}  # ‖θ − θ(0)‖_F of these blocks, from the last update
    warm, warm_test = WarmStart(extrapolate=extrapolate), WarmStart(extrapolate=extrapolate)
    power = PowerNorm(params.m)
    rows, status, reason = [], "completed", None
    gamma_over_sqrt_m = gamma / np.sqrt(params.m)
    mixed = params.dtype == np.float64 if solver.mixed is None else bool(solver.mixed)
    solver = solver.replace(mixed=mixed)
    t0 = time.perf_counter()
    k = 0
    try:
        lr = auto_lr(theta, X, y, gamma, trainable=trainable, solver=solver) if lr == "auto" else _check_lr(lr)
        for k in range(steps + 1):
            t = _timing.sink and _timing.clock()
            rho = gamma_over_sqrt_m * power.estimate(theta.A)
            t = t and _timing.report(t, "power")
            if rho >= max_rho:
                status, reason = "stopped", f"rho(A) = {rho:.4f} >= {max_rho} at step {k}: equilibrium not guaranteed well-posed"
                break
            record = k % record_every == 0 or k == steps
            done = k == steps
            bound = RHO_MARGIN * rho
            step_solver = solver.replace(lipschitz=bound if certified and bound < 1 else None)
            # one float32 copy of this step's A for every solve (train, test, Gram)
            A32 = theta.A.astype(np.float32) if mixed else None
            ev = _evaluate(theta, X, y, gamma, step_solver, trainable=trainable,
                           need_grad=k < steps or (record and track_gram), warm_start=warm, A32=A32)
            if _timing.sink is not None:
                _timing.mark("step", k)
            if not np.isfinite(ev.loss):
                status, reason = "stopped", f"non-finite training loss at step {k}"
                break
            if k == 0:
                loss0 = ev.loss
            elif stop_below is not None and ev.loss <= stop_below * loss0:
                done, record = True, True
                reason = f"L(k)/L(0) <= {stop_below:g} at step {k}"
            if progress is not None:
                progress({"step": k, "steps": steps, "train_loss": float(ev.loss), "rho": float(rho),
                          "seconds": time.perf_counter() - t0})
            if record:
                row = {
                    "step": k,
                    "train_loss": ev.loss,
                    "test_loss": _test_loss(theta, X_test, y_test, gamma, step_solver, warm_test, A32) if has_test else np.nan,
                    "rho": rho,
                    "fwd_iter": warm.fwd_iter,
                    "adj_iter": warm.adj_iter if ev.K is not None else 0,
                    "fwd_work": warm.fwd_work,
                    "adj_work": warm.adj_work if ev.K is not None else 0.0,
                    "fwd_work_f64": warm.fwd_exact_work,
                    "adj_work_f64": warm.adj_exact_work if ev.K is not None else 0.0,
                    "fwd_residual": warm.fwd_residual,
                    "adj_residual": warm.adj_residual if ev.K is not None else np.nan,
                    "rel_change_A": dist["A"] / A0n,
                    "rel_change_W": dist["W"] / W0n,
                }
                if track_gram:
                    row.update(_gram_row(theta, X, gamma, ev, trainable, step_solver, A32, ref))
                if track_invariants:
                    row.update(_invariant_row(theta, params, ev, ref))
                row["seconds"] = time.perf_counter() - t0
                rows.append(row)
            if done:
                break
            dist.update(theta.axpy_distance(-lr, ev.grads, params, trainable))
    except NotConverged as exc:
        status, reason = "stopped", f"at step {k}: {exc}"
    columns = list(TRACE_COLUMNS) + (list(GRAM_COLUMNS) if track_gram else []) + (
        list(INVARIANT_COLUMNS) if track_invariants else [])
    trace = pd.DataFrame(rows, columns=columns)
    lr = lr if isinstance(lr, float) else float("nan")  # "auto" not resolved: failed before
    trace.attrs.update(lr=lr, status=status, reason=reason, trainable=trainable, dtype=str(params.dtype))
    return theta, trace


def _check_lr(lr) -> float:
    try:
        value = float(lr)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(lr, bool) or not (np.isfinite(value) and value > 0):
        raise ValueError(f"lr must be a positive number or 'auto', got {lr!r}")
    return value


def _test_loss(theta, X_test, y_test, gamma, solver, warm_test, A32):
    r = output(theta, _forward(theta, X_test, gamma, solver, warm_test, A32)) - y_test
    return 0.5 * float(r @ r)


def _gram_row(theta, X, gamma, ev, trainable, solver, A32, ref=None):
    """λ_min, λ_max of H over ``trainable`` and λ_min of every block (all four computed).

    With a dict ``ref`` (``track_invariants``), also ``gram_change`` = ‖H − H(0)‖₂/λ_min(H(0)):
    the first call stores H(0) and λ_min(H(0)) in ``ref``."""
    # the gradient's K met a residual-weighted criterion; the Gram matrix needs it to tol
    K = _unit_adjoint(theta, gamma, ev.eq, solver, k0=ev.K, A32=A32)
    parts = gram_blocks(theta, X, gamma, ev.eq, K, BLOCKS)
    H = sum(parts[b] for b in trainable)
    lo, hi = eigh_extremes(H)
    row = {"lambda_min_H": lo, "lambda_max_H": hi}
    if ref is not None:
        if "H" not in ref:
            ref.update(H=H, lambda_min_H=lo)
        # ‖·‖₂ of the symmetric difference: its largest |eigenvalue|
        row["gram_change"] = float(np.abs(np.linalg.eigvalsh(H - ref["H"])).max()) / ref["lambda_min_H"]
    for b in BLOCKS:
        row[f"lambda_min_H{b}"] = eigh_extremes(parts[b])[0]
    return row


def _invariant_row(theta, params, ev, ref):
    """The per-neuron and sign-pattern invariants of :func:`train` (``track_invariants``) at
    θ = ``theta`` against θ(0) = ``params``; the first call stores the k = 0 signs in ``ref``."""
    D, E = ev.eq.P > 0, ev.eq.Q > 0
    if "D" not in ref:
        ref.update(D=D, E=E)
    move = np.sqrt(((theta.W - params.W).astype(np.float64) ** 2).sum(axis=1)).max()
    return {"max_neuron_move": float(move), "flip_fraction": float(np.mean(D != ref["D"])),
            "flip_fraction_input": float(np.mean(E != ref["E"]))}


def gradient_flow(
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    gamma: float,
    t_max: float,
    *,
    n_eval: int = 101,
    t_eval=None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    trainable=BLOCKS,
    solver: SolverSettings | None = None,
    ode_method: str = "RK45",
    stop_below: float | None = None,
) -> pd.DataFrame:
    """Integrate the gradient flow dθ/dt = −∇L(θ) on the trained blocks from t = 0 to ``t_max``.

    Parameters
    ----------
    params : Params
        θ(0) (not modified).
    X : ndarray, shape (N, d)
    y : ndarray, shape (N,)
    gamma : float
    t_max : float
        End time, > 0.
    n_eval : int
        Evenly spaced report times in [0, t_max] when ``t_eval`` is not given.
    t_eval : array_like, optional
        Report times.
    rtol, atol : float
        The integrator's tolerances on θ.  The gradient jumps where a ReLU unit switches, so a
        tight ``rtol`` is expensive (docs/performance.md).
    trainable : sequence of {"A", "W", "u", "v"}
    solver : SolverSettings, optional
        Settings of both solves of every right-hand side (default tol 1e-12, tighter than
        GD's: the integrator's error control sees the solver's error).
    ode_method : {"RK45", "DOP853"}
        The ``scipy.integrate.solve_ivp`` method (adaptive, error-controlled).
    stop_below : float, optional
        Stop the integration (a terminal event) once L(θ(t)) ≤ stop_below·L(θ(0)): below a loss
        ratio set by the tolerances the computed loss is the integrator's error, not the flow's,
        and integrating further only costs steps (an explicit method's step is held at
        ~3/λ_max(H) by stability).  Since L is non-increasing along the exact flow
        (dL/dt = −‖∇L‖² ≤ 0), L(t) ≤ stop_below·L(0) also holds after the stop.

    Returns
    -------
    DataFrame
        Columns ``t`` and ``loss`` at the report times up to the end (``t_max``, or the stop);
        ``attrs`` hold the number of gradient evaluations (``nfev``), the integrator's
        ``status`` (1 when ``stop_below`` stopped it) and ``message``, and ``t_end``, the time
        the integration reached.

    Raises
    ------
    NotConverged
        When a solve fails.
    """
    from scipy.integrate import solve_ivp

    trainable = check_trainable(trainable)
    X = check_inputs(params, X, gamma)
    solver = GF_SOLVER if solver is None else settings(solver)
    if not (t_max > 0):
        raise ValueError(f"t_max must be positive, got {t_max!r}")
    theta = params.copy()
    sizes = [getattr(theta, b).size for b in trainable]
    warm = WarmStart()

    def set_theta(vec):
        for b, chunk in zip(trainable, np.split(vec, np.cumsum(sizes)[:-1])):
            getattr(theta, b)[...] = chunk.reshape(getattr(theta, b).shape)

    last = {}  # the loss at the latest right-hand side: RK45 and DOP853 end each step with one at its end point

    def rhs(_t, vec):
        set_theta(vec)
        ev = _evaluate(theta, X, y, gamma, solver, trainable=trainable, warm_start=warm)
        last.update(vec=vec.copy(), loss=ev.loss)
        return -np.concatenate([getattr(ev.grads, b).ravel() for b in trainable])

    t_eval = np.linspace(0.0, t_max, n_eval) if t_eval is None else np.asarray(t_eval, dtype=float)
    y0 = np.concatenate([getattr(theta, b).ravel() for b in trainable])
    events = None
    if stop_below is not None:
        if not (0 < stop_below < 1):
            raise ValueError(f"stop_below must lie in (0, 1), got {stop_below!r}")
        set_theta(y0)
        level = stop_below * _evaluate(theta, X, y, gamma, solver, need_grad=False, warm_start=warm).loss

        def floor_event(_t, vec):
            if "vec" in last and np.array_equal(vec, last["vec"]):
                loss = last["loss"]
            else:
                set_theta(vec)
                loss = _evaluate(theta, X, y, gamma, solver, need_grad=False, warm_start=warm).loss
            return loss - level

        floor_event.terminal = True
        floor_event.direction = -1
        events = [floor_event]
    sol = solve_ivp(rhs, (0.0, float(t_max)), y0, method=ode_method, t_eval=t_eval, rtol=rtol, atol=atol,
                    events=events)
    losses = []
    for j in range(sol.y.shape[1]):
        set_theta(sol.y[:, j])
        losses.append(_evaluate(theta, X, y, gamma, solver, need_grad=False, warm_start=warm).loss)
    out = pd.DataFrame({"t": sol.t, "loss": losses})
    if events and sol.status == 1:
        t_end = float(sol.t_events[0][0])
    else:
        t_end = float(t_max) if sol.status == 0 else (float(sol.t[-1]) if len(sol.t) else 0.0)
    out.attrs.update(nfev=int(sol.nfev), status=int(sol.status), message=str(sol.message), t_end=t_end)
    return out
