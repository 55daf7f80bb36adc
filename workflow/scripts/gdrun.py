"""One gradient-descent run of the run table → a tidy trace with the run's parameters as columns.

A run that stops early (non-converging solve, ρ ≥ max_rho, non-finite loss) keeps its good
steps and gains one *failure row* (``failure=True``) at the failing step: NaN losses, the exact
ρ(A) of the failing parameters and the iterations/residual of a diagnostic forward solve, so
the failure, its ρ and its residual are in the CSV even when no step succeeded.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd

import implicit
from implicit.solver import gamma_rho

#: parameter columns, in front of implicit.TRACE_COLUMNS in every run CSV.
RUN_COLUMNS = (
    "experiment", "dataset", "run_id", "N", "n_test", "d", "m", "gamma", "seed", "lr", "lr_config",
    "lr_fraction", "lambda0", "steps", "trainable", "record_every", "max_rho", "status", "reason", "failure",
)


def step_size(run: dict, params, ds):
    """``run["lr"]``, or for "auto" with a ``lr_fraction`` other than the engine's ½: the number
    f·2/λ_max(H(0)) (implicit.auto_lr).  Returns "auto" if that solve fails, so that train()
    meets the same failure and records it."""
    f = run.get("lr_fraction")
    if run["lr"] != "auto" or f is None or f == implicit.training.AUTO_LR_FRACTION:
        return run["lr"]
    try:
        return implicit.auto_lr(params, ds.X_train, ds.y_train, run["gamma"], trainable=tuple(run["trainable"].split("+")),
                                fraction=f, tol=run["tol"], max_iter=run["max_iter"], method=run["method"])
    except implicit.NotConverged:
        return "auto"


def run_gd(run: dict, ds) -> tuple[pd.DataFrame, dict]:
    """Train θ(0) = init_params(d, m, seed) on ``ds`` with the row ``run``; return (table, summary)."""
    params = implicit.init_params(ds.d, run["m"], run["seed"])
    t0 = time.perf_counter()
    theta, trace = implicit.train(
        params, ds.X_train, ds.y_train, run["gamma"], lr=step_size(run, params, ds), steps=run["steps"], tol=run["tol"],
        trainable=tuple(run["trainable"].split("+")), X_test=ds.X_test if ds.n_test else None,
        y_test=ds.y_test if ds.n_test else None, record_every=run["record_every"],
        track_gram=run["track_gram"], max_rho=run["max_rho"], max_iter=run["max_iter"], method=run["method"],
    )
    wall = time.perf_counter() - t0
    status, reason, lr, dtype = (trace.attrs[k] for k in ("status", "reason", "lr", "dtype"))
    if status != "completed":
        fail = _failure_row(theta, ds, run, trace, reason)
        trace = fail if trace.empty else pd.concat([trace, fail], ignore_index=True)
    table = _with_run_columns(trace, run, ds, lr, status, reason)
    summary = {"status": status, "reason": reason, "lr": _float(lr), "dtype": dtype,
               "wall_seconds": wall, "rows": len(table)}
    return table, summary


def _failure_row(theta, ds, run, trace, reason) -> pd.DataFrame:
    """The failing step with NaN losses, exact ρ and a diagnostic (unconverged) forward solve."""
    match = re.search(r"at step (\d+)", reason or "")
    step = int(match.group(1)) if match else (int(trace["step"].iloc[-1]) + 1 if len(trace) else 0)
    eq = implicit.equilibrium(theta, ds.X_train, run["gamma"], tol=run["tol"], max_iter=run["max_iter"],
                              method=run["method"], return_unconverged=True)
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
        "lr_fraction": _float(run.get("lr_fraction")), "lambda0": implicit.lambda0(ds.X_train), "steps": run["steps"],
        "trainable": run["trainable"], "record_every": run["record_every"], "max_rho": run["max_rho"],
        "status": status, "reason": reason or "",
    }
    head = pd.DataFrame({k: [v] * n for k, v in values.items()})
    head["failure"] = np.arange(n) == n - 1 if status != "completed" else False
    # wall time varies between reruns; it goes to the JSON sidecar so that the same config
    # gives a byte-identical CSV
    trace = trace.drop(columns="seconds").reset_index(drop=True)
    trace["step"] = trace["step"].astype(int)
    return pd.concat([head, trace], axis=1)[list(RUN_COLUMNS) + list(trace.columns)]


def _float(x) -> float:
    """The step size actually used (NaN when the run failed before choosing it)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")
