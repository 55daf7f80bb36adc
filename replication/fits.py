"""Fits and summaries of the experiments' tables.

Small pure functions on arrays and DataFrames (no I/O, no plotting): the aggregation rule,
the plot functions (:mod:`replication.plotting`) and the claims rule all call these, so a
figure and the claims table always agree.  Column names are those of the aggregated CSVs
(docs/outputs.md).

Conventions
-----------
* A *run* is one ``run_id``: one seed of one parameter setting.  A run whose ``status`` is not
  ``completed`` (it stopped early: failing solve, ρ(A) ≥ max_rho, non-finite loss) never
  enters a fit or a success count as if it were good: its summary values are NaN and it is
  counted separately.  Rows with ``failure = True`` are markers, not measurements.
* Rates are of the loss L = ½Σ(ŷ − y)² per GD step: L(k) ≈ C·e^{−rate·k}.  The theory's GD
  statement ‖ŷ(k) − y‖² ≤ (1 − ηλ0/2)^k ‖ŷ(0) − y‖² is a rate of −ln(1 − ηλ0/2) per step.
* Confidence intervals are t-based (ordinary least squares, n − 2 degrees of freedom).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .arms import is_linear_arm

#: the linear rate is fitted over the last half of the recorded steps (see :func:`linear_rate`)
FIT_FRACTION = 0.5
#: relative losses L(k)/L(0) below this are rounding noise (float64 residuals ~1e-16 · |ŷ|)
#: and are left out of rate fits
LOSS_FLOOR = 1e-20
#: fewest points of any fit
MIN_POINTS = 3


# --------------------------------------------------------------------------------------
# generic fits
# --------------------------------------------------------------------------------------
def linear_fit(x, y, level: float = 0.95) -> dict:
    """Least-squares line y ≈ intercept + slope·x with R² and a t-based CI of the slope.

    Non-finite pairs are dropped.  Returns ``slope, intercept, r2, stderr, low, high, n``;
    NaN where undefined (fewer than 2 points; CI and stderr need 3; R² is 1 for an exact fit
    and NaN when y is constant).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    out = dict(slope=math.nan, intercept=math.nan, r2=math.nan, stderr=math.nan, low=math.nan, high=math.nan, n=n)
    if n < 2 or np.ptp(x) == 0:
        return out
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - ym)).sum() / sxx)
    intercept = float(ym - slope * xm)
    resid = y - (intercept + slope * x)
    sse, sst = float((resid**2).sum()), float(((y - ym) ** 2).sum())
    out.update(slope=slope, intercept=intercept, r2=1.0 - sse / sst if sst > 0 else math.nan)
    if n >= 3:
        from scipy.stats import t

        stderr = math.sqrt(sse / (n - 2) / sxx)
        half = float(t.ppf(0.5 + level / 2, n - 2)) * stderr
        out.update(stderr=stderr, low=slope - half, high=slope + half)
    return out


def loglog_slope(x, y, level: float = 0.95) -> dict:
    """:func:`linear_fit` of log y on log x (power law y ∝ x^slope); non-positive values dropped."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return linear_fit(np.log(x[ok]), np.log(y[ok]), level)


def linear_rate(steps, losses, last: float = FIT_FRACTION, floor: float = LOSS_FLOOR) -> dict:
    """Linear (geometric) convergence rate of one loss curve: L(k) ≈ C·e^{−rate·k}.

    Uses the longest initial stretch of finite losses above ``floor``·L(0) (below it the loss is
    rounding noise), ending at step k_end, and fits ln L against k over its last ``last``
    fraction, steps in [k_end − last·(k_end − k_0), k_end].  Returns ``rate`` (= −slope, per
    step), ``r2`` of that straight line, ``n`` points, ``k_start``, ``k_end``; NaN with fewer
    than :data:`MIN_POINTS` points.
    """
    k, L = np.asarray(steps, dtype=float), np.asarray(losses, dtype=float)
    order = np.argsort(k, kind="stable")
    k, L = k[order], L[order]
    nan = dict(rate=math.nan, r2=math.nan, n=0, k_start=math.nan, k_end=math.nan)
    if k.size == 0 or not (np.isfinite(L[0]) and L[0] > 0):
        return nan
    good = np.isfinite(L) & (L > floor * L[0])
    stop = int(np.argmin(good)) if not good.all() else k.size  # first bad point
    k, L = k[:stop], L[:stop]
    if k.size < MIN_POINTS:
        return nan
    k_start = k[-1] - last * (k[-1] - k[0])
    sel = k >= k_start
    if sel.sum() < MIN_POINTS:
        sel = np.arange(k.size) >= k.size - MIN_POINTS
    fit = linear_fit(k[sel], np.log(L[sel]))
    return dict(rate=-fit["slope"], r2=fit["r2"], n=int(sel.sum()), k_start=float(k[sel][0]), k_end=float(k[-1]))


def local_rate_ratio(steps, losses, floor: float = LOSS_FLOOR) -> float:
    """Linear convergence against a power law: the rate of ln L over the last quarter of the
    curve (above the rounding floor, as :func:`linear_rate`) divided by the rate over the
    quarter before it.  Geometric decay gives 1; a power law L ∝ k^(−a) gives
    ln(4/3)/ln(3/2) ≈ 0.71 over the last half of a run from k = 0 (its local rate falls
    like 1/k); NaN with fewer than :data:`MIN_POINTS` points in either quarter."""
    k, L = np.asarray(steps, dtype=float), np.asarray(losses, dtype=float)
    order = np.argsort(k, kind="stable")
    k, L = k[order], L[order]
    if k.size == 0 or not (np.isfinite(L[0]) and L[0] > 0):
        return math.nan
    good = np.isfinite(L) & (L > floor * L[0])
    stop = int(np.argmin(good)) if not good.all() else k.size
    k, L = k[:stop], L[:stop]
    if k.size < 2 * MIN_POINTS:
        return math.nan
    q3, q4 = k[0] + 0.5 * (k[-1] - k[0]), k[0] + 0.75 * (k[-1] - k[0])
    third, last = (k >= q3) & (k <= q4), k >= q4
    if third.sum() < MIN_POINTS or last.sum() < MIN_POINTS:
        return math.nan
    r3 = -linear_fit(k[third], np.log(L[third]))["slope"]
    r4 = -linear_fit(k[last], np.log(L[last]))["slope"]
    return float(r4 / r3) if r3 > 0 else math.nan


def linearised_rate(lr, lambda_min_H0):
    """The linearised dynamics' rate of ln L per step, −2·ln(1 − η·λ_min(H(0))): with
    r(k+1) ≈ (I − ηH(0))r(k) the slowest mode decays like (1 − ηλ_min)^k, and L = ½‖r‖²
    like its square (NaN where ηλ_min ≥ 1)."""
    x = np.asarray(lr, dtype=float) * np.asarray(lambda_min_H0, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x < 1, -2 * np.log1p(-np.minimum(x, 1)), np.nan)


def theory_rate(lr, lambda0):
    """The theory's GD rate per step, −ln(1 − ηλ0/2) (NaN where ηλ0/2 ≥ 1)."""
    x = np.asarray(lr, dtype=float) * np.asarray(lambda0, dtype=float) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x < 1, -np.log1p(-np.minimum(x, 1)), np.nan)


# --------------------------------------------------------------------------------------
# per-run summaries of GD traces
# --------------------------------------------------------------------------------------
#: columns :func:`run_summaries` adds, one value per run
SUMMARY_COLUMNS = ("loss_ratio", "rate", "rate_r2", "local_rate_ratio")


def good_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The measured rows: failure markers left out."""
    if "failure" not in df:
        return df
    return df[~df["failure"].astype(bool)]


def run_summaries(df: pd.DataFrame, loss: str = "train_loss") -> pd.DataFrame:
    """One row per ``run_id``: ``status``, ``loss_ratio`` = L(final)/L(0) and the fitted
    ``rate``/``rate_r2`` of :func:`linear_rate` and the :func:`local_rate_ratio`; NaN for runs
    that did not complete."""
    rows = []
    for run_id, d in df.groupby("run_id", sort=False):
        status = d["status"].iloc[0] if "status" in d else "completed"
        good = good_rows(d).sort_values("step")
        out = {"run_id": run_id, "loss_ratio": math.nan, "rate": math.nan, "rate_r2": math.nan,
               "local_rate_ratio": math.nan}
        if status == "completed" and len(good) and good[loss].iloc[0] > 0:
            out["loss_ratio"] = float(good[loss].iloc[-1] / good[loss].iloc[0])
            fit = linear_rate(good["step"], good[loss])
            out.update(rate=fit["rate"], rate_r2=fit["r2"], local_rate_ratio=local_rate_ratio(good["step"], good[loss]))
        rows.append(out)
    return pd.DataFrame(rows, columns=["run_id", *SUMMARY_COLUMNS])


def with_run_summaries(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the :data:`SUMMARY_COLUMNS` of its run on every row (replaced if present)."""
    base = df.drop(columns=[c for c in SUMMARY_COLUMNS if c in df], errors="ignore")
    return base.merge(run_summaries(base), on="run_id", how="left", validate="many_to_one")


def rate_predictions(df: pd.DataFrame) -> pd.DataFrame:
    """One row per completed run with Gram columns: λ_min(H(0)), the :func:`linearised_rate`
    and ``rate_ratio`` = fitted rate / linearised rate."""
    runs = per_run(df)
    first = good_rows(df[df["step"] == 0]).drop_duplicates("run_id").set_index("run_id")
    runs = runs[runs["status"] == "completed"].copy()
    runs["lambda_min_H0"] = runs["run_id"].map(first["lambda_min_H"])
    runs["predicted_rate"] = linearised_rate(runs["lr"], runs["lambda_min_H0"])
    runs["rate_ratio"] = runs["rate"] / runs["predicted_rate"]
    return runs


def per_run(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its first row (the run's parameters and summary columns)."""
    return df.drop_duplicates("run_id").reset_index(drop=True)


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The last measured row of every *completed* run."""
    good = good_rows(df)
    good = good[good["status"] == "completed"] if "status" in good else good
    return good.sort_values("step").groupby("run_id", sort=False).tail(1).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# linear-width arms: run outcomes, brackets of the minimal width, interval-aware exponent
# --------------------------------------------------------------------------------------
#: outcomes of one run of a ``linear-width`` arm (:func:`run_outcomes`)
OUTCOMES = ("reached", "failed", "censored")
def run_outcomes(df: pd.DataFrame, target: float, singular_tol: float) -> pd.DataFrame:
    """One row per run of a ``linear-width`` table with its ``outcome``.

    A linear arm (:func:`is_linear_arm`: u and/or v trained, A and W fixed) is decided by GD's
    exact trajectory, not by the engine run: its loss is known in closed form at every step,
    L(k) = ½ Σᵢ cᵢ²(1 − ηλᵢ)^{2k} (H(0) = QΛQᵀ, c = Qᵀr(0)), and ``steps_exact`` (from
    :func:`replication.jobs.steps_exact`, which applies ``singular_tol`` itself) is the first
    step with L(k)/L(0) ≤ target, with no cap:

    * ``reached`` when ``steps_exact`` is finite — GD reaches the target, however many steps
      κ(H(0)) makes that take (10⁶–10¹⁰ just above m = N/2, far beyond any affordable cap);
    * ``failed`` otherwise — the modes of H(0) at zero (λ ≤ singular_tol·λ_max) hold more than
      the target's share of L(0), so no number of steps gets there (rank [Z, Φ] < N: these
      labels cannot be interpolated), or H(0) could not be formed (NaN: the solve failed).

    A linear run is never ``censored``: a cap does not bind a trajectory known for every k.
    (That the engine's recorded losses follow the closed form is checked by the claim
    ``uv-closed-form``.)  The other arms, nonlinear in their parameters, are decided by their
    engine run:

    * ``reached``: completed with L(final)/L(0) ≤ target;
    * ``failed``: evidence that the width is too small — it missed the target although its
      budget K (from H(0), :func:`replication.jobs.step_budget`) was not capped, or H(0) was
      singular (λ_min(H(0)) ≤ singular_tol·λ_max(H(0)): the trained blocks' Jacobian has rank
      < N at initialisation), or it stopped (a failing solve, ρ(A) ≥ 1);
    * ``censored``: missed the target after a capped budget with H(0) non-singular — cut off
      by the cap, not evidence of a too small width.

    Columns: the run's first row (``trainable``, ``N``, ``m``, ``seed``, ``budget``,
    ``capped``, ``steps_exact``, …) plus ``loss_ratio``, ``singular`` and ``outcome``.

    Raises
    ------
    ValueError
        When the table has linear-arm runs but no ``steps_exact`` column (written by the job
        since the exact outcome exists; an older table cannot be classified this way)."""
    runs = per_run(df).copy()
    last = good_rows(df).sort_values("step").groupby("run_id").tail(1).set_index("run_id")
    first = good_rows(df).sort_values("step").groupby("run_id").head(1).set_index("run_id")
    runs["loss_ratio"] = runs["run_id"].map(last["train_loss"] / first["train_loss"])
    runs["singular"] = ~(runs["lambda_min_H0"] > singular_tol * runs["lambda_max_H0"])
    completed = runs["status"] == "completed"
    reached = completed & (runs["loss_ratio"] <= target)
    capped = runs["capped"].astype(bool)
    failed = ~reached & (~completed | ~capped | runs["singular"])
    outcome = np.where(reached, "reached", np.where(failed, "failed", "censored"))
    linear = runs["trainable"].map(is_linear_arm).to_numpy(dtype=bool)
    if linear.any():
        if "steps_exact" not in runs:
            raise ValueError("linear-arm runs without a steps_exact column: rerun them (replication.jobs.step_budget)")
        exact = np.isfinite(runs["steps_exact"].to_numpy(dtype=float))
        outcome = np.where(linear, np.where(exact, "reached", "failed"), outcome)
    runs["outcome"] = outcome
    return runs


def width_brackets(outcomes: pd.DataFrame, min_fraction: float) -> pd.DataFrame:
    """Per (arm ``trainable``, N): the bracket (m_fail, m_pass] of the minimal width.

    A width *passes* when ≥ ``min_fraction`` of its seeds reached the target, *fails* when
    more than 1 − min_fraction of them failed (it could not pass whatever its censored runs
    would have done), and is undetermined otherwise.  ``m_pass`` is the smallest passing
    width with no failing width above it, ``m_fail`` the largest failing width below it.
    ``censored``: "" (resolved), "left" (no failing width below m_pass: the minimum is
    ≤ m_pass, possibly below the grid) or "right" (no such passing width: the minimum is
    > m_fail, NaN if nothing failed).  ``m_mid`` = √(m_fail·m_pass) for resolved brackets;
    ``undetermined`` counts the undetermined widths inside the bracket."""
    rows = []
    for (arm, N), d in outcomes.groupby(["trainable", "N"], sort=True):
        g = d.groupby("m")["outcome"]
        per = pd.DataFrame({"runs": g.size(), "reached": g.apply(lambda s: int((s == "reached").sum())),
                            "failed": g.apply(lambda s: int((s == "failed").sum()))}).sort_index()
        m = per.index.to_numpy(dtype=float)
        passes = (per["reached"] / per["runs"] >= min_fraction).to_numpy()
        fails = (per["failed"] / per["runs"] > 1 - min_fraction).to_numpy()
        ok = [i for i in range(len(m)) if passes[i] and not fails[i + 1:].any()]
        m_pass = m[ok[0]] if ok else math.nan
        below = m[fails & (m < m_pass)] if ok else m[fails]
        m_fail = float(below.max()) if below.size else math.nan
        censored = "right" if not ok else ("left" if math.isnan(m_fail) else "")
        inside = (m > m_fail) & (m < m_pass) if not censored else np.zeros(len(m), bool)
        rows.append({"trainable": arm, "N": int(N), "m_fail": m_fail, "m_pass": m_pass,
                     "m_mid": math.sqrt(m_fail * m_pass) if not censored else math.nan, "censored": censored,
                     "undetermined": int(inside.sum()), "m_min_grid": float(m.min()), "m_max_grid": float(m.max()),
                     "censored_runs": int((d["outcome"] == "censored").sum()), "runs": len(d)})
    return pd.DataFrame(rows, columns=["trainable", "N", "m_fail", "m_pass", "m_mid", "censored", "undetermined",
                                       "m_min_grid", "m_max_grid", "censored_runs", "runs"])


def feasible_slopes(N, m_fail, m_pass) -> tuple[float, float]:
    """The range of exponents p of the lines ln m = a + p ln N that pass through every bracket
    ln m_fail ≤ a + p ln N ≤ ln m_pass (two linear programs in (a, p)); (NaN, NaN) when no
    line does, or with fewer than two distinct N.  With brackets from a grid this is the
    exponent's resolution: no fit can say more than which of these lines holds."""
    from scipy.optimize import linprog

    x = np.log(np.asarray(N, dtype=float))
    lo, hi = np.log(np.asarray(m_fail, dtype=float)), np.log(np.asarray(m_pass, dtype=float))
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan, math.nan
    # a + p x ≤ hi  and  −a − p x ≤ −lo
    A = np.vstack([np.c_[np.ones_like(x), x], -np.c_[np.ones_like(x), x]])
    b = np.r_[hi, -lo]
    out = []
    for sign in (1.0, -1.0):
        res = linprog([0.0, sign], A_ub=A, b_ub=b, bounds=[(None, None), (None, None)], method="highs")
        if res.status != 0:
            return math.nan, math.nan
        out.append(float(res.x[1]))
    return out[0], out[1]


def bracket_exponent(brackets: pd.DataFrame, level: float = 0.95) -> dict:
    """The exponent p of m_min ∝ N^p from the *resolved* brackets of one arm.

    ``slope``: least squares of ln m_mid on ln N (resolved brackets only; censored ones are
    counted, never fitted as exact).  ``low``/``high``: the union of that fit's t-based CI
    (needs three N) and the :func:`feasible_slopes` range (the grid's resolution), so that
    the interval is never narrower than what the brackets can tell.  Also ``n`` (resolved N),
    ``n_left``, ``n_right``, ``feasible_low``/``feasible_high``, ``Ns``."""
    ok = brackets[brackets["censored"] == ""]
    fit = loglog_slope(ok["N"], ok["m_mid"], level) if ok["N"].nunique() >= 2 else {
        "slope": math.nan, "low": math.nan, "high": math.nan, "intercept": math.nan}
    flo, fhi = feasible_slopes(ok["N"], ok["m_fail"], ok["m_pass"])
    lows = [v for v in (fit["low"], flo) if np.isfinite(v)]
    highs = [v for v in (fit["high"], fhi) if np.isfinite(v)]
    return {"slope": fit["slope"], "intercept": fit["intercept"], "low": min(lows) if lows else math.nan,
            "high": max(highs) if highs else math.nan, "feasible_low": flo, "feasible_high": fhi, "n": len(ok),
            "n_left": int((brackets["censored"] == "left").sum()), "n_right": int((brackets["censored"] == "right").sum()),
            "Ns": sorted(int(n) for n in ok["N"].unique())}


# --------------------------------------------------------------------------------------
# gram: envelopes of the loss
# --------------------------------------------------------------------------------------
def envelopes(df: pd.DataFrame) -> pd.DataFrame:
    """Per measured row of completed or stopped runs: the linearised prediction
    L(0)(1 − ηλ_min(H(0)))^{2k} (``envelope_H0``; L = ½‖r‖² decays like the square of the
    slowest mode of r) and the theorem's bound L(0)(1 − ηλ0/2)^k (``envelope_lambda0``), with
    η = ``lr``, L(0) and λ_min(H(0)) (``lambda_min_H``) from the run's step-0 row."""
    d = good_rows(df).copy()
    first = d.sort_values("step").groupby("run_id").first()
    L0 = d["run_id"].map(first["train_loss"])
    lam0_H = d["run_id"].map(first["lambda_min_H"]) if "lambda_min_H" in d else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        d["envelope_H0"] = L0 * np.power(1 - d["lr"] * lam0_H, 2 * d["step"])
        d["envelope_lambda0"] = L0 * np.power(1 - d["lr"] * d["lambda0"] / 2, d["step"])
    return d


# --------------------------------------------------------------------------------------
# flow: GD against gradient flow
# --------------------------------------------------------------------------------------
def gd_time(df: pd.DataFrame) -> pd.Series:
    """Continuous time of each row: ``t`` for gradient-flow rows, step·η for GD rows."""
    t = df["step"] * df["lr"]
    if "t" in df:
        t = df["t"].where(df["t"].notna(), t)
    return t


def gd_gf_deviation(df: pd.DataFrame) -> pd.DataFrame:
    """Per GD run of a ``flow`` table: max over its recorded times t = kη ≤ the GF horizon of
    |ln L_GD(t) − ln L_GF(t)|, with ln L_GF interpolated (linear in t) from the same seed's
    gradient-flow rows.  Columns ``run_id, seed, lr, lr_fraction, status, deviation, points``;
    ``deviation`` is NaN for GD runs that stopped or seeds without a completed GF solve."""
    gd, gf = df[df["method"] == "GD"], df[df["method"] == "GF"]
    rows = []
    for run_id, d in gd.groupby("run_id", sort=False):
        seed, status = d["seed"].iloc[0], d["status"].iloc[0]
        ref = good_rows(gf[gf["seed"] == seed]).sort_values("t")
        ref = ref[np.isfinite(ref["train_loss"]) & (ref["train_loss"] > 0)]
        out = {"run_id": run_id, "seed": seed, "lr": d["lr"].iloc[0], "lr_fraction": d["lr_fraction"].iloc[0],
               "status": status, "deviation": math.nan, "points": 0}
        ok_gf = len(ref) >= 2 and (ref["status"] == "completed").all()
        if status == "completed" and ok_gf:
            g = good_rows(d)
            t = (g["step"] * g["lr"]).to_numpy()
            inside = t <= ref["t"].max() * (1 + 1e-12)
            lgf = np.interp(t[inside], ref["t"], np.log(ref["train_loss"]))
            dev = np.abs(np.log(g["train_loss"].to_numpy()[inside]) - lgf)
            out.update(deviation=float(dev.max()) if dev.size else math.nan, points=int(dev.size))
        rows.append(out)
    return pd.DataFrame(rows, columns=["run_id", "seed", "lr", "lr_fraction", "status", "deviation", "points"])


def gf_bound_ratio(df: pd.DataFrame) -> float:
    """max over gradient-flow rows with t > 0 of L(t) / (L(0)·e^{−λ0 t}) (≤ 1 when the GF bound holds)."""
    gf = good_rows(df[df["method"] == "GF"])
    worst = math.nan
    for _, d in gf.groupby("run_id"):
        d = d.sort_values("t")
        ratio = d["train_loss"] / (d["train_loss"].iloc[0] * np.exp(-d["lambda0"] * d["t"]))
        worst = np.nanmax([worst, ratio[d["t"] > 0].max()])
    return float(worst)


#: columns of :func:`gf_long_summary`
GF_LONG_COLUMNS = ("run_id", "role", "seed", "m", "N", "status", "stop", "lambda0", "lambda_min_H0", "horizon", "floor",
                   "window", "t_end", "covered", "window_kind", "t_start_fit", "t_stop_fit", "points", "rate",
                   "rate_low", "rate_high", "predicted_rate", "rate_ratio", "ratio_low", "ratio_high",
                   "bound_ratio", "slack")


def gf_long_window(t, ratio, floor: float, window: float):
    """Which points of one long gradient-flow solve the decay rate is fitted on.

    ``t`` report times, ``ratio`` = L(t)/L(0), in time order.  The window is the points with
    floor < ratio ≤ window, up to the first point at or below the floor: below ``window`` the
    fast modes of H have decayed (the linearised residual is dominated by the slow ones), and at
    the floor the loss is the integrator's error.  When fewer than :data:`MIN_POINTS` points lie
    there (the loss never fell to ``window``), the window is the last quarter of the points above
    the floor, where the slowest rate the solve shows is.  Returns (boolean mask, "loss window"
    or "last quarter").
    """
    t, ratio = np.asarray(t, dtype=float), np.asarray(ratio, dtype=float)
    above = np.isfinite(ratio) & (ratio > floor)
    end = int(np.argmin(above)) if not above.all() else ratio.size  # first point at or below the floor
    valid = np.zeros(ratio.size, dtype=bool)
    valid[:end] = True
    mask = valid & (ratio <= window)
    if mask.sum() >= MIN_POINTS:
        return mask, "loss window"
    idx = np.flatnonzero(valid)
    mask = np.zeros(ratio.size, dtype=bool)
    if idx.size:
        mask[idx[idx.size - max(MIN_POINTS, idx.size // 4):]] = True
    return mask, "last quarter"


def gf_long_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per long gradient-flow solve (method "GF-long") of a ``flow`` table.

    ``rate`` is −(slope of ln L against t) over :func:`gf_long_window` with its 95% CI
    (``rate_low``, ``rate_high``); ``predicted_rate`` = 2λ_min(H(0)), the rate of L = ½‖r‖²
    under the linearised flow dr/dt = −H(0)r once the slowest mode dominates (it is approached
    from above: faster modes only add); ``rate_ratio`` = rate/predicted with its CI.
    ``bound_ratio`` = max over reported t > 0 above the floor of L(t)/(e^{−λ0 t}L(0)) (≤ 1 when
    the bound holds); ``slack`` = e^{−λ0 t}L(0)/L(t) at the last point above the floor (how
    loosely the bound holds there); ``covered`` = the λ0·t up to which the bound is established:
    λ0·t_end for a solve that reached its horizon, min(horizon, ln(1/floor)) for one stopped at
    the floor (the flow's loss is non-increasing, so L ≤ floor·L(0) ≤ e^{−λ0 t}L(0) after the
    stop while λ0·t ≤ ln(1/floor)), NaN for a failed one.
    """
    long = df[df["method"] == "GF-long"] if "method" in df else df.iloc[:0]
    rows = []
    for run_id, d in long.groupby("run_id", sort=False):
        first = d.iloc[0]
        g = good_rows(d).sort_values("t")
        out = {c: math.nan for c in GF_LONG_COLUMNS}
        out.update({k: first[k] for k in ("role", "seed", "m", "N", "status", "stop", "lambda0", "lambda_min_H0",
                                          "horizon", "floor", "window", "t_end")}, run_id=run_id, window_kind="", points=0)
        out["predicted_rate"] = 2.0 * float(first["lambda_min_H0"])
        if first["status"] == "completed" and len(g) >= 2 and g["train_loss"].iloc[0] > 0:
            t, L = g["t"].to_numpy(float), g["train_loss"].to_numpy(float)
            ratio = L / L[0]
            lam0, floor = float(first["lambda0"]), float(first["floor"])
            out["covered"] = (min(float(first["horizon"]), math.log(1 / floor)) if first["stop"] == "floor"
                              else lam0 * float(first["t_end"]))
            above = (t > 0) & (ratio > floor)
            if above.any():
                b = ratio[above] / np.exp(-lam0 * t[above])
                out["bound_ratio"] = float(b.max())
                out["slack"] = float(1 / b[-1])
            mask, kind = gf_long_window(t, ratio, floor, float(first["window"]))
            fit = linear_fit(t[mask], np.log(L[mask]))
            pred = out["predicted_rate"]
            out.update(window_kind=kind, points=int(mask.sum()), rate=-fit["slope"], rate_low=-fit["high"],
                       rate_high=-fit["low"],
                       t_start_fit=float(t[mask].min()) if mask.any() else math.nan,
                       t_stop_fit=float(t[mask].max()) if mask.any() else math.nan)
            if pred > 0:
                out.update(rate_ratio=out["rate"] / pred, ratio_low=out["rate_low"] / pred, ratio_high=out["rate_high"] / pred)
        rows.append(out)
    return pd.DataFrame(rows, columns=list(GF_LONG_COLUMNS))


# --------------------------------------------------------------------------------------
# kernel
# --------------------------------------------------------------------------------------
def kernel_slopes(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (``quantity``, ``norm``): log–log slope of ``error`` against m over the completed
    rows (every seed a point)."""
    ok = df[(df["status"] == "completed") & np.isfinite(df["error"])]
    rows = []
    for (q, norm), d in ok.groupby(["quantity", "norm"], sort=True):
        fit = loglog_slope(d["m"], d["error"], level)
        rows.append({"quantity": q, "norm": norm, **fit})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# concentration at initialisation
# --------------------------------------------------------------------------------------
#: the criteria of the concentration experiment, route → (column, how it compares with the
#: level): λ_min(ΦΦᵀ)/λ0 ≥ ½ directly; ‖ΦΦᵀ − G∞‖₂/λ0 ≤ ½, which implies it (Weyl's
#: inequality); ‖ΦΦᵀ − G∞‖_F/λ0 ≤ ½, which implies that (the entrywise route of the
#: quadratic-width proofs)
CONCENTRATION_ROUTES = {"lambda_min": ("lambda_min_ratio", ">="), "spectral": ("spectral_ratio", "<="),
                        "frobenius": ("frobenius_ratio", "<=")}


def first_sustained(m, holds, confirm: float = 2.0):
    """(m_fail, m_pass) of one criterion along a width grid.

    ``m_pass`` is the smallest grid width from which the criterion holds at every larger grid
    width evaluated, up to at least ``confirm``·m_pass (a crossing that does not last is not a
    threshold); ``m_fail`` the grid width before it (NaN when it holds from the first width:
    left-censored).  Without such a width, m_pass is NaN (right-censored) and m_fail the last
    width evaluated.
    """
    m, holds = np.asarray(m, dtype=float), np.asarray(holds, dtype=bool)
    for i in range(len(m)):
        if holds[i:].all() and m[-1] >= confirm * m[i]:
            return (m[i - 1] if i > 0 else math.nan), m[i]
    return (m[-1] if len(m) else math.nan), math.nan


def concentration_thresholds(df: pd.DataFrame) -> pd.DataFrame:
    """Per (N, seed, route): the bracket [m_fail, m_pass] of the width where the route's
    criterion (:data:`CONCENTRATION_ROUTES`, at the table's ``level``) starts to hold for good
    (:func:`first_sustained` with the table's ``confirm``), with ``censored`` "" (resolved),
    "left" or "right", the bracket's geometric midpoint ``m_mid`` and λ0."""
    level, confirm = float(df["level"].iloc[0]), float(df["confirm"].iloc[0])
    rows = []
    for (N, seed), d in df.sort_values("m").groupby(["N", "seed"], sort=True):
        for route, (col, op) in CONCENTRATION_ROUTES.items():
            e = d[d[col].notna()]
            if e.empty:
                continue
            holds = e[col] >= level if op == ">=" else e[col] <= level
            lo, hi = first_sustained(e["m"], holds, confirm)
            censored = "right" if math.isnan(hi) else "left" if math.isnan(lo) else ""
            rows.append({"N": int(N), "seed": int(seed), "route": route, "lambda0": float(e["lambda0"].iloc[0]),
                         "m_fail": lo, "m_pass": hi, "m_mid": math.sqrt(lo * hi) if not censored else math.nan,
                         "censored": censored, "m_max": float(e["m"].max())})
    return pd.DataFrame(rows, columns=["N", "seed", "route", "lambda0", "m_fail", "m_pass", "m_mid", "censored", "m_max"])


def concentration_exponents(thr: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per route: the exponent p of m_threshold ∝ N^p, fitted by least squares to ln m_mid
    against ln N over the resolved (N, seed) brackets only; censored ones are counted, never
    fitted.  Columns: route, slope, low, high (CI at ``level``), intercept, n, n_censored, Ns
    (the N values with a resolved point)."""
    out = []
    for route in CONCENTRATION_ROUTES:
        t = thr[thr["route"] == route]
        ok = t[t["censored"] == ""]
        fit = loglog_slope(ok["N"], ok["m_mid"], level) if ok["N"].nunique() >= 2 else {
            "slope": math.nan, "low": math.nan, "high": math.nan, "intercept": math.nan}
        out.append({"route": route, "slope": fit["slope"], "low": fit["low"], "high": fit["high"],
                    "intercept": fit["intercept"], "n": len(ok),
                    "n_censored": int((t["censored"] != "").sum()), "Ns": sorted(ok["N"].unique().tolist())})
    return pd.DataFrame(out)


def ratio_at_linear_width(df: pd.DataFrame, thr: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per (N, seed) with a resolved λ_min threshold m*: ``column`` (e.g. the Frobenius ratio
    ‖ΦΦᵀ − G∞‖_F/λ0) at m* (the grid width nearest to it where it was evaluated), and m*/N."""
    rows = []
    lam = thr[(thr["route"] == "lambda_min") & (thr["censored"] == "")]
    for r in lam.itertuples(index=False):
        d = df[(df["N"] == r.N) & (df["seed"] == r.seed) & df[column].notna()]
        if d.empty:
            continue
        j = int(np.argmin(np.abs(np.log(d["m"].to_numpy() / r.m_pass))))
        rows.append({"N": r.N, "seed": r.seed, "m": float(d["m"].iloc[j]), "ratio_m_N": r.m_pass / r.N,
                     "value": float(d[column].iloc[j])})
    return pd.DataFrame(rows, columns=["N", "seed", "m", "ratio_m_N", "value"])


def lambda_min_at_fixed_width(df: pd.DataFrame, thr: pd.DataFrame) -> pd.DataFrame:
    """The λ_min ratio at one fixed width for every N: the largest λ_min threshold of the
    smallest N (over its seeds), per (N, seed) at the grid width nearest to it."""
    lam = thr[(thr["route"] == "lambda_min") & (thr["censored"] == "")]
    if lam.empty:
        return pd.DataFrame(columns=["N", "seed", "m", "value"])
    m0 = float(lam[lam["N"] == lam["N"].min()]["m_pass"].max())
    rows = []
    for (N, seed), d in df[df["lambda_min_ratio"].notna()].groupby(["N", "seed"]):
        j = int(np.argmin(np.abs(np.log(d["m"].to_numpy() / m0))))
        rows.append({"N": int(N), "seed": int(seed), "m": float(d["m"].iloc[j]), "value": float(d["lambda_min_ratio"].iloc[j])})
    return pd.DataFrame(rows, columns=["N", "seed", "m", "value"])


# --------------------------------------------------------------------------------------
# invariants: what the convergence proof keeps bounded, against N along width families
# --------------------------------------------------------------------------------------
#: the invariants of the ``invariants`` experiment: name → (trace column, reduction over the
#: recorded steps).  ``lambda_min_Hv`` is λ_min(Φ(k)Φ(k)ᵀ)/λ0 (the block the linear-width
#: argument needs; the full H holds H^W ≫ λ0 at any width), smallest over k; ``gram_change``
#: sup_k ‖H(k) − H(0)‖₂/λ_min(H(0)); ``neuron_move`` max_r ‖w_r(k) − w_r(0)‖₂ at the last
#: step (absolute: w_r(0)ᵀx ~ N(0, 1) for unit x); ``flip_fraction`` the largest fraction of
#: the N·m equilibrium signs flipped from k = 0; ``rho_drift`` max_k |ρ(A(k)) − ρ(A(0))|
INVARIANTS = {
    "lambda_min_Hv": ("lambda_min_Hv", "min"),
    "gram_change": ("gram_change", "max"),
    "neuron_move": ("max_neuron_move", "max"),
    "flip_fraction": ("flip_fraction", "max"),
    "rho_drift": ("rho_drift", "max"),
}
#: invariant → what it is, for figures and claims
INVARIANT_LABELS = {
    "lambda_min_Hv": "min_k λ_min(Φ(k)Φ(k)ᵀ) / λ0",
    "gram_change": "sup_k ‖H(k) − H(0)‖₂ / λ_min(H(0))",
    "neuron_move": "max_r ‖w_r(K) − w_r(0)‖₂",
    "flip_fraction": "max_k fraction of equilibrium signs flipped",
    "rho_drift": "max_k |ρ(A(k)) − ρ(A(0))|",
}


def invariant_summaries(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run of an ``invariants`` table: ``run_id, family, ratio, N, m, seed, status,
    loss_ratio, steps_run, reached`` (the last step, and whether L/L(0) got to the table's
    ``stop_below``; True without that column) and one column per :data:`INVARIANTS` entry
    (reduced over the run's recorded steps; ``lambda_min_Hv`` divided by the run's λ0).  Runs that did not complete keep their
    row with NaN invariants (a fit never sees them; :func:`invariant_slopes` counts them)."""
    rows = []
    for run_id, d in df.groupby("run_id", sort=False):
        first = d.iloc[0]
        out = {"run_id": run_id, "family": first["family"], "ratio": float(first["ratio"]), "N": int(first["N"]),
               "m": int(first["m"]), "seed": int(first["seed"]), "status": first["status"], "loss_ratio": math.nan,
               "steps_run": math.nan, "reached": False}
        out.update({name: math.nan for name in INVARIANTS})
        good = good_rows(d).sort_values("step")
        if first["status"] == "completed" and len(good):
            good = good.assign(rho_drift=(good["rho"] - good["rho"].iloc[0]).abs(),
                               lambda_min_Hv=good["lambda_min_Hv"] / good["lambda0"])
            out["loss_ratio"] = float(good["train_loss"].iloc[-1] / good["train_loss"].iloc[0])
            out["steps_run"] = int(good["step"].iloc[-1])
            target = float(first["stop_below"]) if "stop_below" in d and pd.notna(first["stop_below"]) else math.inf
            out["reached"] = bool(out["loss_ratio"] <= target)
            for name, (col, how) in INVARIANTS.items():
                out[name] = float(getattr(good[col], how)())
        rows.append(out)
    return pd.DataFrame(rows, columns=["run_id", "family", "ratio", "N", "m", "seed", "status", "loss_ratio",
                                       "steps_run", "reached", *INVARIANTS])


def grouped_loglog_slope(x, y, groups, level: float = 0.95) -> dict:
    """One power law y ∝ x^slope shared by several groups, each with its own prefactor: least
    squares of ln y on ln x with one intercept per group (both demeaned within each group), a
    t-based CI with n − (groups) − 1 degrees of freedom.  Non-positive or non-finite pairs are
    dropped (``dropped`` counts them).  Returns ``slope, low, high, stderr, n, groups, dropped``.

    One intercept per group because the invariants' levels depend on c (m = cN at c = 2 and
    c = 4 differ by a constant factor) while the prediction is about the exponent alone."""
    x, y, g = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(groups)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    out = dict(slope=math.nan, low=math.nan, high=math.nan, stderr=math.nan, n=int(ok.sum()), groups=0,
               dropped=int((~ok).sum()))
    lx, ly, g = np.log(x[ok]), np.log(y[ok]), g[ok]
    xs, ys = lx.copy(), ly.copy()
    labels = pd.unique(g)
    for lab in labels:
        sel = g == lab
        xs[sel] -= lx[sel].mean()
        ys[sel] -= ly[sel].mean()
    sxx = float((xs**2).sum())
    out["groups"] = len(labels)
    if sxx <= 0:
        return out
    slope = float((xs * ys).sum() / sxx)
    out["slope"] = slope
    dof = xs.size - len(labels) - 1
    if dof >= 1:
        from scipy.stats import t

        sse = float(((ys - slope * xs) ** 2).sum())
        stderr = math.sqrt(sse / dof / sxx)
        half = float(t.ppf(0.5 + level / 2, dof)) * stderr
        out.update(stderr=stderr, low=slope - half, high=slope + half)
    return out


def invariant_slopes(summ: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (family, invariant): the exponent of invariant ∝ N^slope over the completed runs of the
    family (every seed a point, one intercept per c: :func:`grouped_loglog_slope`).  Columns:
    family, invariant, slope, low, high, n, dropped (non-positive values), stopped (runs that
    did not complete), short (completed runs that did not reach ``stop_below``: fitted, but
    counted), Ns (the N values)."""
    rows = []
    for fam, s in summ.groupby("family", sort=True):
        done = s[s["status"] == "completed"]
        for name in INVARIANTS:
            fit = grouped_loglog_slope(done["N"], done[name], done["ratio"], level)
            rows.append({"family": fam, "invariant": name, "slope": fit["slope"], "low": fit["low"],
                         "high": fit["high"], "n": fit["n"], "dropped": fit["dropped"],
                         "stopped": int((s["status"] != "completed").sum()), "short": int((~done["reached"]).sum()),
                         "Ns": sorted(s["N"].unique().tolist())})
    return pd.DataFrame(rows, columns=["family", "invariant", "slope", "low", "high", "n", "dropped", "stopped", "short",
                                       "Ns"])


# boundary: drift of ρ(A(k)) near the well-posedness boundary
# --------------------------------------------------------------------------------------
def rho_drifts(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: how far ρ(A(k)) = γ‖A(k)‖₂/√m moved from ρ(A(0)) over the recorded steps.

    Columns: ``run_id, dataset, N, m, gamma, seed, status``, ``rho0`` = ρ(A(0)), ``rho_max`` =
    max_k ρ(A(k)) (a failure row included: its ρ is that of the parameters that stopped the
    run), ``drift`` = rho_max − rho0 (signed: ρ may also fall, then drift ≤ 0), ``abs_drift`` =
    max_k |ρ(A(k)) − ρ(A(0))| (the size of the movement, what :func:`drift_exponent` fits:
    the sign of the first-order change is that of a random projection, so the signed drift is
    not a power of m), and ``loss_ratio`` = L(final)/L(0) of the measured rows.  NaN where a
    run has no measured step 0.
    """
    rows = []
    for run_id, d in df.sort_values("step", kind="stable").groupby("run_id", sort=False):
        good = good_rows(d)
        first = good[good["step"] == 0]
        rho0 = float(first["rho"].iloc[0]) if len(first) else math.nan
        rho = d["rho"].to_numpy(dtype=float)
        rho = rho[np.isfinite(rho)]
        loss = good["train_loss"].to_numpy(dtype=float)
        r = d.iloc[0]
        rows.append({
            "run_id": run_id, "dataset": r["dataset"], "N": int(r["N"]), "m": int(r["m"]), "gamma": float(r["gamma"]),
            "seed": int(r["seed"]), "status": r["status"], "rho0": rho0,
            "rho_max": float(rho.max()) if rho.size else math.nan,
            "drift": float(rho.max()) - rho0 if rho.size else math.nan,
            "abs_drift": float(np.abs(rho - rho0).max()) if rho.size else math.nan,
            "loss_ratio": float(loss[-1] / loss[0]) if loss.size and loss[0] > 0 else math.nan,
        })
    return pd.DataFrame(rows, columns=["run_id", "dataset", "N", "m", "gamma", "seed", "status", "rho0", "rho_max",
                                       "drift", "abs_drift", "loss_ratio"])


def drift_exponent(drifts: pd.DataFrame, level: float = 0.95, by: str = "gamma") -> dict:
    """The exponent s of abs_drift ∝ m^s, pooled over the levels of ``by`` (one intercept per γ).

    Fits log abs_drift = c_γ + s·log m by least squares over the completed runs of
    :func:`rho_drifts` with abs_drift > 0: within each γ both logs are centred, and the slope
    of the centred points is s (the fixed-effects estimator, so that γ's different drift
    levels do not tilt the slope; :func:`grouped_loglog_slope`).  The CI is t-based with
    n − (number of γ) − 1 degrees of freedom.  Returns ``slope, low, high, n, groups``; NaN where undefined.
    """
    d = drifts[(drifts["status"] == "completed") & (drifts["abs_drift"] > 0) & np.isfinite(drifts["abs_drift"])]
    fit = grouped_loglog_slope(d["m"], d["abs_drift"], d[by], level)
    return {k: fit[k] for k in ("slope", "low", "high", "n", "groups")}
