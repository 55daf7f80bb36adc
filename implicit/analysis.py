"""Fits and summaries of the experiments' tables, and the claims evaluated on them.

Small pure functions on arrays and DataFrames (no I/O, no plotting): the aggregation rule,
the plot functions (:mod:`implicit.plotting`) and the claims rule all call these, so a
figure and the claims table always agree.  Column names are those of the aggregated CSVs
(README "Reading the CSVs").

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


def theory_rate(lr, lambda0):
    """The theory's GD rate per step, −ln(1 − ηλ0/2) (NaN where ηλ0/2 ≥ 1)."""
    x = np.asarray(lr, dtype=float) * np.asarray(lambda0, dtype=float) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x < 1, -np.log1p(-np.minimum(x, 1)), np.nan)


# --------------------------------------------------------------------------------------
# per-run summaries of GD traces
# --------------------------------------------------------------------------------------
#: columns :func:`run_summaries` adds, one value per run
SUMMARY_COLUMNS = ("loss_ratio", "rate", "rate_r2")


def good_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The measured rows: failure markers left out."""
    if "failure" not in df:
        return df
    return df[~df["failure"].astype(bool)]


def run_summaries(df: pd.DataFrame, loss: str = "train_loss") -> pd.DataFrame:
    """One row per ``run_id``: ``status``, ``loss_ratio`` = L(final)/L(0) and the fitted
    ``rate``/``rate_r2`` of :func:`linear_rate`; NaN for runs that did not complete."""
    rows = []
    for run_id, d in df.groupby("run_id", sort=False):
        status = d["status"].iloc[0] if "status" in d else "completed"
        good = good_rows(d).sort_values("step")
        out = {"run_id": run_id, "loss_ratio": math.nan, "rate": math.nan, "rate_r2": math.nan}
        if status == "completed" and len(good) and good[loss].iloc[0] > 0:
            out["loss_ratio"] = float(good[loss].iloc[-1] / good[loss].iloc[0])
            fit = linear_rate(good["step"], good[loss])
            out.update(rate=fit["rate"], rate_r2=fit["r2"])
        rows.append(out)
    return pd.DataFrame(rows, columns=["run_id", *SUMMARY_COLUMNS])


def with_run_summaries(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the :data:`SUMMARY_COLUMNS` of its run on every row (replaced if present)."""
    base = df.drop(columns=[c for c in SUMMARY_COLUMNS if c in df], errors="ignore")
    return base.merge(run_summaries(base), on="run_id", how="left", validate="many_to_one")


def per_run(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its first row (the run's parameters and summary columns)."""
    return df.drop_duplicates("run_id").reset_index(drop=True)


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The last measured row of every *completed* run."""
    good = good_rows(df)
    good = good[good["status"] == "completed"] if "status" in good else good
    return good.sort_values("step").groupby("run_id", sort=False).tail(1).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# linear-width: success grid, minimal width, its exponent
# --------------------------------------------------------------------------------------
def success_grid(df: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per (N, m): ``runs``, ``stopped`` (did not complete), ``reached`` (completed with
    L(final)/L(0) ≤ ``target``), ``fraction`` = reached/runs (a stopped run counts as not
    reached) and the ``median_ratio`` of the completed runs; plus ``ratio`` = m/N."""
    runs = per_run(df).copy()
    runs["completed"] = runs["status"] == "completed"
    runs["reached"] = runs["completed"] & (runs["loss_ratio"] <= target)
    g = runs.groupby(["N", "m"], sort=True)
    out = pd.DataFrame({
        "runs": g.size(),
        "stopped": g["completed"].apply(lambda s: int((~s).sum())),
        "reached": g["reached"].sum().astype(int),
        "median_ratio": g["loss_ratio"].median(),
    }).reset_index()
    out["fraction"] = out["reached"] / out["runs"]
    out["ratio"] = out["m"] / out["N"]
    return out


def minimal_widths(grid: pd.DataFrame, min_fraction: float) -> pd.DataFrame:
    """Per N the smallest grid width m such that at every grid width ≥ m at least
    ``min_fraction`` of the seeds reached the target.

    ``censored``: "" (an interior point), "below" (the smallest grid width already qualifies:
    the true minimum is ≤ m_min) or "above" (no width qualifies: m_min > the largest, NaN).
    """
    rows = []
    for N, d in grid.groupby("N", sort=True):
        d = d.sort_values("m")
        ok = (d["fraction"] >= min_fraction).to_numpy()
        tail = np.logical_and.accumulate(ok[::-1])[::-1]  # ok at this width and every larger one
        if not tail.any():
            rows.append({"N": N, "m_min": math.nan, "censored": "above", "m_max_grid": int(d["m"].max())})
            continue
        i = int(np.argmax(tail))
        rows.append({"N": N, "m_min": float(d["m"].iloc[i]), "censored": "below" if i == 0 else "",
                     "m_max_grid": int(d["m"].max())})
    return pd.DataFrame(rows, columns=["N", "m_min", "censored", "m_max_grid"])


def width_exponent(mins: pd.DataFrame, level: float = 0.95) -> dict:
    """Power-law fit m_min ∝ N^exponent over the N where some width qualified.

    Points censored "below" enter at their grid value (an upper bound of the true minimum);
    "above" points cannot enter.  Returns the :func:`loglog_slope` fields plus ``n_below`` and
    ``n_above`` (counts of censored points).
    """
    use = mins[mins["censored"] != "above"]
    fit = loglog_slope(use["N"], use["m_min"], level)
    fit.update(n_below=int((mins["censored"] == "below").sum()), n_above=int((mins["censored"] == "above").sum()))
    return fit


# --------------------------------------------------------------------------------------
# gram: envelopes of the loss
# --------------------------------------------------------------------------------------
def envelopes(df: pd.DataFrame) -> pd.DataFrame:
    """Per measured row of completed or stopped runs: L(0)(1 − ηλ_min(H(0)))^k
    (``envelope_H0``) and L(0)(1 − ηλ0/2)^k (``envelope_lambda0``), with η = ``lr``, L(0)
    and λ_min(H(0)) (``lambda_min_H``) from the run's step-0 row."""
    d = good_rows(df).copy()
    first = d.sort_values("step").groupby("run_id").first()
    L0 = d["run_id"].map(first["train_loss"])
    lam0_H = d["run_id"].map(first["lambda_min_H"]) if "lambda_min_H" in d else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        d["envelope_H0"] = L0 * np.power(1 - d["lr"] * lam0_H, d["step"])
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
# claims
# --------------------------------------------------------------------------------------
#: columns of results/claims.csv
CLAIM_COLUMNS = ("id", "experiment", "statement", "measured", "threshold", "pass", "status", "note")


def _claim(id, experiment, statement, measured=math.nan, threshold="", passed=None, note="", status=None):
    if status is None:
        status = "evaluated" if passed is not None else "not evaluated"
    return {"id": id, "experiment": experiment, "statement": statement, "measured": measured,
            "threshold": threshold, "pass": "" if passed is None else bool(passed), "status": status, "note": note}


def _le(x, thr):
    return bool(np.isfinite(x) and x <= thr)


def _ge(x, thr):
    return bool(np.isfinite(x) and x >= thr)


def claim_linear_rate(df: pd.DataFrame, experiment: str, th: dict) -> list[dict]:
    """Linear convergence once m ≥ ratio·N: the smallest fitted rate relative to the theory's
    −ln(1 − ηλ0/2), and the smallest R² of ln L(k) against k (last half of training)."""
    ratio = th["min_width_ratio"]
    runs = per_run(df)
    runs = runs[runs["m"] >= ratio * runs["N"]]
    stopped = int((runs["status"] != "completed").sum())
    done = runs[runs["status"] == "completed"]
    rel = done["rate"] / theory_rate(done["lr"], done["lambda0"])
    where = f"{len(runs)} runs with m ≥ {ratio:g}·N"
    note = f"{where}; {stopped} stopped early (counted as failing)" if stopped else where
    no_fit = int(rel.isna().sum())
    if no_fit:  # a completed run without a rate (too few points above the rounding floor) fails the claim
        note += f"; {no_fit} completed runs without a fitted rate"
    worst_rel = float(rel.min()) if len(rel) and not no_fit else math.nan
    worst_r2 = float(done["rate_r2"].min()) if len(done) and not no_fit else math.nan
    if len(runs) == 0:
        return [_claim(f"linear-rate:{experiment}", experiment, "", note=f"no run with m ≥ {ratio:g}·N")]
    ok = stopped == 0
    return [
        _claim(f"linear-rate:{experiment}", experiment,
               f"GD converges linearly at m ≥ {ratio:g}N: fitted rate of ln L per step ≥ {th['min_rate_ratio']:g} × the theory's −ln(1 − ηλ0/2) (worst run)",
               worst_rel, f">= {th['min_rate_ratio']:g}", ok and _ge(worst_rel, th["min_rate_ratio"]),
               f"{note}; median ratio {float(rel.median()):.3g}" if len(rel) else note),
        _claim(f"linear-r2:{experiment}", experiment,
               f"ln L(k) is a straight line over the last half of training at m ≥ {ratio:g}N: R² (worst run)",
               worst_r2, f">= {th['min_r2']:g}", ok and _ge(worst_r2, th["min_r2"]), note),
    ]


def claim_well_posed(df: pd.DataFrame, th: dict) -> list[dict]:
    """ρ(A(k)) < max_rho throughout for γ ≤ gamma_max; the first γ at which a forward solve fails."""
    g = th["gamma_max"]
    inside = good_rows(df[df["gamma"] <= g])
    runs = per_run(df)
    out = []
    if len(inside):
        rho = float(inside["rho"].max())
        stopped = int((per_run(inside)["status"] != "completed").sum()) if len(inside) else 0
        out.append(_claim("rho-below-1", "gamma",
                          f"ρ(A(k)) < {th['max_rho']:g} at every step for γ ≤ {g:g} (the theory's range): largest ρ seen",
                          rho, f"< {th['max_rho']:g}", rho < th["max_rho"] and stopped == 0,
                          f"{inside['run_id'].nunique()} runs, γ ∈ {sorted(inside['gamma'].unique().tolist())}; {stopped} stopped"))
    else:
        out.append(_claim("rho-below-1", "gamma", "", note=f"no run with γ ≤ {g:g}"))
    failed = runs[runs["status"] != "completed"]
    first = float(failed["gamma"].min()) if len(failed) else math.inf
    note = (f"failing runs at γ ∈ {sorted(failed['gamma'].unique().tolist())}; sweep γ ∈ [{runs['gamma'].min():g}, {runs['gamma'].max():g}]"
            if len(failed) else f"no run failed in the sweep γ ∈ [{runs['gamma'].min():g}, {runs['gamma'].max():g}]")
    out.append(_claim("first-failing-gamma", "gamma",
                      f"the forward solve first fails at γ ≥ {th['min_failure_gamma']:g} (where ρ(A(0)) ≈ 2γ ≥ 1): smallest γ with a stopped run",
                      first, f">= {th['min_failure_gamma']:g}", first >= th["min_failure_gamma"], note))
    return out


def claim_gram(df: pd.DataFrame, N_ratio: float, th: dict) -> list[dict]:
    """λ_min(H(k)) ≥ min_lambda_ratio·λ0 along training, and L(k) under the (1 − ηλ0/2)^k
    envelope, at the widths where the theory is taken to apply (m ≥ N_ratio·N)."""
    runs = per_run(df)
    use = df[df["m"] >= N_ratio * df["N"]]
    widths = sorted(use["m"].unique().tolist())
    stopped = int((per_run(use)["status"] != "completed").sum()) if len(use) else 0
    if use.empty:
        msg = f"no width m ≥ {N_ratio:g}·N among {sorted(runs['m'].unique().tolist())}"
        return [_claim("lambda-min-H", "gram", "", note=msg), _claim("gd-envelope", "gram", "", note=msg)]
    good = good_rows(use)
    lam = float((good["lambda_min_H"] / good["lambda0"]).min())
    env = envelopes(use)
    env = env[env["step"] > 0]  # equal at k = 0 by construction
    ratio = float((env["train_loss"] / env["envelope_lambda0"]).max())
    note = f"widths {widths} (m ≥ {N_ratio:g}·N), {use['run_id'].nunique()} runs, {stopped} stopped"
    return [
        _claim("lambda-min-H", "gram",
               f"λ_min(H(k)) ≥ {th['min_lambda_ratio']:g}·λ0 at every recorded step where m ≥ {N_ratio:g}N: smallest λ_min(H(k))/λ0",
               lam, f">= {th['min_lambda_ratio']:g}", stopped == 0 and _ge(lam, th["min_lambda_ratio"]), note),
        _claim("gd-envelope", "gram",
               f"L(k) ≤ (1 − ηλ0/2)^k·L(0) at every recorded step k ≥ 1 where m ≥ {N_ratio:g}N: largest L(k)/envelope",
               ratio, f"<= {th['max_envelope_ratio']:g}", stopped == 0 and _le(ratio, th["max_envelope_ratio"]), note),
    ]


def claim_min_width(df: pd.DataFrame, th: dict) -> list[dict]:
    """The minimal width reaching the target grows at most like N^max_exponent."""
    target, frac = float(df["target"].iloc[0]), float(df["min_fraction"].iloc[0])
    mins = minimal_widths(success_grid(df, target), frac)
    fit = width_exponent(mins)
    pts = ", ".join(f"N={int(r.N)}: " + ("none" if r.censored == "above" else f"{r.m_min:g}" + ("↓" if r.censored else ""))
                    for r in mins.itertuples())
    note = (f"m_min per N ({pts}; ↓ = smallest grid width, an upper bound); "
            f"95% CI [{fit['low']:.3g}, {fit['high']:.3g}]; target L/L(0) ≤ {target:g} for ≥ {frac:g} of the seeds")
    passed = fit["n_above"] == 0 and _le(fit["slope"], th["max_exponent"])
    if fit["n_above"]:
        note += f"; {fit['n_above']} N with no width reaching the target (claim fails)"
    return [_claim("min-width-exponent", "linear-width",
                   "the minimal width reaching the target grows at most linearly in N: fitted exponent of m_min ∝ N^p",
                   fit["slope"], f"<= {th['max_exponent']:g}", passed if fit["n"] >= 2 else None, note)]


def claim_lazy(df: pd.DataFrame, th: dict) -> list[dict]:
    """Relative weight change at the end of training shrinks with m: log–log slope ≤ max_slope."""
    fin = final_rows(df)
    stopped = int((per_run(df)["status"] != "completed").sum())
    out = []
    # lazy (NTK) scaling: W's rows move O(1/√m) against ‖W(0)‖_F ∝ √m → −1/2; ‖A − A(0)‖_F stays
    # O(1) (its gradient carries γ/√m · 1/√m per entry) against ‖A(0)‖_F ∝ m → −1
    predicted = {"W": "−1/2", "A": "−1"}
    for block in ("W", "A"):
        fit = loglog_slope(fin["m"], fin[f"rel_change_{block}"])
        out.append(_claim(f"lazy-{block}", "lazy",
                          f"‖{block}(K) − {block}(0)‖_F/‖{block}(0)‖_F shrinks with m: log–log slope against m (lazy scaling: {predicted[block]})",
                          fit["slope"], f"<= {th['max_slope']:g}", _le(fit["slope"], th["max_slope"]) if fit["n"] >= 2 else None,
                          f"95% CI [{fit['low']:.3g}, {fit['high']:.3g}], {fit['n']} completed runs, widths {sorted(fin['m'].unique().tolist())}; {stopped} stopped (left out)"))
    return out


def claim_flow(df: pd.DataFrame, th: dict) -> list[dict]:
    """GD → GF as η → 0 (order of the deviation in η) and the GF bound L(t) ≤ e^{−λ0 t}L(0)."""
    dev = gd_gf_deviation(df)
    ok = dev[np.isfinite(dev["deviation"])]
    fit = loglog_slope(ok["lr"], ok["deviation"])
    bad = int(dev["deviation"].isna().sum())
    by_f = ok.groupby("lr_fraction")["deviation"].max().sort_index(ascending=False)
    note = ("max |ln L_GD − ln L_GF| per η/(2/λ_max): " + ", ".join(f"{f:g}: {v:.2g}" for f, v in by_f.items())
            + f"; 95% CI [{fit['low']:.3g}, {fit['high']:.3g}]" + (f"; {bad} GD runs without a comparison" if bad else ""))
    bound = gf_bound_ratio(df)
    gf = per_run(df[df["method"] == "GF"])
    gf_bad = int((gf["status"] != "completed").sum())
    return [
        _claim("gd-to-gf", "flow",
               "GD approaches gradient flow as η → 0: order p of max_t |ln L_GD(t) − ln L_GF(t)| ∝ η^p (Euler: p = 1)",
               fit["slope"], f">= {th['min_order']:g}", _ge(fit["slope"], th["min_order"]) and bad == 0 if fit["n"] >= 2 else None, note),
        _claim("gf-bound", "flow",
               "gradient flow obeys L(t) ≤ e^{−λ0 t}·L(0): largest L(t)/(e^{−λ0 t}L(0)), t > 0",
               bound, f"<= {th['max_bound_ratio']:g}", gf_bad == 0 and _le(bound, th["max_bound_ratio"]) if len(gf) else None,
               f"{len(gf)} GF solves, {gf_bad} failed"),
    ]


def claim_kernel(df: pd.DataFrame, th: dict) -> list[dict]:
    """Finite-width Gram matrices approach G∞ and K∞ like m^slope, slope within tolerance."""
    slopes = kernel_slopes(df)
    lo, hi = th["slope"] - th["tolerance"], th["slope"] + th["tolerance"]
    out = []
    for q, label in (("PhiPhi-Ginf", "‖ΦᵀΦ − G∞‖"), ("ZZ-Kinf", "‖ZᵀZ − K∞‖")):
        row = slopes[(slopes["quantity"] == q) & (slopes["norm"] == th["norm"])] if len(slopes) else slopes
        stopped = int((per_run(df)["status"] != "completed").sum())
        if row.empty:
            out.append(_claim(f"kernel-{q}", "kernel", "", note="no completed rows"))
            continue
        r = row.iloc[0]
        out.append(_claim(f"kernel-{q}", "kernel",
                          f"{label} ({th['norm']} norm) decays like 1/√m: log–log slope against m",
                          r["slope"], f"in [{lo:g}, {hi:g}]", bool(lo <= r["slope"] <= hi),
                          f"95% CI [{r['low']:.3g}, {r['high']:.3g}], {int(r['n'])} points; {stopped} stopped (left out)"))
    return out


#: claim groups: (experiment it reads, config key of its thresholds, function(table, thresholds))
CLAIMS = (
    ("linear-width", "linear_rate", lambda df, th: claim_linear_rate(df, "linear-width", th)),
    ("digits", "linear_rate", lambda df, th: claim_linear_rate(df, "digits", th)),
    ("gamma", "well_posed", claim_well_posed),
    ("gram", "gram", lambda df, th: claim_gram(df, th["min_width_ratio"], th)),
    ("linear-width", "min_width", claim_min_width),
    ("lazy", "lazy", claim_lazy),
    ("flow", "flow", claim_flow),
    ("kernel", "kernel", claim_kernel),
)


def evaluate_claims(tables: dict, thresholds: dict) -> pd.DataFrame:
    """The claims table from the aggregated tables {experiment: DataFrame} and the config's
    ``claims`` thresholds.  A claim whose experiment is absent, or whose thresholds are not
    configured, is listed as "not evaluated"; one whose evaluation raises is listed with the
    error as "error" (and pass empty) rather than stopping the table."""
    rows = []
    for experiment, key, fn in CLAIMS:
        if experiment not in tables:
            rows.append(_claim(f"{key}:{experiment}", experiment, "", note="experiment not run in this configuration"))
            continue
        if key not in thresholds:
            rows.append(_claim(f"{key}:{experiment}", experiment, "", note=f"no thresholds under claims.{key} in the config"))
            continue
        try:
            rows += fn(tables[experiment], thresholds[key])
        except Exception as exc:  # a broken table is reported in the table, not fatal
            rows.append(_claim(f"{key}:{experiment}", experiment, "", note=f"{type(exc).__name__}: {exc}", status="error"))
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def _fmt(x) -> str:
    if isinstance(x, str):
        return x
    if x is None or not np.isfinite(x):
        return "—" if x is None or np.isnan(x) else ("∞" if x > 0 else "−∞")
    return f"{x:.3g}"


def claims_markdown(claims: pd.DataFrame, title: str = "Claims") -> str:
    """A short markdown table of :func:`evaluate_claims`' result, pass/fail/not evaluated per row."""
    n_pass = int((claims["pass"] == True).sum())  # noqa: E712  (column mixes bool and "")
    n_fail = int((claims["pass"] == False).sum())  # noqa: E712
    n_other = len(claims) - n_pass - n_fail
    lines = [f"# {title}", "",
             f"{n_pass} pass, {n_fail} fail, {n_other} not evaluated. Thresholds come from the `claims` block of the "
             "configuration (set before the runs); a failing claim is reported here and does not stop the workflow. "
             "Columns: README \"Claims\".", "",
             "| claim | result | measured | threshold | statement | note |", "|---|---|---|---|---|---|"]
    for r in claims.to_dict("records"):
        result = "**pass**" if r["pass"] is True else "**FAIL**" if r["pass"] is False else r["status"]
        cells = [f"`{r['id']}`", result, _fmt(r["measured"]), r["threshold"], r["statement"], r["note"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
