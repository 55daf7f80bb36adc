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

from .arms import is_linear_arm
from .fits import (
    INVARIANT_LABELS, INVARIANTS, invariant_slopes, invariant_summaries,
    concentration_exponents, concentration_thresholds, drift_exponent, envelopes, final_rows, gd_gf_deviation, gf_bound_ratio,
    gf_long_summary, good_rows, kernel_slopes, lambda_min_at_fixed_width, loglog_slope, per_run,
    rate_predictions, ratio_at_linear_width, rho_drifts, theory_rate,
    OUTCOMES, bracket_exponent, run_outcomes, width_brackets,
)
from implicit.model import BLOCKS


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


#: how a control row's statement begins
CONTROL_PREFIX = "negative control (expected to fail): "


def _control_parts(control: bool) -> tuple[str, str]:
    """(id suffix, statement prefix) of a row evaluated as a negative control, or ("", "")."""
    return ("-control", CONTROL_PREFIX) if control else ("", "")


def _control_pass(holds: bool, control: bool) -> bool:
    """A claim row passes when its inequality holds; a control row passes when it does not."""
    return (not holds) if control else holds


def _le(x, thr):
    return bool(np.isfinite(x) and x <= thr)


def _ge(x, thr):
    return bool(np.isfinite(x) and x >= thr)


def _linear_rate_rows(runs: pd.DataFrame, experiment: str, th: dict, where: str, control: bool) -> list[dict]:
    """The two rows of :func:`claim_linear_rate` over the runs ``runs`` (``where`` names them,
    e.g. "m ≥ 1N"); as negative controls (ids ``…-control``) when ``control``."""
    suffix, prefix = _control_parts(control)
    ids = (f"linear-rate:{experiment}{suffix}", f"linear-not-power:{experiment}{suffix}")
    if len(runs) == 0:
        return [_claim(i, experiment, "", note=f"no run with {where}") for i in ids]
    stopped = int((runs["status"] != "completed").sum())
    done = runs[runs["status"] == "completed"]
    rel = done["rate"] / theory_rate(done["lr"], done["lambda0"])
    note = f"{len(runs)} runs with {where} (m ∈ {sorted(runs['m'].unique().tolist())})"
    note = f"{note}; {stopped} stopped early (counted as failing)" if stopped else note
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
    ok = stopped == 0
    holds_rate = ok and _ge(worst_rel, th["min_rate_ratio"])
    holds_local = ok and _ge(worst_local, th["min_local_ratio"])
    return [
        _claim(ids[0], experiment,
               f"{prefix}GD converges linearly at {where}: fitted rate of ln L per step ≥ {th['min_rate_ratio']:g} × the "
               "theory's −ln(1 − ηλ0/2) (worst run)",
               worst_rel, (">=", th["min_rate_ratio"]), _control_pass(holds_rate, control),
               f"{note}; median ratio {float(rel.median()):.3g}" if len(rel) else note, n=len(runs),
               kind="control" if control else "bound"),
        _claim(ids[1], experiment,
               f"{prefix}the loss decays geometrically, not like a power law, at {where}: rate of ln L over the last "
               "quarter of training / over the quarter before (1: geometric; ≈ 0.71: a power law), worst run",
               worst_local, (">=", th["min_local_ratio"]), _control_pass(holds_local, control),
               local_note, n=int(local.notna().sum()), kind="control" if control else "prediction"),
    ]


def claim_linear_rate(df: pd.DataFrame, experiment: str, th: dict) -> list[dict]:
    """Linear convergence once m ≥ ratio·N: the smallest fitted rate relative to the theory's
    −ln(1 − ηλ0/2) (a bound), and linear rather than power-law decay: the smallest
    :func:`~replication.fits.local_rate_ratio` (the rate over the last quarter against the
    quarter before; 1 for geometric decay, ≈ 0.71 for a power law).

    With ``control_width_ratio`` in ``th``, the same two rows at m ≤ control_width_ratio·N are
    negative controls (ids ``…-control``): far below N the theorem gives nothing, so a row that
    holds there too is reported as not discriminating.
    """
    runs = per_run(df)
    ratio = th["min_width_ratio"]
    out = _linear_rate_rows(runs[runs["m"] >= ratio * runs["N"]], experiment, th, f"m ≥ {ratio:g}N", False)
    if "control_width_ratio" in th:
        c = th["control_width_ratio"]
        out += _linear_rate_rows(runs[runs["m"] <= c * runs["N"]], experiment, th, f"m ≤ {c:g}N", True)
    return out


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
    if "control_gamma" in th:
        out.append(_well_posed_control(df, th))
    failed = runs[runs["status"] != "completed"]
    first = float(failed["gamma"].min()) if len(failed) else math.inf
    note = (f"failing runs at γ ∈ {sorted(failed['gamma'].unique().tolist())}; sweep γ ∈ [{runs['gamma'].min():g}, {runs['gamma'].max():g}]"
            if len(failed) else f"no run failed in the sweep γ ∈ [{runs['gamma'].min():g}, {runs['gamma'].max():g}]")
    out.append(_claim("first-failing-gamma", "gamma",
                      f"the forward solve first fails at γ ≥ {th['min_failure_gamma']:g} (where ρ(A(0)) ≈ 2γ ≥ 1): smallest γ with a stopped run",
                      first, (">=", th["min_failure_gamma"]), first >= th["min_failure_gamma"], note, n=len(runs),
                      kind="numerics"))
    return out


def _well_posed_control(df: pd.DataFrame, th: dict) -> dict:
    """The negative control of :func:`claim_well_posed`: the same statement for γ ≥ control_gamma,
    where ρ(A(0)) ≈ 2γ > 1 already at initialisation (expected to fail; measured as the claim is,
    the largest ρ seen; the note gives the smallest per-run largest ρ, i.e. whether every run crossed)."""
    g = th["control_gamma"]
    cid = "rho-below-1-control"
    above = df[df["gamma"] >= g]
    if above.empty:
        return _claim(cid, "gamma", "", note=f"no run with γ ≥ {g:g}")
    # a run that stops at step 0 has its ρ(A(0)) on its failure row: every row counts here
    per_run_max = above.groupby("run_id")["rho"].max()
    rho = float(per_run_max.max())
    stopped = int((per_run(above)["status"] != "completed").sum())
    holds = rho < th["max_rho"]
    return _claim(cid, "gamma",
                  f"{CONTROL_PREFIX}ρ(A(k)) < {th['max_rho']:g} at every step for γ ≥ {g:g} (outside "
                  "the theory's range; ρ(A(0)) ≈ 2γ): largest ρ seen",
                  rho, ("<", th["max_rho"]), not holds,
                  f"{len(per_run_max)} runs, γ ∈ {sorted(above['gamma'].unique().tolist())}; {stopped} stopped; smallest "
                  f"per-run largest ρ {float(per_run_max.min()):.3g} ({int((per_run_max >= th['max_rho']).sum())} of "
                  f"{len(per_run_max)} runs reach {th['max_rho']:g})", n=len(per_run_max), kind="control")


def _gram_rows(df: pd.DataFrame, use: pd.DataFrame, where: str, th: dict, control: bool) -> list[dict]:
    """The three rows of :func:`claim_gram` over the trace rows ``use`` (``where`` names them,
    e.g. "m ≥ 1N"); as negative controls (ids ``…-control``) when ``control``."""
    suffix, prefix = _control_parts(control)
    ids = [f"{i}{suffix}" for i in ("lambda-min-H", "lambda-min-Hv", "gd-envelope")]
    kind = "control" if control else "bound"
    if use.empty:
        msg = f"no width with {where} among {sorted(per_run(df)['m'].unique().tolist())}"
        return [_claim(i, "gram", "", note=msg) for i in ids]
    widths = sorted(use["m"].unique().tolist())
    stopped = int((per_run(use)["status"] != "completed").sum())
    good = good_rows(use)
    lam = float((good["lambda_min_H"] / good["lambda0"]).min())
    rel_v = good["lambda_min_Hv"] / good["lambda0"]
    lam_v = float(rel_v.min())
    worst_v = good.loc[rel_v.idxmin()]
    env = envelopes(use)
    env = env[env["step"] > 0]  # equal at k = 0 by construction
    ratio = float((env["train_loss"] / env["envelope_lambda0"]).max())
    n = use["run_id"].nunique()
    note = f"widths {widths} ({where}), {n} runs, {stopped} stopped"
    holds = (stopped == 0 and _ge(lam, th["min_lambda_ratio"]), stopped == 0 and _ge(lam_v, th["min_lambda_ratio"]),
             stopped == 0 and _le(ratio, th["max_envelope_ratio"]))
    passed = [_control_pass(h, control) for h in holds]
    return [
        _claim(ids[0], "gram",
               f"{prefix}λ_min(H(k)) ≥ {th['min_lambda_ratio']:g}·λ0 at every recorded step where {where}: smallest "
               "λ_min(H(k))/λ0",
               lam, (">=", th["min_lambda_ratio"]), passed[0], note, n=n, kind=kind),
        _claim(ids[1], "gram",
               f"{prefix}the block the argument needs, λ_min(H^v(k)) = λ_min(Φ(k)Φ(k)ᵀ) ≥ {th['min_lambda_ratio']:g}·λ0 at "
               f"every recorded step where {where}: smallest λ_min(ΦΦᵀ)/λ0",
               lam_v, (">=", th["min_lambda_ratio"]), passed[1],
               f"{note}; smallest at m = {int(worst_v['m'])}; per width: "
               + ", ".join(f"m = {m}: {v:.3g}" for m, v in rel_v.groupby(good["m"]).min().items()),
               n=n, kind=kind),
        _claim(ids[2], "gram",
               f"{prefix}L(k) ≤ (1 − ηλ0/2)^k·L(0) at every recorded step k ≥ 1 where {where}: largest L(k)/envelope",
               ratio, ("<=", th["max_envelope_ratio"]), passed[2], note, n=n, kind=kind),
    ]


def claim_gram(df: pd.DataFrame, N_ratio: float, th: dict) -> list[dict]:
    """λ_min(H(k)) ≥ min_lambda_ratio·λ0 along training, λ_min(Φ(k)Φ(k)ᵀ) likewise, and L(k)
    under the (1 − ηλ0/2)^k envelope, at the widths where the theory is taken to apply
    (m ≥ N_ratio·N).

    With ``control_width_ratio`` in ``th``, the same three rows at m ≤ control_width_ratio·N
    are negative controls (ids ``…-control``).  There rank(ΦΦᵀ) ≤ m < N forces the H^v row to
    fail; the H row (dominated by the W block) and the envelope are expected to fail only if
    the bound needs the width, and a control that holds is reported as not discriminating.
    """
    out = _gram_rows(df, df[df["m"] >= N_ratio * df["N"]], f"m ≥ {N_ratio:g}N", th, False)
    if "control_width_ratio" in th:
        c = th["control_width_ratio"]
        out += _gram_rows(df, df[df["m"] <= c * df["N"]], f"m ≤ {c:g}N", th, True)
    return out


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
        prefix = CONTROL_PREFIX if control else ""
        out.append(_claim(
            cid, "gram",
            f"{prefix}the fitted rate of ln L per step equals the linearised −2 ln(1 − ηλ_min(H(0))) at {words}: "
            "median ratio fitted/linearised over runs", med,
            ("within", lo, hi), _control_pass(inside, control),
            f"{len(r)} runs at m = {sorted(pred[sel]['m'].unique().tolist())}, ratios {r.min():.3g}–{r.max():.3g}; "
            f"{stopped} stopped runs in the experiment (left out)",
            n=len(r), kind="control" if control else "prediction"))
    return out


def claim_layers_well_posed(df: pd.DataFrame, th: dict) -> list[dict]:
    """Well-posedness along training, per trained subset of the ``layers`` experiment: the
    largest ρ(A(k)) seen at m ≥ min_width_ratio·N stays below max_rho (a run stopped by
    ρ ≥ max_rho counts with the ρ that stopped it).

    A subset listed in ``control_subsets`` (e.g. [[A]]) gives a negative control instead, id
    ``rho-crosses-1:layers:<subset>``: trained alone with its own step ½·2/λ_max of its Gram
    block, A takes steps far larger than the all-blocks step the theorem assumes, its
    movement is not bounded by the lazy-training argument, and ρ(A(k)) is expected to reach
    max_rho; the row passes when it does."""
    out = []
    use = df[df["m"] >= th["min_width_ratio"] * df["N"]]
    controls = {"+".join(b for b in BLOCKS if b in sub) for sub in th.get("control_subsets", [])}
    for subset in sorted(df["trainable"].unique()):
        if subset in controls:
            out.append(_layers_control(use, subset, th))
            continue
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


#: the arms of ``linear-width`` the min-width claims read, by their ``trainable`` value
UV, AUV, ALL = "u+v", "A+u+v", "A+W+u+v"


def _bracket_text(b) -> str:
    def one(r):
        lo = "—" if math.isnan(r.m_fail) else f"{r.m_fail:g}"
        hi = "—" if math.isnan(r.m_pass) else f"{r.m_pass:g}"
        tag = {"left": " left-censored", "right": " right-censored"}.get(r.censored, "")
        return f"N={r.N}: ({lo}, {hi}]{tag}"
    return "; ".join(one(r) for r in b.itertuples())


def _layers_control(use: pd.DataFrame, subset: str, th: dict) -> dict:
    """The negative-control row of :func:`claim_layers_well_posed` for one trained subset."""
    cid = f"rho-crosses-1:layers:{subset}"
    d = use[use["trainable"] == subset]
    if d.empty:
        return _claim(cid, "layers", "", note=f"no {subset} run with m ≥ {th['min_width_ratio']:g}·N")
    rho = float(d["rho"].max())
    runs = per_run(d)
    crossed = runs[runs["reason"].fillna("").str.startswith("rho(A)")]
    per_m = d.groupby("m")["rho"].max()
    return _claim(
        cid, "layers",
        f"{CONTROL_PREFIX}training {subset} alone with its own η = ½·2/λ_max(H^{subset}(0)), far "
        f"larger than the all-blocks step the theorem assumes, keeps ρ(A(k)) < {th['max_rho']:g} at m ≥ "
        f"{th['min_width_ratio']:g}N; measured: largest ρ(A(k)) seen",
        rho, ("<", th["max_rho"]), not rho < th["max_rho"],
        f"{len(runs)} runs; {len(crossed)} stopped when ρ reached {th['max_rho']:g}; largest ρ per width: "
        + ", ".join(f"m = {m}: {v:.3g}" for m, v in per_m.items()), n=len(runs), kind="control")


def claim_boundary(df: pd.DataFrame, th: dict) -> list[dict]:
    """Well-posedness near its boundary (experiment ``boundary``: γ up to ρ(A(0)) ≈ 0.95, widths
    from below N to several N, one step η per γ).

    Rows, all over the runs with m ≥ min_width_ratio·N:

    * ``boundary-rho-below-1`` (bound): the largest ρ(A(k)) of any step of any run stays below
      max_rho (a stopped run counts as failing);
    * ``boundary-drift-bound`` (bound): the exponent s of max_k |ρ(A(k)) − ρ(A(0))| ∝ m^s
      (:func:`~replication.fits.drift_exponent`, pooled over γ) is at most bound_exponent —
      lazy training moves A by ‖ΔA‖_F = O(1), and Weyl's inequality gives |Δρ| ≤ γ‖ΔA‖₂/√m,
      so s ≤ −½;
    * ``boundary-drift-exponent`` (prediction): s within drift_exponent ± tolerance — the
      first-order change of the top singular value, γ/√m·p₁ᵀΔA q₁, with ΔA = Σ (γ/√m) b zᵀ and
      generic top singular vectors p₁, q₁ (p₁ᵀb = O(1), zᵀq₁ = O(m^{−½})), gives s = −3/2.

    With ``control_width_ratio`` in ``th``, the two bound rows over the runs with
    m ≤ control_width_ratio·N are negative controls (``…-control``): below N the lazy argument
    behind them does not apply, so they are expected to fail there; one that holds is reported
    as not discriminating.
    """
    ratio = th["min_width_ratio"]
    out = _boundary_rows(df[df["m"] >= ratio * df["N"]], f"m ≥ {ratio:g}N", th, control=False)
    if "control_width_ratio" in th:
        c = th["control_width_ratio"]
        out += _boundary_rows(df[df["m"] <= c * df["N"]], f"m ≤ {c:g}N", th, control=True)
    return out


def _boundary_rows(use: pd.DataFrame, where_m: str, th: dict, control: bool) -> list[dict]:
    """The rows of :func:`claim_boundary` over the runs ``use`` (``where_m`` names them): the
    two bounds and the prediction, or as controls the two bounds only."""
    suffix, prefix = _control_parts(control)
    ids = [f"boundary-rho-below-1{suffix}", f"boundary-drift-bound{suffix}"] + ([] if control else ["boundary-drift-exponent"])
    if use.empty:
        return [_claim(i, "boundary", "", note=f"no run with {where_m}") for i in ids]
    drifts = rho_drifts(use)
    stopped = int((drifts["status"] != "completed").sum())
    rho = float(use["rho"].max())
    widths = sorted(drifts["m"].unique().tolist())
    gammas = sorted(drifts["gamma"].unique().tolist())
    worst = drifts.loc[drifts["rho_max"].idxmax()]
    where = f"{len(drifts)} runs, m ∈ {widths} ({where_m}), γ ∈ {gammas}"
    holds = stopped == 0 and rho < th["max_rho"]
    kind = "control" if control else "bound"
    out = [_claim(
        ids[0], "boundary",
        f"{prefix}ρ(A(k)) < {th['max_rho']:g} at every step of every run with {where_m} up to ρ(A(0)) = "
        f"{drifts['rho0'].max():.3g}: largest ρ(A(k)) seen",
        rho, ("<", th["max_rho"]), _control_pass(holds, control),
        f"{where}; {stopped} stopped (counted as failing); largest at m = {int(worst['m'])}, γ = {worst['gamma']:g} "
        f"(ρ(0) = {worst['rho0']:.4g}, drift {worst['drift']:+.2g}); largest drift max_k ρ(k) − ρ(0): "
        f"{drifts['drift'].max():.2g}", n=len(drifts), kind=kind)]
    fit = drift_exponent(drifts)
    lo, hi = th["drift_exponent"] - th["tolerance"], th["drift_exponent"] + th["tolerance"]
    med = drifts[drifts["status"] == "completed"].groupby("m")["abs_drift"].median()
    note = (f"{where}; fit over {fit['n']} completed runs, one intercept per γ; median |drift| per width: "
            + ", ".join(f"m = {m}: {v:.2g}" for m, v in med.items()) + (f"; {stopped} stopped (left out)" if stopped else ""))
    ok = np.isfinite(fit["slope"])
    bound_holds = _le(fit["slope"], th["bound_exponent"]) and stopped == 0
    out.append(_claim(
        ids[1], "boundary",
        f"{prefix}the drift of ρ decays at least as fast as lazy training bounds it, at {where_m}: max_k |ρ(A(k)) − ρ(A(0))| "
        f"∝ m^s with s ≤ {th['bound_exponent']:g} (Weyl: |Δρ| ≤ γ‖ΔA‖₂/√m, ‖ΔA‖ = O(1)); measured: fitted s",
        fit["slope"], ("<=", th["bound_exponent"]), _control_pass(bound_holds, control) if ok else None,
        note, ci=(fit["low"], fit["high"]), n=fit["n"], kind=kind))
    if not control:
        out.append(_claim(
            ids[2], "boundary",
            f"the drift of ρ scales like the first-order change of a generic top singular value: max_k |ρ(A(k)) − ρ(A(0))| "
            f"∝ m^s with s = {th['drift_exponent']:g} ± {th['tolerance']:g}; measured: fitted s",
            fit["slope"], ("within", lo, hi), bool(lo <= fit["slope"] <= hi) if ok else None,
            note, ci=(fit["low"], fit["high"]), n=fit["n"], kind="prediction"))
    return out


def _uv_brackets_row(br: pd.DataFrame) -> dict:
    """``min-width-uv-brackets``: the fraction of resolved N whose u,v bracket (m_fail, m_pass]
    contains the rank threshold ⌈N/2⌉ or ⌈N/2⌉ + 1.

    Rank [Z, Φ] ≤ 2m makes m ≥ ⌈N/2⌉ necessary; it is not always enough: an equilibrium unit j
    active on all N samples has z_j = γ̃·Za_j + φ_j, so φ_j ∈ span(Z) and [Z, Φ] loses one rank
    per such unit.  At N = 16, seed 0 of the default data (random-wide-n16), the square case
    2m = N has three such units and rank 13 < 16, while m = 9 has full rank
    (docs/claims.md), so the threshold is ⌈N/2⌉ or, in such a case, one more.  A bracket that
    contains neither — a failing width at m > ⌈N/2⌉ + 1 or a passing width below ⌈N/2⌉ — fails.
    """
    b = br[(br["trainable"] == UV) & (br["censored"] == "")]
    if b.empty:
        return _claim("min-width-uv-brackets", "linear-width", "", note="no resolved u,v bracket")
    half = np.ceil(b["N"] / 2)
    contains = ((b["m_fail"] < half) & (half <= b["m_pass"])) | ((b["m_fail"] < half + 1) & (half + 1 <= b["m_pass"]))
    return _claim("min-width-uv-brackets", "linear-width",
                  "positive control (must pass): the u,v brackets (m_fail, m_pass], from GD's exact trajectory (closed "
                  "form, no cap; checked against the engine by uv-closed-form), contain the rank threshold ⌈N/2⌉ or "
                  "⌈N/2⌉ + 1 (the square case 2m = N can be singular: docs/claims.md); measured: the fraction of "
                  "resolved N whose bracket does",
                  float(contains.mean()), (">=", 1.0), bool(contains.all()),
                  f"brackets {_bracket_text(br[br['trainable'] == UV])}", n=len(b), kind="numerics")


def _closed_form_row(df: pd.DataFrame, tol: float) -> dict:
    """``uv-closed-form``: the engine's GD losses of the linear-arm runs (u and/or v trained)
    equal the closed form L(k) = ½ Σᵢ cᵢ²(1 − ηλᵢ)^{2k} of their exact trajectory.

    Measured: the largest |train_loss − exact_train_loss| / L(0) over every recorded
    (non-failure) row of those runs, L(0) the run's engine loss at step 0.  A recorded row
    without a closed-form value (or a linear run without the column) makes the row fail: the
    outcome it vouches for would be unchecked there."""
    cid = "uv-closed-form"
    lin = good_rows(df[df["trainable"].map(is_linear_arm)])
    if lin.empty:
        return _claim(cid, "linear-width", "", note="no u,v runs in this configuration")
    if "exact_train_loss" not in lin:
        return _claim(cid, "linear-width", "", note="no exact_train_loss column (runs older than the closed form)")
    L0 = lin.sort_values("step").groupby("run_id")["train_loss"].transform("first")
    dev = ((lin["train_loss"] - lin["exact_train_loss"]).abs() / L0.reindex(lin.index)).to_numpy(dtype=float)
    missing = int((~np.isfinite(dev)).sum())
    worst = float(np.nanmax(dev)) if np.isfinite(dev).any() else math.nan
    runs = lin.drop_duplicates("run_id")
    at = lin.iloc[int(np.nanargmax(dev))] if np.isfinite(dev).any() else None
    where = f" (run {at['run_id']}, step {int(at['step'])})" if at is not None else ""
    note = (f"{len(lin)} recorded rows of {len(runs)} runs; largest deviation{where}; median {float(np.nanmedian(dev)):.2g}"
            if at is not None else f"{len(lin)} recorded rows without a closed-form value")
    if missing:
        note += f"; {missing} rows without a closed-form value (counted as failing)"
    return _claim(cid, "linear-width",
                  f"the engine's GD losses of the u,v arm follow GD's exact trajectory: with A, W fixed the model is linear, "
                  f"so L(k) = ½ Σᵢ cᵢ²(1 − ηλᵢ)^{{2k}} (H(0) = QΛQᵀ, c = Qᵀr(0)); measured: largest |L_engine(k) − L(k)|/L(0) "
                  f"over the recorded steps",
                  worst, ("<=", tol), missing == 0 and _le(worst, tol), note, n=len(runs), kind="numerics")


def claim_min_width(df: pd.DataFrame, th: dict) -> list[dict]:
    """Minimal widths of the ``linear-width`` arms against N (docs/claims.md).

    Per arm, brackets (m_fail, m_pass] per N (:func:`~replication.fits.width_brackets`) and the
    exponent of m_min ∝ N^p fitted to the resolved brackets only
    (:func:`~replication.fits.bracket_exponent`; the CI includes the grid's resolution).
    The u,v arm's runs are decided by GD's exact trajectory (closed form, no cap:
    :func:`~replication.fits.run_outcomes`), and ``uv-closed-form`` checks that the engine's
    recorded u,v losses follow that closed form.

    Rows: the u,v arm's exponent against ``uv_exponent`` ± tolerance and whether its brackets
    contain the rank threshold (a positive control of the procedure: rank of [Z, Φ] — it must
    pass; see :func:`_uv_brackets_row`); ``uv-closed-form`` (numerics): the largest
    |train_loss − exact_train_loss|/L(0) over the recorded rows of linear-arm runs ≤
    ``closed_form_tol``; the [A,u,v] arm's exponent within [Auv_low − tol, Auv_high + tol]
    (parameter count ½, sufficiency of linear width 1); the all-blocks arm's exponent ≤
    all_high + tol; and a negative control: the u,v exponent within control_exponent ± tol,
    expected to fail.
    """
    target, frac = float(df["target"].iloc[0]), float(df["min_fraction"].iloc[0])
    out_runs = run_outcomes(df, target, float(df["singular_tol"].iloc[0]))
    br = width_brackets(out_runs, frac)
    tol = th["tolerance"]
    out = []

    def fit_row(cid, arm, statement, threshold, kind, control=False):
        b = br[br["trainable"] == arm]
        if b.empty:
            return _claim(cid, "linear-width", "", note=f"no {arm} runs in this configuration")
        fit = bracket_exponent(b)
        runs = out_runs[out_runs["trainable"] == arm]
        note = (f"fit of ln √(m_fail·m_pass) on ln N over the {fit['n']} resolved brackets only (N = {fit['Ns']}); "
                f"CI = t-interval ∪ slopes of lines through every bracket [{_fmt(fit['feasible_low'])}, "
                f"{_fmt(fit['feasible_high'])}]; {fit['n_left']} left-, {fit['n_right']} right-censored N (not fitted); "
                f"brackets {_bracket_text(b)}; runs: " + ", ".join(f"{k} {int((runs['outcome'] == k).sum())}" for k in OUTCOMES)
                + f"; target L/L(0) ≤ {target:g} for ≥ {frac:g} of the seeds")
        if fit["n"] < 2 or not np.isfinite(fit["slope"]):
            return _claim(cid, "linear-width", statement, note="fewer than two resolved brackets: " + note,
                          status="not evaluated", kind=kind)
        holds = _holds(threshold[0], fit["slope"], threshold[1], threshold[2] if len(threshold) > 2 else math.nan)
        return _claim(cid, "linear-width", statement, fit["slope"], threshold, _control_pass(holds, control), note,
                      ci=(fit["low"], fit["high"]), n=len(runs), kind=kind)

    p = th["uv_exponent"]
    out.append(fit_row("min-width-uv", UV,
                       "positive control of the width-finding procedure (must pass): training u, v only is least squares on "
                       "[Z, Φ] (N×2m), so m_min ≈ ⌈N/2⌉; each run's outcome is GD's exact trajectory (closed form, no step "
                       "cap; the engine run is checked against it by uv-closed-form); fitted exponent of m_min ∝ N^p",
                       ("within", p - tol, p + tol), "numerics"))
    out.append(_uv_brackets_row(br))
    out.append(_closed_form_row(df, th["closed_form_tol"]))
    lo, hi = th["Auv_low"], th["Auv_high"]
    out.append(fit_row("min-width-Auv", AUV,
                       f"the implicit layer with the output weights, [A, u, v] trained: the minimal width grows like N^p with p "
                       f"between the parameter count's {lo:g} (m² + 2m ≥ N is necessary) and the paper's {hi:g} (m = Ω(N) suffices)",
                       ("within", lo - tol, hi + tol), "bound"))
    out.append(fit_row("min-width-all", ALL,
                       f"all blocks trained: the minimal width grows at most like N^{th['all_high']:g} (m = Ω(N) suffices); "
                       "fitted exponent of m_min ∝ N^p", ("<=", th["all_high"] + tol), "bound"))
    c = th["control_exponent"]
    out.append(fit_row("min-width-control-uv", UV,
                       f"{CONTROL_PREFIX}the u,v arm's exponent equals {c:g} (what a parameter-count "
                       "law m² ∝ N would give): the procedure must tell it from the rank law",
                       ("within", c - tol, c + tol), "control", control=True))
    return out


def claim_lazy(df: pd.DataFrame, th: dict) -> list[dict]:
    """Relative weight change at the end of training shrinks with m: log–log slope ≤ max_slope,
    over every width.  With ``control_width_ratio`` in ``th``, the same slopes over the widths
    m ≤ control_width_ratio·N only are negative controls (``lazy-W-control``, ``lazy-A-control``):
    below N the lazy bounds do not apply, so the slope is expected to fail there; one that holds
    is reported as not discriminating."""
    out = _lazy_rows(df, "", th, control=False)
    if "control_width_ratio" in th:
        c = th["control_width_ratio"]
        out += _lazy_rows(df[df["m"] <= c * df["N"]], f" at m ≤ {c:g}N", th, control=True)
    return out


def _lazy_rows(df: pd.DataFrame, where: str, th: dict, control: bool) -> list[dict]:
    """The two slopes of :func:`claim_lazy` over the runs of ``df`` (``where`` names them)."""
    suffix, prefix = _control_parts(control)
    if df.empty:
        return [_claim(f"lazy-{b}{suffix}", "lazy", "", note=f"no run{where}") for b in ("W", "A")]
    fin = final_rows(df)
    stopped = int((per_run(df)["status"] != "completed").sum())
    out = []
    # lazy (NTK) scaling: W's rows move O(1/√m) against ‖W(0)‖_F ∝ √m → −1/2; ‖A − A(0)‖_F stays
    # O(1) (its gradient carries γ/√m · 1/√m per entry) against ‖A(0)‖_F ∝ m → −1
    predicted = {"W": "−1/2", "A": "−1"}
    for block in ("W", "A"):
        fit = loglog_slope(fin["m"], fin[f"rel_change_{block}"])
        # a control needs a slope to fail; the claim itself fails without one
        judged = fit["n"] >= 2 and (np.isfinite(fit["slope"]) or not control)
        passed = _control_pass(_le(fit["slope"], th["max_slope"]), control) if judged else None
        out.append(_claim(f"lazy-{block}{suffix}", "lazy",
                          f"{prefix}‖{block}(K) − {block}(0)‖_F/‖{block}(0)‖_F shrinks with m{where}: log–log slope against m "
                          f"(lazy scaling: {predicted[block]})",
                          fit["slope"], ("<=", th["max_slope"]), passed,
                          f"{fit['n']} completed runs, widths {sorted(fin['m'].unique().tolist())}; {stopped} stopped (left out)",
                          ci=(fit["low"], fit["high"]), n=fit["n"], kind="control" if control else "bound"))
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
        prefix = CONTROL_PREFIX if control else ""
        m = int(d["m"].iloc[0])
        out.append(_claim(
            cid, "flow",
            f"{prefix}the decay rate of ln L_GF(t) per unit time equals the linearised 2λ_min(H(0)) at m = {m} "
            f"(N = {int(d['N'].iloc[0])}): median ratio fitted/predicted over seeds",
            med, ("within", lo, hi), _control_pass(inside, control),
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
            f"{CONTROL_PREFIX}{labels['lambda_min']} at one fixed width m = {big['m'].iloc[0]:g} "
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
            f"{CONTROL_PREFIX}{labels['frobenius']} already at the width where {labels['lambda_min']} "
            "first holds; measured: the smallest ‖ΦΦᵀ − G∞‖_F/λ0 there", best, ("<=", level), best > level,
            f"{len(frob)} (N, seed) points, m/N = {frob['ratio_m_N'].min():.3g}–{frob['ratio_m_N'].max():.3g}; median per N: "
            + ", ".join(f"{n}: {v:.3g}" for n, v in frob.groupby("N")["value"].median().items()),
            n=len(frob), kind="control"))
    return out


#: the side on which each invariant leaves "flat" when the width is too small: λ_min(ΦΦᵀ)/λ0
#: falls, the others grow (the ``invariants`` controls test that side only)
INVARIANT_FAILURE_SIDE = {"lambda_min_Hv": "falls", "gram_change": "grows", "neuron_move": "grows",
                          "flip_fraction": "grows", "rho_drift": "grows"}


def claim_invariants(df: pd.DataFrame, th: dict) -> list[dict]:
    """The proof's invariants along m = cN (``invariants`` experiment; fits
    :func:`~replication.fits.invariant_slopes`).

    Predictions, two-sided: each invariant of :data:`~replication.fits.INVARIANTS` grows like
    N^p along the linear family with |p| ≤ ``tolerance`` (flat: linear width keeps it bounded,
    and no better); a run of that family that stopped early fails the row.  Negative controls,
    expected to fail: along the slower family m = c·√(N·N0), where m/N falls, the invariant
    leaves the band on the side where too small a width pushes it
    (:data:`INVARIANT_FAILURE_SIDE`: λ_min falls below −tolerance, the others grow above
    +tolerance); the row tests "no worse than flat" (p ≤ tol, or p ≥ −tol for λ_min) and
    passes when that fails (or a run stopped).  A slope leaving the band on the other side does
    not count as the expected failure.  The faster family is drawn in the figure, not tested."""
    tol = float(th["tolerance"])
    slopes = invariant_slopes(invariant_summaries(df)).set_index(["family", "invariant"])
    fams = set(slopes.index.get_level_values(0))
    runs = per_run(df)
    out = []
    for name in INVARIANTS:
        label = INVARIANT_LABELS[name]
        falls = INVARIANT_FAILURE_SIDE[name] == "falls"
        for fam, kind in (("linear", "prediction"), ("sqrt", "control")):
            cid = f"invariant-{name}" + ("" if fam == "linear" else "-control-sqrt")
            if fam not in fams:
                out.append(_claim(cid, "invariants", "", note=f"no runs of the {fam} family"))
                continue
            r = slopes.loc[(fam, name)]
            r_runs = runs[runs["family"] == fam]
            cs = ", ".join(f"{c:g}" for c in sorted(r_runs["ratio"].unique()))
            width = f"m = c·N (c = {cs})" if fam == "linear" else f"m = c·√(N·N0) (c = {cs}, N0 = {min(r['Ns'])})"
            note = (f"{int(r['n'])} runs at N = {r['Ns']}; one intercept per c; {int(r['stopped'])} stopped"
                    + (f"; {int(r['dropped'])} non-positive values not fitted" if r["dropped"] else "")
                    + (f"; {int(r['short'])} runs ended at the step cap above the target loss" if r["short"] else ""))
            p = r["slope"]
            if np.isfinite(p) and abs(p) > tol:
                note += "; " + ("above the band: grows with N" if p > tol else "below the band: falls with N")
            if fam == "linear":
                statement = f"{label} stays flat in N along {width}: exponent p of ∝ N^p within ±{tol:g}"
                test = ("within", -tol, tol)
                passed = (-tol <= p <= tol and r["stopped"] == 0) if np.isfinite(p) else None
            else:
                side = "falls" if falls else "grows"
                statement = (f"{CONTROL_PREFIX}{label} no worse than flat along the slower "
                             f"{width}, where m/N falls; expected: it {side} with N, p {'<' if falls else '>'} "
                             f"{-tol if falls else tol:g}")
                test = (">=", -tol) if falls else ("<=", tol)
                worse = (p < -tol) if falls else (p > tol)
                passed = (bool(worse) or r["stopped"] > 0) if np.isfinite(p) else None
            out.append(_claim(cid, "invariants", statement, p, test, passed, note,
                              ci=(r["low"], r["high"]), n=int(r["n"]), kind=kind))
    return out


#: claim groups: (experiment it reads, config key of its thresholds, function(table, thresholds))
CLAIMS = (
    # (not on linear-width: its runs stop at a target loss and its all-blocks widths are < N)
    ("digits", "linear_rate", lambda df, th: claim_linear_rate(df, "digits", th)),
    ("gamma", "well_posed", claim_well_posed),
    ("gram", "gram", lambda df, th: claim_gram(df, th["min_width_ratio"], th)),
    ("gram", "rate_prediction", claim_rate_prediction),
    ("layers", "layers", claim_layers_well_posed),
    ("boundary", "boundary", claim_boundary),
    ("linear-width", "min_width", claim_min_width),
    ("lazy", "lazy", claim_lazy),
    ("flow", "flow", claim_flow),
    ("flow", "flow_long", claim_flow_long),
    ("kernel", "kernel", claim_kernel),
    ("concentration", "concentration", claim_concentration),
    ("invariants", "invariants", claim_invariants),
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


def control_summary(claims: pd.DataFrame) -> pd.DataFrame:
    """Per experiment (claim family): its claims by kind, its negative controls and whether they
    discriminate.

    Returns one row per experiment with columns ``experiment``, ``claims`` (e.g. "2 bound,
    1 prediction"), ``controls`` (the control ids) and ``verdict``: "discriminating" (every
    evaluated control failed, as expected), "not discriminating: <ids>" (a control held, so the
    family's claims could not have failed there either), "control not evaluated", "no negative
    control configured", or "numerics only" (checks of our own solvers).  Rows that were not
    evaluated are left out of the counts.
    """
    rows = []
    for exp, g in claims.groupby("experiment", sort=False):
        done = g[g["status"] == "evaluated"]
        # a control that was not evaluated has no kind: its id names it
        is_ctrl = (g["kind"] == "control") | g["id"].str.contains("control", regex=False)
        ctrl = g[is_ctrl]
        kinds = done[~is_ctrl.loc[done.index]]["kind"].value_counts()
        counts = ", ".join(f"{int(kinds[k])} {k}" for k in KINDS if k in kinds)
        held = ctrl[ctrl["pass"] == False]["id"].tolist()  # noqa: E712  (column mixes bool and "")
        failed = ctrl[ctrl["pass"] == True]["id"].tolist()  # noqa: E712
        if held:
            verdict = "not discriminating: " + ", ".join(held)
        elif failed:
            verdict = "discriminating"
        elif len(ctrl):
            verdict = "control not evaluated"
        elif len(done) and set(done["kind"]) == {"numerics"}:
            verdict = "numerics only"
        elif len(done):
            verdict = "no negative control configured"
        else:
            verdict = "not evaluated"
        rows.append({"experiment": exp, "claims": counts, "controls": ", ".join(ctrl["id"]), "verdict": verdict})
    return pd.DataFrame(rows, columns=["experiment", "claims", "controls", "verdict"])


#: how the thresholds were set, as claims.md and claims.html state it (the details: docs/claims.md)
BLIND = ("set before the runs, except the choices docs/claims.md marks as not fixed blind, each named there with "
         "what was seen first")

#: what λ0 is, stated next to every claims table
LAMBDA0 = ("λ0 = λ_min(G∞) is our definition: the target paper's text is not public, and we follow its sibling "
           "(arXiv:2110.05645), whose λ0 is the smallest eigenvalue of the arc-cosine kernel of the inputs (docs/ntk.md).")


def claims_markdown(claims: pd.DataFrame, title: str = "Claims") -> str:
    """A short markdown table of :func:`evaluate_claims`' result, pass/fail/not evaluated per row."""
    n_pass, n_fail, n_other = _counts(claims)
    lines = [f"# {title}", "",
             f"{n_pass} pass, {n_fail} fail, {n_other} not evaluated. Thresholds come from the `claims` block of the "
             f"configuration ({BLIND}); a failing claim is reported here and does not stop the workflow. "
             "Columns: docs/claims.md.", "", LAMBDA0, "",
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
    lines += ["", "## Negative controls by claim family", "",
              "A family is discriminating when each of its controls fails as expected; one whose control holds "
              "could not have failed at these sizes.", "",
              "| experiment | claims | negative controls | verdict |", "|---|---|---|---|"]
    for r in control_summary(claims).to_dict("records"):
        ctrl = ", ".join(f"`{c}`" for c in r["controls"].split(", ")) if r["controls"] else "—"
        lines.append(f"| {r['experiment']} | {r['claims'] or '—'} | {ctrl} | {r['verdict']} |")
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
            f"<p>Each claim of the paper tested on the aggregated CSVs: pass when <i>measured</i> satisfies the "
            f"<i>test</i>, whose threshold comes from the <code>claims</code> block of the configuration ({escape(BLIND)}). "
            f"{escape(LAMBDA0)} Kinds: bound (a theorem's inequality, possibly loose), prediction (a value the theory "
            "predicts), numerics (a check of our own solvers), control (a regime where the claim is expected to fail: "
            "the row passes when it does). 95% CI: the interval of a fitted value; margin: the distance from the "
            "threshold in CI half-widths; n: the runs it comes from. A failing claim does not stop the workflow. "
            "Columns and what would falsify each claim: docs/claims.md.</p>\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
            + _controls_html(claims) + "</body>\n</html>\n")


def _controls_html(claims: pd.DataFrame) -> str:
    """The :func:`control_summary` table of :func:`claims_html`."""
    from html import escape

    rows = []
    for r in control_summary(claims).to_dict("records"):
        cls = ("pass" if r["verdict"] == "discriminating" else "fail" if r["verdict"].startswith("not discr")
               else "other")
        rows.append(f"<tr><td>{escape(r['experiment'])}</td><td>{escape(r['claims'] or '—')}</td>"
                    f"<td><code>{escape(r['controls'] or '—')}</code></td>"
                    f'<td class="result {cls}">{escape(r["verdict"])}</td></tr>')
    return ("<h2>Negative controls by claim family</h2>\n<p>A family is discriminating when each of its controls "
            "fails as expected; one whose control holds could not have failed at these sizes.</p>\n<table>\n"
            "<thead><tr><th>experiment</th><th>claims</th><th>negative controls</th><th>verdict</th></tr></thead>\n"
            "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n")


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
