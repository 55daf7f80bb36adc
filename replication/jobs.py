"""The jobs of the workflow's rules that run the engine: each function reads its inputs,
computes, and returns what the rule writes (``workflow/scripts/*.py`` are the thin adapters
that call them).  The table-side jobs live with what they compute:
:func:`replication.aggregate.aggregate`, :func:`replication.claims.claims_job`,
:func:`replication.cost.benchmarks_table`, :func:`replication.plotting.plot_file`.

A GD run that stops early (non-converging solve, ρ ≥ max_rho, non-finite loss) keeps its
good steps and gains one *failure row* (``failure=True``) at the failing step: NaN losses,
the exact ρ(A) of the failing parameters and the iterations/residual of a diagnostic forward
solve, so the failure, its ρ and its residual are in the CSV even when no step succeeded.
"""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pandas as pd

import implicit
from implicit.linalg import eigh_extremes
from implicit.ntk import feature_grams
from implicit.runtime import config_hash
from implicit.solver import gamma_rho
from implicit.training import AUTO_LR_FRACTION

from .datasets import load_dataset, make_dataset
from .arms import is_linear_arm
from .runs import concentration_widths
from .integrity import verify


def solver_settings(run: dict, **changes) -> implicit.SolverSettings:
    """The :class:`implicit.SolverSettings` of a run-table row (its ``tol``, ``max_iter``, ``method``)."""
    return implicit.SolverSettings(tol=run["tol"], max_iter=run["max_iter"], method=run["method"], **changes)


# -- one GD run ---------------------------------------------------------------------------
#: parameter columns, in front of implicit.TRACE_COLUMNS in every run CSV.
RUN_COLUMNS = (
    "experiment", "dataset", "run_id", "N", "n_test", "d", "m", "gamma", "seed", "lr", "lr_config",
    "lr_fraction", "lambda0", "train_baseline", "test_baseline", "steps", "trainable", "record_every", "max_rho",
    "dtype", "status", "reason", "failure",
)


#: run-row fields copied into the run CSV after :data:`RUN_COLUMNS` when a row has them
#: (``invariants``: the width family, its constant c, the loss ratio at which a run stops)
EXTRA_RUN_COLUMNS = ("family", "ratio", "stop_below")


def step_size(run: dict, params, ds):
    """``run["lr"]``, or for "auto" the number f·2/λ_max(H(0)) (implicit.auto_lr, f =
    ``lr_fraction``) when the engine's own "auto" would differ: f other than ½, a float32 run
    (η from the float64 θ(0), so that both precisions take the same step), or a row with
    ``lr_width`` (η of the network init_params(d, lr_width, lr_seed), one η for every width).
    Returns "auto" if that solve fails, so that train() meets the same failure and records it."""
    f = run.get("lr_fraction")
    width = run.get("lr_width")
    f64 = run.get("dtype", "float64") == "float64"
    if run["lr"] != "auto" or f is None or (f == AUTO_LR_FRACTION and f64 and width is None):
        return run["lr"]
    if width is not None:
        params = implicit.init_params(ds.d, width, run["lr_seed"])
    elif not f64:
        params = implicit.init_params(ds.d, run["m"], run["seed"])
    solver = implicit.SolverSettings(tol=min(run["tol"], 1e-10), max_iter=run["max_iter"], method=run["method"])
    try:
        return implicit.auto_lr(params, ds.X_train, ds.y_train, run["gamma"], trainable=tuple(run["trainable"].split("+")),
                                fraction=f, solver=solver)
    except implicit.NotConverged:
        return "auto"


#: a training job logs a progress line at every 1/PROGRESS_PARTS of its steps (10%, 20%, …, 100%)
PROGRESS_PARTS = 10


def progress_logger(log, label: str, later_runs: int = 0, parts: int = PROGRESS_PARTS):
    """A ``progress`` callback for :func:`implicit.train` that logs one line to ``log`` at the
    first step reaching each 1/``parts`` of the steps (every step when there are fewer steps):
    step/steps, loss, ρ, seconds per step and the estimated time left of this run and of the job
    (``later_runs`` more runs of the same length).  Seconds per step are measured from step 0
    on, so the set-up (step size, Numba compilation, the first solve) does not inflate them."""
    start = {}

    def progress(row):
        k, steps = row["step"], row["steps"]
        if k == 0:
            start["seconds"] = row["seconds"]
        if k == 0 or k * parts // steps == (k - 1) * parts // steps:
            return
        per_step = (row["seconds"] - start.get("seconds", 0.0)) / k
        left = (steps - k) * per_step
        job_left = f", job ~{_duration(left + later_runs * steps * per_step)} left ({later_runs} more runs)" if later_runs else ""
        log.info("%s: step %d/%d (%.0f%%), loss %.4g, ρ %.4f, %.3g s/step, ~%s left%s",
                 label, k, steps, 100 * k / steps, row["train_loss"], row["rho"], per_step, _duration(left), job_left)

    return progress


def _duration(seconds: float) -> str:
    """``seconds`` as "0.52 s", "42 s", "3.5 min" or "2.1 h"."""
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


#: columns a run with a step budget (``linear-width``) adds to its table (:func:`step_budget`);
#: ``steps_exact`` and ``exact_floor`` are NaN for an arm that is not linear (:func:`is_linear_arm`)
BUDGET_COLUMNS = ("lambda_min_H0", "lambda_max_H0", "budget", "capped", "steps_exact", "exact_floor")
#: the trace column a ``linear-width`` run adds after the engine's trace: the closed-form loss of
#: GD's exact trajectory at each recorded step (:func:`closed_form_loss`; NaN for other arms)
EXACT_TRACE_COLUMN = "exact_train_loss"
#: the largest step count :func:`steps_exact` searches: beyond it a run counts as never reaching
#: the target.  With η = f·2/λ_max and modes down to singular_tol·λ_max = 1e-13·λ_max, the
#: slowest decaying mode needs about ln(1/target)/(4f·1e-13) ≈ 3.5e13 steps (f = ½, target 1e-3):
#: below this bound, and an exact integer in float64 (< 2^53)
MAX_EXACT_STEPS = 1e15


def linear_modes(H: np.ndarray, r0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The eigenvalues λᵢ of the symmetric H = QΛQᵀ and the components c = Qᵀr(0) of the
    initial residual r(0) = ŷ(0) − y in its eigenbasis (``numpy.linalg.eigh``)."""
    lam, Q = np.linalg.eigh(np.asarray(H, dtype=np.float64))
    return lam, Q.T @ np.asarray(r0, dtype=np.float64)


def _log_factor(lam: np.ndarray, lr: float) -> np.ndarray:
    """ln|1 − ηλᵢ| per mode: log1p(−ηλ) where ηλ < 1 (accurate for the slow modes, ηλ ≪ 1),
    ln|1 − ηλ| above, −∞ at ηλ = 1 exactly."""
    x = lr * np.asarray(lam, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x < 1, np.log1p(-np.minimum(x, 1.0)), np.log(np.abs(1.0 - x)))


def closed_form_loss(lam, c, lr: float, steps) -> np.ndarray:
    """The loss of GD on the linear model r(k+1) = (I − ηH)r(k) at the steps ``steps``.

    With H = QΛQᵀ and c = Qᵀr(0) (:func:`linear_modes`), r(k) = Q(I − ηΛ)ᵏc, so

        L(k) = ½‖r(k)‖² = ½ Σᵢ cᵢ² (1 − ηλᵢ)^{2k},

    evaluated as exp(2k·ln|1 − ηλᵢ|) (no underflow to NaN for large k; L(0) = ½‖c‖² exactly).

    Parameters
    ----------
    lam, c : ndarray, shape (N,)
        Eigenvalues of H and the residual's components.
    lr : float
        The step η.
    steps : array_like of int
        Steps k ≥ 0.

    Returns
    -------
    ndarray
        L(k) for each k of ``steps`` (same shape).
    """
    k = np.asarray(steps, dtype=np.float64)
    logq = _log_factor(lam, lr)
    with np.errstate(invalid="ignore", over="ignore"):
        expo = np.where(k[..., None] == 0, 0.0, 2.0 * k[..., None] * logq)
    return 0.5 * (np.exp(expo) * np.asarray(c, dtype=np.float64) ** 2).sum(axis=-1)


def steps_exact(lam, c, lr: float, target: float, singular_tol: float) -> tuple[float, float]:
    """The smallest k ≥ 0 with L(k)/L(0) ≤ ``target`` on GD's exact trajectory (:func:`closed_form_loss`).

    A mode *decays* when λᵢ > singular_tol·λ_max (not zero to the eigensolver's resolution) and
    ηλᵢ < 2 (|1 − ηλᵢ| < 1); the others are treated as not decaying: they keep their share of
    L(0), the ``floor`` F = Σ_{not decaying} cᵢ² / Σ cᵢ².  Then L(k)/L(0) = F + D(k) with
    D(k) = Σ_{decaying} cᵢ² (1 − ηλᵢ)^{2k} / Σ cᵢ², strictly decreasing in k, and the answer is
    the smallest integer k with D(k) ≤ target − F: found by bisection on [0, MAX_EXACT_STEPS]
    in log space (ln D(k) = logsumexp(ln cᵢ² + 2k·ln|1 − ηλᵢ|), so that (1 − ηλ)^{2k} never
    underflows).  Infinite when F ≥ target (the components GD cannot remove hold at least the
    target's share of L(0): a rank-deficient H, for the u,v arm "cannot interpolate these
    labels") or when even MAX_EXACT_STEPS steps do not suffice; 0 when L(0) = 0 or target ≥ 1.

    Parameters
    ----------
    lam, c : ndarray, shape (N,)
        Eigenvalues of H(0) and the initial residual's components (:func:`linear_modes`).
    lr : float
        The step η.
    target : float
        The relative loss to reach.
    singular_tol : float
        Eigenvalues λᵢ ≤ singular_tol·λ_max count as zero.

    Returns
    -------
    steps : float
        The smallest such k (a whole number as a float), or inf.
    floor : float
        F, the share of L(0) in the modes that do not decay: the limit of L(k)/L(0).
    """
    from scipy.special import logsumexp

    lam = np.asarray(lam, dtype=np.float64)
    c2 = np.asarray(c, dtype=np.float64) ** 2
    total = float(c2.sum())
    if total == 0.0:
        return 0.0, 0.0
    decays = (lam > singular_tol * lam.max()) & (lr * lam < 2.0)
    floor = float(c2[~decays].sum() / total)
    if target >= 1.0:
        return 0.0, floor
    room = target - floor
    if room <= 0:
        return math.inf, floor
    with np.errstate(divide="ignore"):  # a component cᵢ = 0 contributes ln 0 = −∞
        logc2 = np.log(c2[decays] / total)
    logq = _log_factor(lam[decays], lr)

    def reached(k: float) -> bool:
        # k = 0 apart: a mode with ηλ = 1 exactly (ln 0 = −∞) is whole at k = 0, gone after
        expo = logc2 if k == 0 else logc2 + 2.0 * k * logq
        return bool(logsumexp(expo) <= math.log(room)) if logc2.size else True

    if reached(0.0):
        return 0.0, floor
    if not reached(MAX_EXACT_STEPS):
        return math.inf, floor
    lo, hi = 0.0, MAX_EXACT_STEPS  # not reached at lo, reached at hi
    while hi - lo > 1:
        mid = math.floor((lo + hi) / 2)
        lo, hi = (lo, mid) if reached(mid) else (mid, hi)
    return float(hi), floor


def step_budget(run: dict, params, ds) -> dict:
    """The step size and step budget of one ``linear-width`` run, from H(0) over its trained blocks.

    η = lr_fraction·2/λ_max(H(0)); the linearised dynamics r(k+1) = (I − ηH(0))r(k) bring
    L(k)/L(0) = ‖r(k)‖²/‖r(0)‖² below ``target`` by at most
    K = ⌈budget_factor·ln(1/target) / (2ηλ_min(H(0)))⌉ steps (the slowest mode decays like
    e^{−2ηλ_min k} in L), so a run that misses the target within K steps is not cut off by a
    budget too short for its conditioning.  K is capped at ``max_steps`` (``capped``; always when
    λ_min(H(0)) ≤ 0 to rounding, i.e. H(0) singular); the run stops at the target
    (``stop_below`` = target).

    For a linear arm (:func:`~replication.arms.is_linear_arm`: u and/or v trained, A and W
    fixed) those dynamics are GD itself, not an approximation: Z and Φ never change, so
    r(k+1) = (I − ηH(0))r(k) holds exactly.  Then also ``steps_exact`` and ``exact_floor``
    (:func:`steps_exact` with the run's ``target`` and ``singular_tol``, from the
    eigendecomposition of H(0) and r(0) = ŷ(0) − y, :func:`implicit.predict`): the step at which
    GD's exact trajectory reaches the target, with no cap — what decides the run's outcome
    (:func:`replication.fits.run_outcomes`) — and ``modes`` = (λ, c) for the trace's
    closed-form loss (:func:`closed_form_loss`; not a column).  A capped budget would measure
    κ(H(0)) (10⁶–10¹⁰ just above m = N/2, since Z ≈ Φ + O(γ)) rather than whether the labels
    can be fitted at all.  Other arms get NaN there.

    Returns ``lr``, ``budget``, ``capped``, ``lambda_min_H0``, ``lambda_max_H0``,
    ``steps_exact``, ``exact_floor`` and ``modes`` (None unless linear); on a failing solve
    ``lr`` = "auto", the cap and NaN, so that train() meets the same failure and records it."""
    trainable = tuple(run["trainable"].split("+"))
    solver = solver_settings(run, mixed=False)
    try:
        H = implicit.gram(params, ds.X_train, run["gamma"], trainable=trainable, solver=solver)
        r0 = implicit.predict(params, ds.X_train, run["gamma"], solver) - ds.y_train if is_linear_arm(trainable) else None
    except implicit.NotConverged:
        return {"lr": "auto", "budget": int(run["max_steps"]), "capped": True, "lambda_min_H0": math.nan,
                "lambda_max_H0": math.nan, "steps_exact": math.nan, "exact_floor": math.nan, "modes": None}
    lo, hi = eigh_extremes(H)
    lr = float(run["lr_fraction"]) * 2.0 / hi
    rate = 2.0 * lr * lo
    need = run["budget_factor"] * math.log(1.0 / run["target"]) / rate if rate > 0 else math.inf
    K = int(min(run["max_steps"], math.ceil(need))) if math.isfinite(need) else int(run["max_steps"])
    exact, floor, modes = math.nan, math.nan, None
    if r0 is not None:
        modes = linear_modes(H, r0)
        exact, floor = steps_exact(*modes, lr, float(run["target"]), float(run["singular_tol"]))
    return {"lr": lr, "budget": K, "capped": bool(need > run["max_steps"]), "lambda_min_H0": float(lo),
            "lambda_max_H0": float(hi), "steps_exact": exact, "exact_floor": floor, "modes": modes}


def run_gd(run: dict, ds, progress=None) -> tuple[pd.DataFrame, dict]:
    """Train θ(0) = init_params(d, m, seed) (in the row's ``dtype``, float64 if absent) on ``ds``
    with the row ``run``; return (table, summary).

    A ``linear-width`` row (it has ``max_steps``) gets its η and step budget from
    :func:`step_budget` and stops at its target; its table adds :data:`BUDGET_COLUMNS` and
    ``exact_train_loss``, the closed-form loss L(k) of GD's exact trajectory at each recorded
    step for a linear arm (NaN otherwise): the engine's ``train_loss`` must equal it to rounding
    (claim ``uv-closed-form``).  ``progress`` is passed to :func:`implicit.train` (see
    :func:`progress_logger`)."""
    params = implicit.init_params(ds.d, run["m"], run["seed"], dtype=np.dtype(run.get("dtype", "float64")))
    t0 = time.perf_counter()
    budget, stop_below = None, run.get("stop_below")
    if run.get("max_steps") is not None:  # linear-width: a step budget from H(0), stop at the target
        budget = step_budget(run, params, ds)
        lr, stop_below = budget["lr"], run["target"]
        run = run | {"steps": budget["budget"], "record_every": max(1, math.ceil(budget["budget"] / run["records"]))}
    else:
        lr = step_size(run, params, ds)
    lr_seconds = time.perf_counter() - t0
    theta, trace = implicit.train(
        params, ds.X_train, ds.y_train, run["gamma"], lr=lr, steps=run["steps"],
        solver=solver_settings(run),
        trainable=tuple(run["trainable"].split("+")), X_test=ds.X_test if ds.n_test else None,
        y_test=ds.y_test if ds.n_test else None, record_every=run["record_every"],
        track_gram=run["track_gram"], track_invariants=run.get("track_invariants", False),
        stop_below=stop_below, max_rho=run["max_rho"], progress=progress,
    )
    wall = time.perf_counter() - t0
    status, reason, lr, dtype = (trace.attrs[k] for k in ("status", "reason", "lr", "dtype"))
    if status != "completed":
        fail = _failure_row(theta, ds, run, trace, reason)
        trace = fail if trace.empty else pd.concat([trace, fail], ignore_index=True)
    table = _with_run_columns(trace, run, ds, lr, status, reason)
    if budget is not None:
        exact = np.full(len(table), np.nan)
        if budget["modes"] is not None:  # linear arm: GD's exact loss at the recorded steps (NaN on a failure row)
            good = ~table["failure"].to_numpy(dtype=bool)
            exact[good] = closed_form_loss(*budget["modes"], budget["lr"], table["step"].to_numpy()[good])
        table[EXACT_TRACE_COLUMN] = exact
        for k in BUDGET_COLUMNS:
            table[k] = budget[k]
    summary = {"status": status, "reason": reason, "lr": _float(lr), "dtype": dtype,
               "wall_seconds": wall, "lr_seconds": lr_seconds, "rows": len(table)}
    return table, summary


def _failure_row(theta, ds, run, trace, reason) -> pd.DataFrame:
    """The failing step with NaN losses, exact ρ and a diagnostic (unconverged) forward solve."""
    match = re.search(r"at step (\d+)", reason or "")
    step = int(match.group(1)) if match else (int(trace["step"].iloc[-1]) + 1 if len(trace) else 0)
    eq = implicit.equilibrium(theta, ds.X_train, run["gamma"], solver_settings(run, mixed=False), return_unconverged=True)
    row = {c: np.nan for c in trace.columns}
    row.update(step=step, rho=gamma_rho(theta, run["gamma"]), fwd_iter=eq.n_iter, fwd_residual=eq.residual,
               adj_iter=0, rel_change_A=np.nan, rel_change_W=np.nan)
    return pd.DataFrame([row], columns=trace.columns)


def _with_run_columns(trace, run, ds, lr, status, reason) -> pd.DataFrame:
    n = len(trace)
    values = {
        "experiment": run["experiment"], "dataset": run["dataset"], "run_id": run["run_id"],
        "N": ds.n_train, "n_test": ds.n_test, "d": ds.d, "m": run["m"], "gamma": run["gamma"],
        "seed": run["seed"], "lr": _float(lr), "lr_config": str(run["lr"]),
        "lr_fraction": _float(run.get("lr_fraction")), "lambda0": implicit.lambda0(ds.X_train),
        # the loss of the zero predictor ŷ = 0 on each split, ½‖y‖²: what a net must beat
        "train_baseline": 0.5 * float(ds.y_train @ ds.y_train),
        "test_baseline": 0.5 * float(ds.y_test @ ds.y_test) if ds.n_test else np.nan, "steps": run["steps"],
        "trainable": run["trainable"], "record_every": run["record_every"], "max_rho": run["max_rho"],
        "dtype": run.get("dtype", "float64"), "status": status, "reason": reason or "",
    }
    head = pd.DataFrame({k: [v] * n for k, v in values.items()})
    head["failure"] = np.arange(n) == n - 1 if status != "completed" else False
    # wall time varies between reruns; it goes to the JSON sidecar so that the same config
    # gives a byte-identical CSV
    trace = trace.drop(columns="seconds").reset_index(drop=True)
    trace["step"] = trace["step"].astype(int)
    extra = [k for k in EXTRA_RUN_COLUMNS if k in run]
    for k in extra:
        head[k] = run[k]
    return pd.concat([head, trace], axis=1)[list(RUN_COLUMNS) + extra + list(trace.columns)]


def _float(x) -> float:
    """The step size actually used (NaN when the run failed before choosing it)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _seed_runs(job: dict):
    """(seed, run_id, per-seed run row) of a job row that batches seeds (:func:`replication.runs.batch_seeds`)."""
    ms = job.get("ms") or [job.get("m")] * len(job["seeds"])  # jobs that batch widths too (linear-width)
    for seed, run_id, m in zip(job["seeds"], job["run_ids"], ms):
        yield seed, run_id, {k: v for k, v in job.items() if k not in ("seeds", "run_ids", "ms")} | {
            "seed": seed, "run_id": run_id, "m": m}


def _provenance(job: dict, ds, runs: list[dict], engine_hash: str, **extra) -> dict:
    return implicit.provenance(run=job, dataset=ds.info, seeds=job["seeds"], runs=runs, engine_hash=engine_hash,
                               wall_seconds=sum(r["wall_seconds"] for r in runs), **extra)


# -- rule data ----------------------------------------------------------------------------
def make_data(entry: dict):
    """Rule ``data``: the data set of one configuration entry (``kind`` and its parameters)."""
    entry = dict(entry)
    return make_dataset(entry.pop("kind"), **entry)


# -- rule train -----------------------------------------------------------------------------
def train(job: dict, data_path, *, dataset_entry: dict, engine_hash: str, threads: int, log) -> tuple[pd.DataFrame, dict]:
    """Rule ``train``: every seed of one job of the run table, one after the other.

    Returns the tidy CSV table (every seed's trace, ``run_id`` per seed) and the JSON
    provenance (a ``runs`` entry per seed).
    """
    used = implicit.set_threads(threads)
    job = dict(job)
    ds = load_dataset(data_path)
    tables, runs = [], []
    for i, (seed, run_id, run) in enumerate(_seed_runs(job)):
        label = f"{run['experiment']}/{run_id}"
        log.info("%s: start (m = %d, N = %d, γ = %g, %d steps, seed %d of the job's %d)",
                 label, run["m"], ds.n_train, run["gamma"], run["steps"], i + 1, len(job["seeds"]))
        table, summary = run_gd(run, ds, progress=progress_logger(log, label, later_runs=len(job["seeds"]) - i - 1))
        log.info("%s/%s: %s", run["experiment"], run_id, summary)
        tables.append(table)
        runs.append({"seed": seed, "run_id": run_id, **summary})
    meta = _provenance(
        job, ds, runs, engine_hash, threads_requested=threads, threads_used=used,
        config_hash=config_hash({"run": job, "dataset": dataset_entry}),
        status="completed" if all(r["status"] == "completed" for r in runs) else "stopped",
    )
    return pd.concat(tables, ignore_index=True), meta


# -- rule gradient_flow -----------------------------------------------------------------------
def gradient_flow(job: dict, data_path, *, engine_hash: str, threads: int, log) -> tuple[pd.DataFrame, dict]:
    """Rule ``gradient_flow``: the gradient-flow ODE dθ/dt = −∇L(θ) of ``flow``, per seed.

    From the same θ(0) = init_params(d, m, seed) as the GD runs: η_max = f_max·2/λ_max(H(0))
    (:func:`implicit.auto_lr`, as the GD run with the largest step computes it), then
    :func:`implicit.gradient_flow` (scipy solve_ivp, RK45, tolerances gf_rtol/gf_atol on θ) to
    t_max = steps·η_max, reported at t = k·η_max for the recorded steps k of that GD run — the
    times every GD run of the experiment records.  Rows have the GD run columns (method "GF",
    ``t``, ``step`` = k, ``lr`` empty); a seed whose solve fails is "stopped", with the times it
    reached and a failure row.
    """
    implicit.set_threads(threads)
    job = dict(job)
    if job.get("role"):
        return gradient_flow_long(job, data_path, engine_hash=engine_hash, log=log)
    ds = load_dataset(data_path)
    trainable = tuple(job["trainable"].split("+"))
    solver = solver_settings(job, mixed=False)
    lam0 = implicit.lambda0(ds.X_train)
    steps = np.unique(np.r_[np.arange(0, job["steps"] + 1, job["record_every"]), job["steps"]])
    tables, runs = [], []
    for seed, run_id, _ in _seed_runs(job):
        t0 = time.perf_counter()
        params = implicit.init_params(ds.d, job["m"], seed)
        status, reason, info = "completed", "", {}
        try:
            eta = implicit.auto_lr(params, ds.X_train, ds.y_train, job["gamma"], trainable=trainable,
                                   fraction=job["lr_fraction"], solver=solver)
            times = steps * eta
            out = implicit.gradient_flow(params, ds.X_train, ds.y_train, job["gamma"], float(times[-1]), t_eval=times,
                                         rtol=job["rtol"], atol=job["atol"], trainable=trainable, solver=solver)
            info = dict(out.attrs)
            if out.attrs.get("status", 0) != 0 or len(out) < len(times):
                status, reason = "stopped", f"solve_ivp: {out.attrs.get('message')} (reached t = {out['t'].max():.4g} of {times[-1]:.4g})"
            trace = pd.DataFrame({"method": "GF", "t": out["t"], "step": steps[: len(out)], "train_loss": out["loss"], "failure": False})
        except implicit.NotConverged as exc:
            eta, status, reason = np.nan, "stopped", f"{exc}"
            trace = pd.DataFrame({"method": ["GF"], "t": [np.nan], "step": [0], "train_loss": [np.nan], "failure": [True]})
        if status != "completed" and not trace["failure"].any():
            step = int(steps[len(trace)]) if len(trace) < len(steps) else int(steps[-1])
            trace = pd.concat([trace, pd.DataFrame({"method": ["GF"], "t": [np.nan], "step": [step],
                                                    "train_loss": [np.nan], "failure": [True]})], ignore_index=True)
        head = {"experiment": "flow", "dataset": job["dataset"], "run_id": run_id, "N": ds.n_train,
                "n_test": ds.n_test, "d": ds.d, "m": job["m"], "gamma": job["gamma"], "seed": seed, "lr": np.nan,
                "lr_config": "gradient flow", "lr_fraction": np.nan, "lambda0": lam0, "steps": job["steps"],
                "trainable": job["trainable"], "record_every": job["record_every"], "max_rho": np.nan,
                "status": status, "reason": reason}
        tables.append(pd.DataFrame({k: [v] * len(trace) for k, v in head.items()}).join(trace))
        runs.append({"seed": seed, "run_id": run_id, "status": status, "reason": reason, "eta_max": float(eta),
                     "nfev": info.get("nfev"), "message": info.get("message"), "wall_seconds": time.perf_counter() - t0})
        log.info("%s: %s", run_id, runs[-1])
    return pd.concat(tables, ignore_index=True), _provenance(job, ds, runs, engine_hash, config_hash=config_hash({"run": job}))


def gradient_flow_long(job: dict, data_path, *, engine_hash: str, log) -> tuple[pd.DataFrame, dict]:
    """The long gradient-flow solves of ``flow`` (rows of :func:`replication.runs.gf_long_rows`).

    Per seed: θ(0) = init_params(d, m, seed); λ0 = λ_min(G∞) of the training inputs and
    λ_min(H(0)) of the full Gram matrix H(0) = J(0)J(0)ᵀ (N×N, the trained blocks); then
    :func:`implicit.gradient_flow` from t = 0 to t_max = horizon/λ0 (λ0·t_max = horizon, the
    unit of the bound e^{−λ0 t}), stopped early once L(t)/L(0) ≤ floor (below it the loss is
    the integrator's error; L is non-increasing along the flow, so it stays below after the
    stop), reported at ``steps + 1`` evenly spaced times.  Rows: method "GF-long", ``role``
    ("prediction" or "control"), ``t``, ``train_loss``, ``lambda_min_H0``, ``horizon``,
    ``floor``, ``window``, ``t_end`` (where the solve stopped) and ``stop`` ("floor",
    "horizon" or "failed").
    """
    ds = load_dataset(data_path)
    trainable = tuple(job["trainable"].split("+"))
    solver = solver_settings(job, mixed=False)
    lam0 = implicit.lambda0(ds.X_train)
    t_max = job["horizon"] / lam0
    times = np.linspace(0.0, t_max, job["steps"] + 1)
    tables, runs = [], []
    for seed, run_id, _ in _seed_runs(job):
        t0 = time.perf_counter()
        params = implicit.init_params(ds.d, job["m"], seed)
        status, reason, info, lam_h = "completed", "", {}, np.nan
        try:
            H = implicit.gram(params, ds.X_train, job["gamma"], trainable=trainable, solver=solver)
            lam_h = float(np.linalg.eigvalsh(H)[0])
            out = implicit.gradient_flow(params, ds.X_train, ds.y_train, job["gamma"], t_max, t_eval=times,
                                         rtol=job["rtol"], atol=job["atol"], trainable=trainable, solver=solver,
                                         stop_below=job["floor"])
            info = dict(out.attrs)
            stop = {0: "horizon", 1: "floor"}.get(info["status"], "failed")
            if stop == "failed":
                status, reason = "stopped", f"solve_ivp: {info.get('message')} (reached t = {info['t_end']:.4g} of {t_max:.4g})"
            trace = pd.DataFrame({"t": out["t"], "train_loss": out["loss"], "failure": False})
        except implicit.NotConverged as exc:
            status, reason, stop = "stopped", f"{exc}", "failed"
            info = {"t_end": np.nan}
            trace = pd.DataFrame({"t": [np.nan], "train_loss": [np.nan], "failure": [True]})
        trace.insert(0, "method", "GF-long")
        trace["step"] = np.arange(len(trace))
        head = {"experiment": "flow", "dataset": job["dataset"], "run_id": run_id, "N": ds.n_train,
                "n_test": ds.n_test, "d": ds.d, "m": job["m"], "gamma": job["gamma"], "seed": seed, "lr": np.nan,
                "lr_config": "gradient flow", "lr_fraction": np.nan, "lambda0": lam0, "steps": job["steps"],
                "trainable": job["trainable"], "record_every": 1, "max_rho": np.nan,
                "status": status, "reason": reason, "role": job["role"], "lambda_min_H0": lam_h,
                "horizon": job["horizon"], "floor": job["floor"], "window": job["window"],
                "t_end": info.get("t_end", np.nan), "stop": stop}
        tables.append(pd.DataFrame({k: [v] * len(trace) for k, v in head.items()}).join(trace))
        runs.append({"seed": seed, "run_id": run_id, "status": status, "reason": reason, "stop": stop,
                     "lambda_min_H0": lam_h, "t_end": info.get("t_end"), "nfev": info.get("nfev"),
                     "message": info.get("message"), "wall_seconds": time.perf_counter() - t0})
        log.info("%s: %s", run_id, runs[-1])
    return pd.concat(tables, ignore_index=True), _provenance(job, ds, runs, engine_hash, config_hash=config_hash({"run": job}))


# -- rules kernel_limit and kernel_errors --------------------------------------------------------
def kernel_limit(data_path, gamma: float, *, threads: int, log) -> dict:
    """Rule ``kernel_limit``: G∞ (arc-cosine kernel, closed form) and K∞ (equilibrium kernel,
    :func:`implicit.equilibrium_kernel`) on the training inputs of one data set at one γ, as
    the arrays of the rule's npz file."""
    implicit.set_threads(threads)
    ds = load_dataset(data_path)
    t0 = time.perf_counter()
    G = implicit.arccos_kernel(ds.X_train)
    K = implicit.equilibrium_kernel(ds.X_train, gamma)
    seconds = time.perf_counter() - t0
    log.info("gamma=%g: N=%d, K_inf diagonal %.6f, %.1f s", gamma, ds.n_train, K[0, 0], seconds)
    return {"G_inf": G, "K_inf": K, "gamma": gamma, "lambda0": float(np.linalg.eigvalsh(G)[0]), "seconds": seconds}


#: columns of a ``kernel_errors`` job's CSV (and of results/kernel.csv)
KERNEL_COLUMNS = ("experiment", "dataset", "run_id", "N", "d", "m", "gamma", "seed", "quantity", "norm", "error",
                  "reference", "relative_error", "fwd_iter", "fwd_residual", "status", "reason")


def kernel_errors(job: dict, data_path, limit_path, *, engine_hash: str, threads: int, log) -> tuple[pd.DataFrame, dict]:
    """Rule ``kernel_errors``: finite-width Gram matrices at initialisation against their limits.

    For each seed of the job: θ(0) = init_params(d, m, seed), the equilibrium of the training
    inputs, then ΦΦᵀ (→ G∞) and ZZᵀ (→ K∞), both N×N, against G∞ and K∞ from ``limit_path``
    in two norms: ``spectral`` (largest |eigenvalue| of the difference) and ``frobenius/N``
    (‖·‖_F / N, the root-mean-square entry error).  One row per (seed, quantity, norm); a seed
    whose forward solve fails gets status "stopped" and NaN errors.
    """
    implicit.set_threads(threads)
    job = dict(job)
    ds = load_dataset(data_path)
    with np.load(verify(limit_path)) as z:
        limits = {"PhiPhi-Ginf": z["G_inf"], "ZZ-Kinf": z["K_inf"]}
    N = ds.n_train

    def norms(D):
        return {"spectral": float(np.abs(np.linalg.eigvalsh(D)).max()), "frobenius/N": float(np.linalg.norm(D) / N)}

    rows, runs = [], []
    for seed, run_id, _ in _seed_runs(job):
        t0 = time.perf_counter()
        head = {"experiment": "kernel", "dataset": job["dataset"], "run_id": run_id, "N": N, "d": ds.d,
                "m": job["m"], "gamma": job["gamma"], "seed": seed}
        params = implicit.init_params(ds.d, job["m"], seed)
        try:
            eq = implicit.equilibrium(params, ds.X_train, job["gamma"], solver_settings(job, mixed=False))
            finite = {"PhiPhi-Ginf": eq.Phi @ eq.Phi.T, "ZZ-Kinf": eq.Z @ eq.Z.T}
            status, reason, it, res = "completed", "", eq.n_iter, eq.residual
        except implicit.NotConverged as exc:
            finite, status, reason, it, res = None, "stopped", str(exc), exc.residuals.size, float(exc.residuals[-1])
        for q, limit in limits.items():
            ref = norms(limit)
            err = norms(finite[q] - limit) if finite else {k: np.nan for k in ref}
            for norm in ("spectral", "frobenius/N"):
                rows.append(head | {"quantity": q, "norm": norm, "error": err[norm], "reference": ref[norm],
                                    "relative_error": err[norm] / ref[norm], "fwd_iter": it, "fwd_residual": res,
                                    "status": status, "reason": reason})
        runs.append({"seed": seed, "run_id": run_id, "status": status, "reason": reason, "wall_seconds": time.perf_counter() - t0})
        log.info("%s: %s", run_id, runs[-1])
    return (pd.DataFrame(rows, columns=KERNEL_COLUMNS),
            _provenance(job, ds, runs, engine_hash, config_hash=config_hash({"run": job})))


# -- rule concentration ------------------------------------------------------------------------
#: columns of a ``concentration`` job's CSV (and of results/concentration.csv)
CONCENTRATION_COLUMNS = ("experiment", "run_id", "N", "d", "seed", "lambda0", "m", "lambda_min_ratio",
                         "spectral_ratio", "frobenius_ratio")


def concentration(job: dict, *, engine_hash: str, threads: int, log) -> tuple[pd.DataFrame, dict]:
    """Rule ``concentration``: the feature Gram ΦΦᵀ at initialisation along a growing width.

    N points uniform on the sphere in d dimensions (the data seed); per seed of the job, one
    stream of neurons (the seed and N) grown along :func:`replication.runs.concentration_widths`;
    at each width m the two criteria of docs/ntk.md, "Concentration at initialisation",
    relative to λ0 = λ_min(G∞): ``lambda_min_ratio`` = λ_min(ΦΦᵀ)/λ0 (up to
    lambda_max_ratio·N), ``spectral_ratio`` = ‖ΦΦᵀ − G∞‖₂/λ0 and ``frobenius_ratio`` =
    ‖ΦΦᵀ − G∞‖_F/λ0 (up to spectral_max_ratio·N²; NaN beyond, or for every width when the
    job has no spectral cap).  The widths at which
    each reaches the experiment's level are read from the table by
    :func:`replication.fits.concentration_thresholds`.
    """
    implicit.set_threads(threads)
    job = dict(job)
    N, d = job["N"], job["d"]
    ds = make_dataset("random-labels", n_train=N, n_test=0, d=d, seed=job["data_seed"])
    G = implicit.arccos_kernel(ds.X_train)
    lam0 = float(np.linalg.eigvalsh(G)[0])
    lam_cap = job["lambda_max_ratio"] * N
    spec_cap = job["spectral_max_ratio"] * N * N if job.get("spectral_max_ratio") else 0
    widths = concentration_widths(job)
    rows, runs = [], []
    for seed, run_id, _ in _seed_runs(job):
        t0 = time.perf_counter()
        for m, F in feature_grams(ds.X_train, widths, np.random.SeedSequence([seed, N])):
            lam = float(np.linalg.eigvalsh(F)[0]) / lam0 if m <= lam_cap else np.nan
            spec = frob = np.nan
            if m <= spec_cap:
                F -= G
                spec, frob = float(np.abs(np.linalg.eigvalsh(F)).max()) / lam0, float(np.linalg.norm(F)) / lam0
            rows.append({"experiment": "concentration", "run_id": run_id, "N": N, "d": d, "seed": seed, "lambda0": lam0,
                         "m": m, "lambda_min_ratio": lam, "spectral_ratio": spec, "frobenius_ratio": frob})
        runs.append({"seed": seed, "run_id": run_id, "status": "completed", "wall_seconds": time.perf_counter() - t0})
        log.info("%s: N=%d, d=%d, lambda0=%.4f, %d widths up to %d, %.1f s", run_id, N, d, lam0, len(widths),
                 widths[-1], runs[-1]["wall_seconds"])
    table = pd.DataFrame(rows, columns=CONCENTRATION_COLUMNS)
    return table, _provenance(job, ds, runs, engine_hash, config_hash=config_hash({"run": job}))
