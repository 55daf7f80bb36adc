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

from .fits import (
    concentration_exponents, concentration_thresholds, envelopes, final_rows, gd_gf_deviation, gf_bound_ratio,
    gf_long_summary, good_rows, kernel_slopes, lambda_min_at_fixed_width, loglog_slope, minimal_widths, per_run,
    rate_predictions, ratio_at_linear_width, success_grid, theory_rate, width_exponent,
)


#: columns of results/claims.csv (docs/claims.md): the test is ``measured operator threshold``
#: (``within``: threshold ≤ measured ≤ threshold_high); ci_low/ci_high the 95% CI of a fitted
#: measured value; n the number of runs it comes from; margin the distance from the threshold
#: in CI half-widths (positive on the side where the inequality holds)
CLAIM_COLUMNS = ("id", "experiment", "kind", "statement", "operator", "threshold", "threshold_high", "measured",
                 "ci_low", "ci_high", "n", "margin", "pass", "status", "note")
#: the operators of the ``operator`` column
OPERATORS = ("<", "<=", ">=", "within")
#: what a row is (docs/claims.md): a theorem's inequality that should hold, possibly loosely; a
#: value the theory predicts, tested two-sided where it is a value; a check of our own numerics;
#: a negative control, a regime where the claim is expected to fail (the row passes when it does)
KINDS = ("bound", "prediction", "numerics", "control")


def _holds(op, measured, low, high) -> bool:
    """Whether ``measured op threshold`` holds (False for a non-finite measurement)."""
    if not np.isfinite(measured):
        return False
    return {"<": measured < low, "<=": measured <= low, ">=": measured >= low,
            "within": low <= measured <= high}[op]


def margin(op, measured, low, high, ci) -> float:
    """How far ``measured`` is inside (+) or outside (−) its threshold, in half-widths of its 95%
    CI ``ci``; NaN without a finite CI."""
    half = (ci[1] - ci[0]) / 2
    if not (np.isfinite(measured) and np.isfinite(half) and half > 0):
        return math.nan
    dist = {"<": low - measured, "<=": low - measured, ">=": measured - low,
            "within": min(measured - low, high - measured)}[op]
    return float(dist / half)


def _claim(id, experiment, statement, measured=math.nan, threshold=None, passed=None, note="", status=None, *,
           kind="", ci=(math.nan, math.nan), n=None):
    """One row of :data:`CLAIM_COLUMNS`.

    ``threshold`` is ``(operator, value)`` or ``("within", low, high)``: the claim's inequality;
    ``kind`` one of :data:`KINDS`; ``ci`` the (low, high) 95% interval of ``measured``; ``n``
    its runs.  ``passed`` is None for a row not evaluated; for a ``control`` it is True when the
    inequality fails, as the control expects.
    """
    if status is None:
        status = "evaluated" if passed is not None else "not evaluated"
    op, low, high = (tuple(threshold) + (math.nan,))[:3] if threshold else ("", math.nan, math.nan)
    if op and op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}; known: {OPERATORS}")
    if status == "evaluated" and kind not in KINDS:
        raise ValueError(f"claim {id}: kind must be one of {KINDS}, got {kind!r}")
    return {"id": id, "experiment": experiment, "kind": kind, "statement": statement, "operator": op,
            "threshold": float(low), "threshold_high": float(high), "measured": float(measured),
            "ci_low": float(ci[0]), "ci_high": float(ci[1]), "n": None if n is None else int(n),
            "margin": margin(op, float(measured), float(low), float(high), ci) if op else math.nan,
            "pass": "" if passed is None else bool(passed), "status": status, "note": note}


def _le(x, thr):
    return bool(np.isfinite(x) and x <= thr)


def _ge(x, thr):
    return bool(np.isfinite(x) and x >= thr)


def claim_linear_rate(df: pd.DataFrame, experiment: str, th: dict) -> list[dict]:
    """Linear convergence once m ≥ ratio·N: the smallest fitted rate relative to the theory's
    −ln(1 − ηλ0/2) (a bound), and linear rather than power-law decay: the smallest
    :func:`~replication.fits.local_rate_ratio` (the rate over the last quarter against the
    quarter before; 1 for geometric decay, ≈ 0.71 for a power law)."""
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
    local = done["local_rate_ratio"]
    # a run whose loss reaches the rounding floor within a few recorded steps has too few points
    # to compare two quarters: it is counted, not judged
    worst_local = float(local.min()) if local.notna().any() else math.nan
    local_note = (f"{note}; median {float(local.median()):.3g}; {int(local.isna().sum())} runs too short to judge"
                  if local.notna().any() else f"{note}; no run long enough to judge")
    if len(runs) == 0:
        return [_claim(f"linear-rate:{experiment}", experiment, "", note=f"no run with m ≥ {ratio:g}·N")]
    ok = stopped == 0
    return [
        _claim(f"linear-rate:{experiment}", experiment,
               f"GD converges linearly at m ≥ {ratio:g}N: fitted rate of ln L per step ≥ {th['min_rate_ratio']:g} × the theory's −ln(1 − ηλ0/2) (worst run)",
               worst_rel, (">=", th["min_rate_ratio"]), ok and _ge(worst_rel, th["min_rate_ratio"]),
               f"{note}; median ratio {float(rel.median()):.3g}" if len(rel) else note, n=len(runs), kind="bound"),
        _claim(f"linear-not-power:{experiment}", experiment,
               f"the loss decays geometrically, not like a power law, at m ≥ {ratio:g}N: rate of ln L over the last quarter "
               "of training / over the quarter before (1: geometric; ≈ 0.71: a power law), worst run",
               worst_local, (">=", th["min_local_ratio"]), ok and _ge(worst_local, th["min_local_ratio"]),
               local_note, n=int(local.notna().sum()), kind="prediction"),
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
                          rho, ("<", th["max_rho"]), rho < th["max_rho"] and stopped == 0,
                          f"{inside['run_id'].nunique()} runs, γ ∈ {sorted(inside['gamma'].unique().tolist())}; {stopped} stopped",
                          n=inside["run_id"].nunique(), kind="bound"))
    else:
        out.append(_claim("rho-below-1", "gamma", "", note=f"no run with γ ≤ {g:g}"))
    failed = runs[runs["status"] != "completed"]
    first = float(failed["gamma"].min()) if len(failed) else math.inf
    note = (f"failing runs at γ ∈ {sorted(failed['gamma'].unique().tolist())}; sweep γ ∈ [{runs['gamma'].min():g}, {runs['gamma'].max():g}]"
            if len(failed) else f"no run failed in the sweep γ ∈ [{runs['gamma'].min():g}, {runs['gamma'].max():g}]")
    out.append(_claim("first-failing-gamma", "gamma",
                      f"the forward solve first fails at γ ≥ {th['min_failure_gamma']:g} (where ρ(A(0)) ≈ 2γ ≥ 1): smallest γ with a stopped run",
                      first, (">=", th["min_failure_gamma"]), first >= th["min_failure_gamma"], note, n=len(runs),
                      kind="numerics"))
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
        return [_claim(i, "gram", "", note=msg) for i in ("lambda-min-H", "lambda-min-Hv", "gd-envelope")]
    good = good_rows(use)
    lam = float((good["lambda_min_H"] / good["lambda0"]).min())
    lam_v = float((good["lambda_min_Hv"] / good["lambda0"]).min())
    worst_v = good.loc[(good["lambda_min_Hv"] / good["lambda0"]).idxmin()]
    env = envelopes(use)
    env = env[env["step"] > 0]  # equal at k = 0 by construction
    ratio = float((env["train_loss"] / env["envelope_lambda0"]).max())
    n = use["run_id"].nunique()
    note = f"widths {widths} (m ≥ {N_ratio:g}·N), {n} runs, {stopped} stopped"
    return [
        _claim("lambda-min-H", "gram",
               f"λ_min(H(k)) ≥ {th['min_lambda_ratio']:g}·λ0 at every recorded step where m ≥ {N_ratio:g}N: smallest λ_min(H(k))/λ0",
               lam, (">=", th["min_lambda_ratio"]), stopped == 0 and _ge(lam, th["min_lambda_ratio"]), note, n=n,
               kind="bound"),
        _claim("lambda-min-Hv", "gram",
               f"the block the argument needs, λ_min(H^v(k)) = λ_min(Φ(k)Φ(k)ᵀ) ≥ {th['min_lambda_ratio']:g}·λ0 at every "
               f"recorded step where m ≥ {N_ratio:g}N: smallest λ_min(ΦΦᵀ)/λ0",
               lam_v, (">=", th["min_lambda_ratio"]), stopped == 0 and _ge(lam_v, th["min_lambda_ratio"]),
               f"{note}; smallest at m = {int(worst_v['m'])}; per width: "
               + ", ".join(f"m = {m}: {v:.3g}" for m, v in (good["lambda_min_Hv"] / good["lambda0"]).groupby(good["m"]).min().items()),
               n=n, kind="bound"),
        _claim("gd-envelope", "gram",
               f"L(k) ≤ (1 − ηλ0/2)^k·L(0) at every recorded step k ≥ 1 where m ≥ {N_ratio:g}N: largest L(k)/envelope",
               ratio, ("<=", th["max_envelope_ratio"]), stopped == 0 and _le(ratio, th["max_envelope_ratio"]), note, n=n,
               kind="bound"),
    ]


def claim_rate_prediction(df: pd.DataFrame, th: dict) -> list[dict]:
    """The linearised dynamics predict the rate: fitted rate of ln L per step over
    −2 ln(1 − ηλ_min(H(0))) within 1 ± tolerance at m ≥ min_width_ratio·N (median over runs).
    Negative control, expected to fail: the same at m ≤ control_width_ratio·N, where H moves
    during training and the linearisation does not hold."""
    pred = rate_predictions(df)
    lo, hi = 1 - th["tolerance"], 1 + th["tolerance"]
    out = []
    for cid, sel, words, control in (
        ("rate-prediction", pred["m"] >= th["min_width_ratio"] * pred["N"], f"m ≥ {th['min_width_ratio']:g}N", False),
        ("rate-prediction-control", pred["m"] <= th["control_width_ratio"] * pred["N"],
         f"m ≤ {th['control_width_ratio']:g}N", True),
    ):
        r = pred[sel]["rate_ratio"].dropna()
        if r.empty:
            out.append(_claim(cid, "gram", "", note=f"no completed run with {words}"))
            continue
        med = float(r.median())
        inside = lo <= med <= hi
        stopped = int((per_run(df)["status"] != "completed").sum())
        prefix = "negative control (expected to fail): " if control else ""
        out.append(_claim(
            cid, "gram",
            f"{prefix}the fitted rate of ln L per step equals the linearised −2 ln(1 − ηλ_min(H(0))) at {words}: "
            "median ratio fitted/linearised over runs", med,
            ("within", lo, hi), (not inside) if control else inside,
            f"{len(r)} runs at m = {sorted(pred[sel]['m'].unique().tolist())}, ratios {r.min():.3g}–{r.max():.3g}; "
            f"{stopped} stopped runs in the experiment (left out)",
            n=len(r), kind="control" if control else "prediction"))
    return out


def claim_layers_well_posed(df: pd.DataFrame, th: dict) -> list[dict]:
    """Well-posedness along training, per trained subset of the ``layers`` experiment: the
    largest ρ(A(k)) seen at m ≥ min_width_ratio·N stays below max_rho (a run stopped by
    ρ ≥ max_rho counts with the ρ that stopped it)."""
    out = []
    use = df[df["m"] >= th["min_width_ratio"] * df["N"]]
    for subset in sorted(df["trainable"].unique()):
        if "A" not in subset.split("+"):
            continue  # A does not move: ρ(A(k)) = ρ(A(0))
        d = use[use["trainable"] == subset]
        cid = f"rho-below-1:layers:{subset}"
        if d.empty:
            out.append(_claim(cid, "layers", "", note=f"no {subset} run with m ≥ {th['min_width_ratio']:g}·N"))
            continue
        rho = float(d["rho"].max())
        runs = per_run(d)
        crossed = runs[runs["reason"].fillna("").str.startswith("rho(A)")]
        per_m = d.groupby("m")["rho"].max()
        out.append(_claim(
            cid, "layers",
            f"training {subset} with η = ½·2/λ_max(H(0)) keeps ρ(A(k)) < {th['max_rho']:g} at m ≥ {th['min_width_ratio']:g}N: "
            "largest ρ(A(k)) seen", rho, ("<", th["max_rho"]), rho < th["max_rho"],
            f"{len(runs)} runs; {len(crossed)} stopped when ρ reached {th['max_rho']:g}; largest ρ per width: "
            + ", ".join(f"m = {m}: {v:.3g}" for m, v in per_m.items()), n=len(runs), kind="bound"))
    return out


def claim_min_width(df: pd.DataFrame, th: dict) -> list[dict]:
    """The minimal width reaching the target grows at most like N^max_exponent."""
    target, frac = float(df["target"].iloc[0]), float(df["min_fraction"].iloc[0])
    mins = minimal_widths(success_grid(df, target), frac)
    fit = width_exponent(mins)
    pts = ", ".join(f"N={int(r.N)}: " + ("none" if r.censored == "above" else f"{r.m_min:g}" + ("↓" if r.censored else ""))
                    for r in mins.itertuples())
    note = (f"m_min per N ({pts}; ↓ = smallest grid width, an upper bound); "
            f"fit over {fit['n']} N; target L/L(0) ≤ {target:g} for ≥ {frac:g} of the seeds")
    passed = fit["n_above"] == 0 and _le(fit["slope"], th["max_exponent"])
    if fit["n_above"]:
        note += f"; {fit['n_above']} N with no width reaching the target (claim fails)"
    return [_claim("min-width-exponent", "linear-width",
                   "the minimal width reaching the target grows at most linearly in N: fitted exponent of m_min ∝ N^p",
                   fit["slope"], ("<=", th["max_exponent"]), passed if fit["n"] >= 2 else None, note,
                   ci=(fit["low"], fit["high"]), n=df["run_id"].nunique(), kind="bound")]


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
                          fit["slope"], ("<=", th["max_slope"]), _le(fit["slope"], th["max_slope"]) if fit["n"] >= 2 else None,
                          f"{fit['n']} completed runs, widths {sorted(fin['m'].unique().tolist())}; {stopped} stopped (left out)",
                          ci=(fit["low"], fit["high"]), n=fit["n"], kind="bound"))
    return out


def claim_flow(df: pd.DataFrame, th: dict) -> list[dict]:
    """GD → GF as η → 0 (order of the deviation in η) and the GF bound L(t) ≤ e^{−λ0 t}L(0)."""
    dev = gd_gf_deviation(df)
    ok = dev[np.isfinite(dev["deviation"])]
    fit = loglog_slope(ok["lr"], ok["deviation"])
    bad = int(dev["deviation"].isna().sum())
    by_f = ok.groupby("lr_fraction")["deviation"].max().sort_index(ascending=False)
    note = ("max |ln L_GD − ln L_GF| per η/(2/λ_max): " + ", ".join(f"{f:g}: {v:.2g}" for f, v in by_f.items())
            + (f"; {bad} GD runs without a comparison" if bad else ""))
    bound = gf_bound_ratio(df)
    gf = per_run(df[df["method"] == "GF"])
    gf_bad = int((gf["status"] != "completed").sum())
    return [
        _claim("gd-to-gf", "flow",
               "GD approaches gradient flow as η → 0: order p of max_t |ln L_GD(t) − ln L_GF(t)| ∝ η^p (Euler: p = 1)",
               fit["slope"], (">=", th["min_order"]), _ge(fit["slope"], th["min_order"]) and bad == 0 if fit["n"] >= 2 else None, note,
               ci=(fit["low"], fit["high"]), n=len(dev), kind="numerics"),
        _claim("gf-bound", "flow",
               "gradient flow obeys L(t) ≤ e^{−λ0 t}·L(0): largest L(t)/(e^{−λ0 t}L(0)), t > 0",
               bound, ("<=", th["max_bound_ratio"]), gf_bad == 0 and _le(bound, th["max_bound_ratio"]) if len(gf) else None,
               f"{len(gf)} GF solves, {gf_bad} failed", n=len(gf), kind="bound"),
    ]


def claim_flow_long(df: pd.DataFrame, th: dict) -> list[dict]:
    """The long gradient-flow solves of ``flow`` (:func:`~replication.fits.gf_long_summary`).

    ``gf-bound-long`` (bound): L(t) ≤ e^{−λ0 t}L(0) up to λ0·t = horizon at the experiment's
    width: the largest L(t)/(e^{−λ0 t}L(0)) above the floor ≤ max_bound_ratio, and every solve
    covers the horizon (directly, or through the floor and monotonicity).  ``gf-rate`` (prediction):
    the fitted decay rate of ln L over the window against 2λ_min(H(0)), median ratio within
    1 ± rate_tolerance; its CI spans the solves' fit CIs.  ``gf-rate-control`` (control): the same
    at the control width m ≪ N, where H moves and the linearisation should not hold; it passes
    when the median ratio falls outside the band.
    """
    summ = gf_long_summary(df)
    if summ.empty:
        return [_claim(i, "flow", "", note="no long gradient-flow solve (gf_horizon not set)")
                for i in ("gf-bound-long", "gf-rate", "gf-rate-control")]
    out = []
    main = summ[summ["role"] == "prediction"]
    bad = int((main["status"] != "completed").sum())
    if main.empty:
        out.append(_claim("gf-bound-long", "flow", "", note="no prediction-width solve"))
    else:
        horizon = float(main["horizon"].iloc[0])
        worst = float(main["bound_ratio"].max())
        covered = float(main["covered"].min())
        ok = bad == 0 and covered >= horizon * (1 - 1e-9) and _le(worst, th["max_bound_ratio"])
        out.append(_claim(
            "gf-bound-long", "flow",
            f"gradient flow obeys L(t) ≤ e^{{−λ0 t}}·L(0) up to λ0·t = {horizon:g} (m = {int(main['m'].iloc[0])}): "
            "largest L(t)/(e^{−λ0 t}L(0)) above the floor",
            worst, ("<=", th["max_bound_ratio"]), ok,
            f"{len(main)} solves, {bad} failed; stops: {', '.join(main['stop'].astype(str))}; λ0·t covered ≥ {covered:.3g} "
            f"(computed to λ0·t_end = {', '.join(f'{v:.3g}' for v in main['lambda0'] * main['t_end'])}, beyond that "
            f"L ≤ floor·L(0) = {float(main['floor'].iloc[0]):g}·L(0) by monotonicity); holds loosely: at the last point above "
            f"the floor the bound is ×{float(main['slack'].min()):.3g} above L(t)",
            n=len(main), kind="bound"))
    lo, hi = 1 - th["rate_tolerance"], 1 + th["rate_tolerance"]
    for cid, role, control in (("gf-rate", "prediction", False), ("gf-rate-control", "control", True)):
        d = summ[summ["role"] == role]
        r = d["rate_ratio"].dropna()
        if r.empty:
            out.append(_claim(cid, "flow", "", note=f"no completed {role} solve with a fitted rate"))
            continue
        med = float(r.median())
        inside = lo <= med <= hi
        prefix = "negative control (expected to fail): " if control else ""
        m = int(d["m"].iloc[0])
        out.append(_claim(
            cid, "flow",
            f"{prefix}the decay rate of ln L_GF(t) per unit time equals the linearised 2λ_min(H(0)) at m = {m} "
            f"(N = {int(d['N'].iloc[0])}): median ratio fitted/predicted over seeds",
            med, ("within", lo, hi), (not inside) if control else inside,
            f"{len(r)} solves; ratios {', '.join(f'{v:.3g}' for v in r)}; windows "
            + "; ".join(f"{k} t ∈ [{a:.3g}, {b:.3g}] ({int(n)} points)" for k, a, b, n in
                        zip(d["window_kind"], d["t_start_fit"], d["t_stop_fit"], d["points"]))
            + f"; 2λ_min(H(0)) = {', '.join(f'{v:.3g}' for v in d['predicted_rate'])}",
            ci=(float(d["ratio_low"].min()), float(d["ratio_high"].max())), n=len(r),
            kind="control" if control else "prediction"))
    return out


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
                          r["slope"], ("within", lo, hi), bool(lo <= r["slope"] <= hi),
                          f"{int(r['n'])} points (seed × width); {stopped} stopped (left out)",
                          ci=(r["low"], r["high"]), n=int(r["n"]), kind="numerics"))
    return out


def claim_concentration(df: pd.DataFrame, th: dict) -> list[dict]:
    """The width at which the feature Gram concentrates, against N (docs/claims.md).

    ``level`` (½ in the theory) and ``confirm`` are the experiment's, columns of its table.
    Predictions: the width from which each route's criterion holds grows like N^p, p within
    ``<route>_exponent`` ± tolerance — λ_min(ΦΦᵀ) ≥ level·λ0 (the linear-width argument),
    ‖ΦΦᵀ − G∞‖₂ ≤ level·λ0 (matrix Bernstein), ‖ΦΦᵀ − G∞‖_F ≤ level·λ0 (the entrywise route
    of the quadratic-width proofs).  Negative controls, expected to fail: the λ_min criterion
    at one fixed width for every N (it must fail if the width has to grow), and the Frobenius
    criterion at the λ_min route's widths (it must fail if the two routes differ).
    """
    level, tol = float(df["level"].iloc[0]), th["tolerance"]
    thr = concentration_thresholds(df)
    ex = concentration_exponents(thr).set_index("route")
    labels = {"lambda_min": f"λ_min(ΦΦᵀ) ≥ {level:g}·λ0", "spectral": f"‖ΦΦᵀ − G∞‖₂ ≤ {level:g}·λ0",
              "frobenius": f"‖ΦΦᵀ − G∞‖_F ≤ {level:g}·λ0"}
    out = []
    for route, label in labels.items():
        r = ex.loc[route]
        lo, hi = th[f"{route}_exponent"] - tol, th[f"{route}_exponent"] + tol
        note = f"{int(r['n'])} resolved (N, seed) brackets at N = {r['Ns']}; {int(r['n_censored'])} censored (not fitted)"
        out.append(_claim(f"concentration-{route}", "concentration",
                          f"the width from which {label} holds grows like N^p", r["slope"], ("within", lo, hi),
                          bool(lo <= r["slope"] <= hi) if np.isfinite(r["slope"]) else None, note,
                          ci=(r["low"], r["high"]), n=int(r["n"]), kind="prediction"))
    fixed = lambda_min_at_fixed_width(df, thr)
    if fixed["N"].nunique() < 2:
        out.append(_claim("concentration-control-fixed-width", "concentration", "", note="fewer than two N"))
    else:
        big = fixed[fixed["N"] == fixed["N"].max()]
        worst = float(big["value"].min())
        out.append(_claim(
            "concentration-control-fixed-width", "concentration",
            f"negative control (expected to fail): {labels['lambda_min']} at one fixed width m = {big['m'].iloc[0]:g} "
            f"(the λ_min threshold of N = {fixed['N'].min()}) also at N = {fixed['N'].max()}; measured: the smallest "
            "λ_min(ΦΦᵀ)/λ0 there", worst, (">=", level), worst < level,
            f"{len(big)} seeds; median λ_min(ΦΦᵀ)/λ0 at that width per N: "
            + ", ".join(f"{n}: {v:.3g}" for n, v in fixed.groupby("N")["value"].median().items()),
            n=len(big), kind="control"))
    frob = ratio_at_linear_width(df, thr, "frobenius_ratio")
    if frob.empty:
        out.append(_claim("concentration-control-frobenius", "concentration", "", note="no Frobenius ratios at the λ_min route's widths"))
    else:
        best = float(frob["value"].min())
        out.append(_claim(
            "concentration-control-frobenius", "concentration",
            f"negative control (expected to fail): {labels['frobenius']} already at the width where {labels['lambda_min']} "
            "first holds; measured: the smallest ‖ΦΦᵀ − G∞‖_F/λ0 there", best, ("<=", level), best > level,
            f"{len(frob)} (N, seed) points, m/N = {frob['ratio_m_N'].min():.3g}–{frob['ratio_m_N'].max():.3g}; median per N: "
            + ", ".join(f"{n}: {v:.3g}" for n, v in frob.groupby("N")["value"].median().items()),
            n=len(frob), kind="control"))
    return out


#: claim groups: (experiment it reads, config key of its thresholds, function(table, thresholds))
CLAIMS = (
    ("linear-width", "linear_rate", lambda df, th: claim_linear_rate(df, "linear-width", th)),
    ("digits", "linear_rate", lambda df, th: claim_linear_rate(df, "digits", th)),
    ("gamma", "well_posed", claim_well_posed),
    ("gram", "gram", lambda df, th: claim_gram(df, th["min_width_ratio"], th)),
    ("gram", "rate_prediction", claim_rate_prediction),
    ("layers", "layers", claim_layers_well_posed),
    ("linear-width", "min_width", claim_min_width),
    ("lazy", "lazy", claim_lazy),
    ("flow", "flow", claim_flow),
    ("flow", "flow_long", claim_flow_long),
    ("kernel", "kernel", claim_kernel),
    ("concentration", "concentration", claim_concentration),
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
    table = pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))
    table["n"] = table["n"].astype("Int64")  # whole numbers, empty where not applicable
    return table


def _fmt(x) -> str:
    if isinstance(x, str):
        return x
    if x is None or not np.isfinite(x):
        return "—" if x is None or np.isnan(x) else ("∞" if x > 0 else "−∞")
    return f"{x:.3g}"


def threshold_text(op: str, low, high) -> str:
    """The test of a claim row as text: "<= -0.25", ">= 1", "within [-0.75, -0.25]" ("" if none)."""
    if not op:
        return ""
    return f"within [{_fmt(low)}, {_fmt(high)}]" if op == "within" else f"{op} {_fmt(low)}"


def ci_text(low, high) -> str:
    """"[low, high]", or "" when the measured value has no interval."""
    return f"[{_fmt(low)}, {_fmt(high)}]" if np.isfinite(low) and np.isfinite(high) else ""


def looseness(r: dict) -> str:
    """"holds loosely: ×F" for a passing ``bound`` whose measured value is F ≥ 3 times inside
    its threshold (measured/threshold for ≥, threshold/measured for < and ≤, both positive):
    such a row could hardly have failed at these sizes."""
    if r["kind"] != "bound" or r["pass"] is not True or r["operator"] not in ("<", "<=", ">="):
        return ""
    x, t = r["measured"], r["threshold"]
    if not (np.isfinite(x) and np.isfinite(t) and x > 0 and t > 0):
        return ""
    factor = x / t if r["operator"] == ">=" else t / x
    return f"holds loosely: ×{factor:.3g}" if factor >= 3 else ""


def result_text(r: dict) -> str:
    """pass / FAIL, and for a control what it means: the claim failed as expected, or it held
    (the control does not discriminate); the status for a row not evaluated."""
    if r["pass"] is True:
        return "pass (fails as expected)" if r["kind"] == "control" else "pass"
    if r["pass"] is False:
        return "FAIL (holds: not discriminating)" if r["kind"] == "control" else "FAIL"
    return r["status"]


def _counts(claims: pd.DataFrame) -> tuple[int, int, int]:
    n_pass = int((claims["pass"] == True).sum())  # noqa: E712  (column mixes bool and "")
    n_fail = int((claims["pass"] == False).sum())  # noqa: E712
    return n_pass, n_fail, len(claims) - n_pass - n_fail


def claims_markdown(claims: pd.DataFrame, title: str = "Claims") -> str:
    """A short markdown table of :func:`evaluate_claims`' result, pass/fail/not evaluated per row."""
    n_pass, n_fail, n_other = _counts(claims)
    lines = [f"# {title}", "",
             f"{n_pass} pass, {n_fail} fail, {n_other} not evaluated. Thresholds come from the `claims` block of the "
             "configuration (set before the runs); a failing claim is reported here and does not stop the workflow. "
             "Columns: docs/claims.md.", "",
             "Kinds: `bound` (a theorem's inequality, possibly loose), `prediction` (a value the theory predicts, "
             "two-sided where it is a value), `numerics` (a check of our own solvers), `control` (a regime where the "
             "claim is expected to fail: the row passes when it does). Margin: distance from the threshold in "
             "half-widths of the 95% CI (positive: the inequality holds).", "",
             "| claim | kind | result | measured | test | 95% CI | margin | n | statement | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in claims.to_dict("records"):
        result = result_text(r)
        result = f"**{result}**" if r["pass"] in (True, False) else result
        loose = looseness(r)
        cells = [f"`{r['id']}`", r["kind"], result + (f" — {loose}" if loose else ""), _fmt(r["measured"]),
                 threshold_text(r["operator"], r["threshold"], r["threshold_high"]), ci_text(r["ci_low"], r["ci_high"]),
                 _fmt(r["margin"]) if np.isfinite(r["margin"]) else "", "" if pd.isna(r["n"]) else int(r["n"]),
                 r["statement"], r["note"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


#: style of :func:`claims_html` (the page is shown on its own inside the Snakemake report)
_HTML_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px; margin: 1em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em 0; }
p.summary span { display: inline-block; padding: .15em .6em; border-radius: .8em; margin-right: .4em; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .35em .5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.result { font-weight: 700; text-align: center; white-space: nowrap; width: 6em; }
td code { white-space: nowrap; }
.pass { background: #d8f3dc; color: #1b5e20; }
.fail { background: #ffd6d6; color: #b71c1c; }
.other { background: #eeeeee; color: #555; }
.error { background: #ffe5b4; color: #8a4b00; }
td.note { color: #555; font-size: .9em; }
code { font-size: .95em; }
"""


def claims_html(claims: pd.DataFrame, figures: dict | None = None, title: str = "Claims") -> str:
    """The claims table as a standalone HTML page (results/claims.html, shown in the report).

    One row per claim: the result in a coloured cell (pass green, FAIL red, not evaluated grey,
    error orange), the claim, its experiment and figure (``figures[experiment]``, "—" when the
    experiment did not run), the measured value, the test, the 95% CI, the number of runs, the
    statement and the note.
    """
    from html import escape

    figures = figures or {}
    n_pass, n_fail, n_other = _counts(claims)
    rows = []
    for r in claims.to_dict("records"):
        result = result_text(r)
        if r["pass"] is True:
            cls = "pass"
        elif r["pass"] is False:
            cls = "fail"
        else:
            cls = "error" if r["status"] == "error" else "other"
        loose = looseness(r)
        figure = figures.get(r["experiment"])
        cells = [
            f'<td class="result {cls}">{escape(result)}' + (f"<br><small>{escape(loose)}</small>" if loose else "") + "</td>",
            "<td><code>" + "</code>:<wbr><code>".join(map(escape, r["id"].split(":"))) + "</code></td>",
            f"<td>{escape(r['kind'])}</td>",
            f"<td>{escape(r['experiment'])}<br><small>{escape(figure) if figure else '—'}</small></td>",
            f'<td class="num" title="{escape(repr(r["measured"]))}">{escape(_fmt(r["measured"]))}</td>',
            f'<td class="num">{escape(threshold_text(r["operator"], r["threshold"], r["threshold_high"]))}</td>',
            f'<td class="num">{escape(ci_text(r["ci_low"], r["ci_high"]))}</td>',
            f'<td class="num">{escape(_fmt(r["margin"])) if np.isfinite(r["margin"]) else ""}</td>',
            f'<td class="num">{"" if pd.isna(r["n"]) else int(r["n"])}</td>',
            f"<td>{escape(r['statement'])}</td>",
            f'<td class="note">{escape(r["note"])}</td>',
        ]
        rows.append(f'<tr id="{escape(r["id"])}">' + "".join(cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("result", "claim", "kind", "experiment / figure", "measured", "test",
                                               "95% CI", "margin", "n", "statement", "note"))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
            f"<style>{_HTML_STYLE}</style>\n</head>\n<body>\n<h1>{escape(title)}</h1>\n"
            f'<p class="summary"><span class="pass">{n_pass} pass</span><span class="fail">{n_fail} fail</span>'
            f'<span class="other">{n_other} not evaluated</span></p>\n'
            "<p>Each claim of the paper tested on the aggregated CSVs: pass when <i>measured</i> satisfies the "
            "<i>test</i>, whose threshold comes from the <code>claims</code> block of the configuration (fixed before "
            "the runs). Kinds: bound (a theorem's inequality, possibly loose), prediction (a value the theory "
            "predicts), numerics (a check of our own solvers), control (a regime where the claim is expected to fail: "
            "the row passes when it does). 95% CI: the interval of a fitted value; margin: the distance from the "
            "threshold in CI half-widths; n: the runs it comes from. A failing claim does not stop the workflow. "
            "Columns and what would falsify each claim: docs/claims.md.</p>\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n</body>\n</html>\n")


def claims_job(csv_paths, thresholds: dict, log) -> tuple[pd.DataFrame, str, str]:
    """Rule ``claims``: the claims table, its markdown and its HTML page from the aggregated CSVs
    (:func:`replication.claims.evaluate_claims`); failing claims do not fail the job."""
    from .integrity import verify

    tables = {Path(p).stem: pd.read_csv(verify(p)) for p in csv_paths}
    table = evaluate_claims(tables, dict(thresholds))
    for r in table.itertuples(index=False):
        log.info("%s: %s measured=%s %s %s", r.id, r.status, r.measured,
                 threshold_text(r.operator, r.threshold, r.threshold_high), r.note)
    figures = {name: f"figures/{name}.png" for name in tables}
    return table, claims_markdown(table), claims_html(table, figures)
