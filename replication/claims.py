"""The claims table: each claim of the paper evaluated on the aggregated tables.

Every claim function takes one experiment's aggregated DataFrame and its thresholds from the
configuration's ``claims`` block and returns rows of :data:`CLAIM_COLUMNS`; the fits come
from :mod:`replication.fits`, the same functions the figures call.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .fits import envelopes, final_rows, gd_gf_deviation, gf_bound_ratio, good_rows, kernel_slopes, loglog_slope, minimal_widths, per_run, success_grid, theory_rate, width_exponent


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
    """The claims table: every claim group of :data:`CLAIMS` evaluated on its experiment's table.

    Parameters
    ----------
    tables : dict of str to DataFrame
        The aggregated tables ``results/<experiment>.csv`` by experiment name.
    thresholds : dict
        The configuration's ``claims`` block (one entry per claim group).

    Returns
    -------
    DataFrame
        One row per claim, columns :data:`CLAIM_COLUMNS` (docs/claims.md).  A claim whose
        experiment is absent, or whose thresholds are not configured, is listed as "not
        evaluated"; one whose evaluation raises is listed with the error as "error" (and pass
        empty) rather than stopping the table.
    """
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
             "Columns: docs/claims.md.", "",
             "| claim | result | measured | threshold | statement | note |", "|---|---|---|---|---|---|"]
    for r in claims.to_dict("records"):
        result = "**pass**" if r["pass"] is True else "**FAIL**" if r["pass"] is False else r["status"]
        cells = [f"`{r['id']}`", result, _fmt(r["measured"]), r["threshold"], r["statement"], r["note"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def claims_job(csv_paths, thresholds: dict, log) -> tuple[pd.DataFrame, str]:
    """Rule ``claims``: the claims table and its markdown from the aggregated CSVs
    (:func:`replication.claims.evaluate_claims`); failing claims do not fail the job."""
    from .integrity import verify

    tables = {Path(p).stem: pd.read_csv(verify(p)) for p in csv_paths}
    table = evaluate_claims(tables, dict(thresholds))
    for r in table.itertuples(index=False):
        log.info("%s: %s measured=%s threshold=%s %s", r.id, r.status, r.measured, r.threshold, r.note)
    return table, claims_markdown(table)
