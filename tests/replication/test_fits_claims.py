"""replication.fits and replication.claims on synthetic tables whose answers are known: fits, summaries, claims."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from replication import claims as cl, fits as an


# --------------------------------------------------------------------------------------
# fits
# --------------------------------------------------------------------------------------
def test_linear_fit_exact_line():
    x = np.arange(10.0)
    fit = an.linear_fit(x, 3.0 - 0.25 * x)
    assert fit["slope"] == pytest.approx(-0.25) and fit["intercept"] == pytest.approx(3.0)
    assert fit["r2"] == pytest.approx(1.0) and fit["n"] == 10
    assert fit["low"] == pytest.approx(-0.25) and fit["high"] == pytest.approx(-0.25)


def test_linear_fit_ci_is_t_based():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0.1, 0.9, 2.2, 2.9])
    fit = an.linear_fit(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    stderr = math.sqrt((resid**2).sum() / 2 / ((x - x.mean()) ** 2).sum())
    half = student_t.ppf(0.975, 2) * stderr  # 4.30, not the normal 1.96
    assert fit["slope"] == pytest.approx(slope)
    assert fit["low"] == pytest.approx(slope - half) and fit["high"] == pytest.approx(slope + half)


def test_linear_fit_ci_covers_the_true_slope_and_shrinks():
    rng = np.random.default_rng(0)
    widths, covered = [], 0
    for n in (10, 100, 1000):
        x = np.linspace(0, 1, n)
        fit = an.linear_fit(x, 2.0 + 0.7 * x + 0.1 * rng.standard_normal(n))
        covered += fit["low"] <= 0.7 <= fit["high"]
        widths.append(fit["high"] - fit["low"])
    assert covered == 3 and widths[0] > widths[1] > widths[2]


def test_linear_fit_degenerate():
    assert math.isnan(an.linear_fit([1.0], [2.0])["slope"])
    assert math.isnan(an.linear_fit([1.0, 1.0], [2.0, 3.0])["slope"])  # no spread in x
    two = an.linear_fit([0.0, 1.0], [0.0, 2.0])
    assert two["slope"] == pytest.approx(2.0) and math.isnan(two["low"])  # no CI from 2 points
    assert an.linear_fit([0, 1, 2, np.nan], [0, 1, 2, 5])["n"] == 3  # NaN pairs dropped


def test_loglog_slope_of_a_power_law():
    x = np.array([16, 32, 64, 128, 256.0])
    fit = an.loglog_slope(x, 3.0 * x**-0.5)
    assert fit["slope"] == pytest.approx(-0.5) and np.exp(fit["intercept"]) == pytest.approx(3.0)
    assert an.loglog_slope([1, 2, 4, 8], [1, 0, 4, 8])["n"] == 3  # non-positive values dropped


def test_linear_rate_of_an_exponential():
    k = np.arange(0, 201, 10)
    fit = an.linear_rate(k, 5.0 * np.exp(-0.03 * k))
    assert fit["rate"] == pytest.approx(0.03) and fit["r2"] == pytest.approx(1.0)
    assert fit["k_start"] == 100 and fit["k_end"] == 200 and fit["n"] == 11


def test_linear_rate_uses_the_last_part():
    k = np.arange(0, 401, 10)
    L = np.exp(-0.2 * k) + 1e-3 * np.exp(-0.01 * k)  # fast mode first, then the slow one
    assert an.linear_rate(k, L)["rate"] == pytest.approx(0.01, rel=1e-3)


def test_linear_rate_stops_at_the_rounding_floor():
    k = np.arange(0, 201, 5)
    L = np.maximum(np.exp(-0.5 * k), 1e-30 * (1 + 0.5 * np.sin(k)))  # hits 1e-30 noise at k ≈ 138
    fit = an.linear_rate(k, L)
    assert fit["rate"] == pytest.approx(0.5) and fit["r2"] == pytest.approx(1.0)
    assert fit["k_end"] < 100  # below 1e-20·L(0) nothing is used


def test_linear_rate_nan_when_too_short_or_bad():
    assert math.isnan(an.linear_rate([0, 1], [1.0, 0.5])["rate"])
    assert math.isnan(an.linear_rate([0, 1, 2], [np.nan, 0.5, 0.2])["rate"])
    assert math.isnan(an.linear_rate([], [])["rate"])


def test_theory_rate():
    assert an.theory_rate(0.1, 0.2) == pytest.approx(-math.log(1 - 0.01))
    assert np.isnan(an.theory_rate(10.0, 0.5))  # ηλ0/2 ≥ 1: no rate


# --------------------------------------------------------------------------------------
# per-run summaries
# --------------------------------------------------------------------------------------
def trace(run_id, rate=0.05, steps=100, every=10, status="completed", fail_at=None, **cols):
    k = np.arange(0, steps + 1, every)
    if fail_at is not None:
        k = k[k < fail_at]
    d = pd.DataFrame({"run_id": run_id, "step": k, "train_loss": 10.0 * np.exp(-rate * k), "failure": False,
                      "status": status, **cols})
    if fail_at is not None:
        fail = pd.DataFrame({"run_id": [run_id], "step": [fail_at], "train_loss": [np.nan], "failure": [True],
                             "status": [status], **{c: [v] for c, v in cols.items()}})
        d = pd.concat([d, fail], ignore_index=True)
    return d


def test_run_summaries_completed_and_stopped():
    df = pd.concat([trace("a", rate=0.05), trace("b", rate=0.05, status="stopped", fail_at=50)], ignore_index=True)
    s = an.run_summaries(df).set_index("run_id")
    assert s.loc["a", "rate"] == pytest.approx(0.05) and s.loc["a", "loss_ratio"] == pytest.approx(math.exp(-5))
    assert s.loc["b"].isna().all()  # a stopped run gets no summary, however good its steps
    out = an.with_run_summaries(df)
    assert len(out) == len(df) and (out.loc[out["run_id"] == "a", "rate"] == s.loc["a", "rate"]).all()


def test_final_rows_skip_stopped_runs_and_failure_rows():
    df = pd.concat([trace("a"), trace("b", status="stopped", fail_at=50)], ignore_index=True)
    fin = an.final_rows(df)
    assert fin["run_id"].tolist() == ["a"] and fin["step"].item() == 100


# --------------------------------------------------------------------------------------
# gram, flow, kernel
# --------------------------------------------------------------------------------------
def test_envelopes():
    df = trace("a", rate=0.05, lr=0.1, lambda0=0.2, lambda_min_H=0.4)
    env = an.envelopes(df)
    k = env["step"].to_numpy()
    assert np.allclose(env["envelope_lambda0"], 10.0 * 0.99**k)
    assert np.allclose(env["envelope_H0"], 10.0 * 0.96 ** (2 * k))  # L = ½‖r‖²: the square of the mode's decay


def flow_table(c=2.0, fractions=(0.4, 0.2, 0.1), gf_status="completed", lambda0=1.5, order=1.0):
    """GF: ln L = −t; GD at step η: ln L = −t + c·ηᵒʳᵈᵉʳ·t (first order in η by default)."""
    t = np.linspace(0, 10, 101)
    rows = [pd.DataFrame({"method": "GF", "run_id": "gf", "seed": 0, "t": t, "step": np.arange(101), "lr": np.nan,
                          "lr_fraction": np.nan, "train_loss": np.exp(-t), "lambda0": lambda0, "failure": False,
                          "status": gf_status})]
    for f in fractions:
        eta = f / 10
        k = np.arange(0, int(round(10 / eta)) + 1)
        tt = k * eta
        rows.append(pd.DataFrame({"method": "GD", "run_id": f"gd{f}", "seed": 0, "t": tt, "step": k, "lr": eta,
                                  "lr_fraction": f, "train_loss": np.exp(-tt + c * eta**order * tt), "lambda0": lambda0,
                                  "failure": False, "status": "completed"}))
    return pd.concat(rows, ignore_index=True)


def test_gd_gf_deviation_is_first_order():
    dev = an.gd_gf_deviation(flow_table())
    assert np.allclose(dev["deviation"], 2.0 * dev["lr"] * 10, rtol=1e-6)
    assert an.loglog_slope(dev["lr"], dev["deviation"])["slope"] == pytest.approx(1.0)


def test_gd_gf_deviation_without_a_good_gf_solve():
    dev = an.gd_gf_deviation(flow_table(gf_status="stopped"))
    assert dev["deviation"].isna().all()


def test_gf_bound_ratio():
    df = flow_table()
    assert an.gf_bound_ratio(df) == pytest.approx(math.exp(0.5 * 10))  # e^{−t} vs e^{−1.5 t}
    df["lambda0"] = 0.5
    assert an.gf_bound_ratio(df) == pytest.approx(math.exp(-0.5 * 0.1))  # t = 0 (ratio 1) is left out


def kernel_table(slope=-0.5, stopped_m=None):
    rows = []
    for m in (16, 64, 256, 1024):
        for seed in range(3):
            for q in ("PhiPhi-Ginf", "ZZ-Kinf"):
                for norm in ("spectral", "frobenius/N"):
                    status = "stopped" if m == stopped_m else "completed"
                    rows.append({"run_id": f"m{m}_s{seed}", "m": m, "seed": seed, "quantity": q, "norm": norm,
                                 "error": (2.0 + seed) * m**slope if status == "completed" else np.nan, "status": status})
    return pd.DataFrame(rows)


def test_kernel_slopes():
    s = an.kernel_slopes(kernel_table(-0.5, stopped_m=1024))
    assert len(s) == 4 and np.allclose(s["slope"], -0.5) and (s["n"] == 9).all()


# --------------------------------------------------------------------------------------
# claims
# --------------------------------------------------------------------------------------
THRESHOLDS = {
    "lazy": {"max_slope": -0.25},
    "kernel": {"slope": -0.5, "tolerance": 0.25, "norm": "spectral"},
    "flow": {"min_order": 0.5, "max_bound_ratio": 1.0},
}


def lazy_table(slope):
    rows = []
    for m in (16, 64, 256):
        for seed in (0, 1):
            rows.append({"run_id": f"m{m}_s{seed}", "m": m, "N": 64, "step": 100, "failure": False, "status": "completed",
                         "rel_change_W": 0.3 * m**slope, "rel_change_A": 0.1 * m**slope, "train_loss": 1e-3})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("narrow_slope,control", [(0.0, True), (-0.5, False)])
def test_lazy_controls_below_half_the_samples(narrow_slope, control):
    """The lazy slopes over m ≤ N/2 only are controls: flat there, they fail as expected; lazy
    there too, the control holds (not discriminating)."""
    rows = []
    for m in (16, 32, 64, 256):
        s = narrow_slope if m <= 32 else -0.5
        for seed in (0, 1):
            rows.append({"run_id": f"m{m}_s{seed}", "m": m, "N": 64, "step": 100, "failure": False, "status": "completed",
                         "rel_change_W": 0.3 * m**s, "rel_change_A": 0.1 * m**s, "train_loss": 1e-3})
    th = {"lazy": {"max_slope": -0.25, "control_width_ratio": 0.5}}
    claims = cl.evaluate_claims({"lazy": pd.DataFrame(rows)}, th).set_index("id")
    for block in ("W", "A"):
        row = claims.loc[f"lazy-{block}-control"]
        assert row["kind"] == "control" and row["n"] == 4 and row["pass"] is control
        assert row["measured"] == pytest.approx(narrow_slope, abs=1e-9)
    one_width = pd.DataFrame([r for r in rows if r["m"] != 16])  # a single width below N/2: no slope
    assert cl.evaluate_claims({"lazy": one_width}, th).set_index("id").loc["lazy-W-control", "pass"] == ""


@pytest.mark.parametrize("slope,passes", [(-0.5, True), (0.0, False)])
def test_lazy_claim_passes_and_fails(slope, passes):
    claims = cl.evaluate_claims({"lazy": lazy_table(slope)}, THRESHOLDS).set_index("id")
    for block in ("W", "A"):
        row = claims.loc[f"lazy-{block}"]
        assert row["measured"] == pytest.approx(slope, abs=1e-12) and row["pass"] is passes
        assert row["status"] == "evaluated" and (row["operator"], row["threshold"]) == ("<=", -0.25)
        assert np.isnan(row["threshold_high"]) and row["ci_low"] <= row["measured"] <= row["ci_high"] and row["n"] == 6


@pytest.mark.parametrize("slope,passes", [(-0.5, True), (-1.0, False), (-0.1, False)])
def test_kernel_claim_is_two_sided(slope, passes):
    claims = cl.evaluate_claims({"kernel": kernel_table(slope)}, THRESHOLDS).set_index("id")
    assert claims.loc["kernel-ZZ-Kinf", "pass"] is passes and claims.loc["kernel-PhiPhi-Ginf", "pass"] is passes
    row = claims.loc["kernel-ZZ-Kinf"]
    assert (row["operator"], row["threshold"], row["threshold_high"]) == ("within", -0.75, -0.25)
    assert row["ci_low"] <= row["measured"] <= row["ci_high"] and row["n"] == 12  # 4 widths × 3 seeds


def test_flow_claims():
    claims = cl.evaluate_claims({"flow": flow_table()}, THRESHOLDS).set_index("id")
    assert claims.loc["gd-to-gf", "measured"] == pytest.approx(1.0) and claims.loc["gd-to-gf", "pass"] is True
    assert claims.loc["gf-bound", "pass"] is False  # e^{−t} decays slower than e^{−1.5 t}

def test_flow_claims_the_other_way():
    """GD whose distance from the flow does not shrink with η (order 0) fails gd-to-gf; a flow
    that decays faster than e^{−λ0 t} passes gf-bound."""
    claims = cl.evaluate_claims({"flow": flow_table(c=0.05, order=0.0, lambda0=0.5)}, THRESHOLDS).set_index("id")
    assert claims.loc["gd-to-gf", "measured"] == pytest.approx(0.0, abs=1e-9) and claims.loc["gd-to-gf", "pass"] is False
    assert claims.loc["gf-bound", "pass"] is True  # e^{−t} ≤ e^{−0.5 t}


def test_linear_rate_claim_against_the_theory():
    rows = []
    for m, rate in ((64, 0.02), (128, 0.02), (32, 1e-6)):  # m = 32 < N is not part of the claim
        d = trace(f"m{m}", rate=rate, steps=300, lr=0.1, lambda0=0.2, m=m, N=64)
        rows.append(d)
    df = an.with_run_summaries(pd.concat(rows, ignore_index=True))
    th = {"linear_rate": {"min_width_ratio": 1.0, "min_rate_ratio": 1.0, "min_local_ratio": 0.85}}
    claims = cl.evaluate_claims({"digits": df}, th).set_index("id")
    row = claims.loc["linear-rate:digits"]
    assert row["measured"] == pytest.approx(0.02 / -math.log(0.99)) and row["pass"] is True
    assert claims.loc["linear-not-power:digits", "pass"] is True
    th["linear_rate"]["min_rate_ratio"] = 3.0  # 0.02 per step is only 2× the theory's rate
    assert cl.evaluate_claims({"digits": df}, th).set_index("id").loc["linear-rate:digits", "pass"] is False


@pytest.mark.parametrize("narrow_rate,narrow_power,rate_control,local_control", [
    (1e-4, False, True, False),  # slower than the theory and geometric below N: the rate control fails as expected
    (None, True, False, True),   # a steep power law: the rate bound holds there too (not discriminating), not geometric
])
def test_linear_rate_controls_below_the_theorems_width(narrow_rate, narrow_power, rate_control, local_control):
    """The linear-rate rows evaluated at m ≤ control_width_ratio·N are controls: they pass when
    the claim fails there and fail (not discriminating) when it holds."""
    k = np.arange(0, 301, 10)
    rows = [trace(f"m{m}", rate=0.02, steps=300, lr=0.1, lambda0=0.2, m=m, N=64) for m in (64, 128)]
    narrow = trace("m16", rate=narrow_rate or 0.02, steps=300, lr=0.1, lambda0=0.2, m=16, N=64)
    if narrow_power:
        narrow["train_loss"] = 10.0 * (1 + k) ** -8.0  # ln L falls ≈ 8/k ≥ 0.027 per step: above the theory's 0.01
    df = an.with_run_summaries(pd.concat([*rows, narrow], ignore_index=True))
    th = {"linear_rate": {"min_width_ratio": 1.0, "min_rate_ratio": 1.0, "min_local_ratio": 0.85,
                          "control_width_ratio": 0.25}}
    claims = cl.evaluate_claims({"digits": df}, th).set_index("id")
    assert claims.loc["linear-rate:digits", "pass"] is True and claims.loc["linear-rate:digits", "n"] == 2
    rate, local = claims.loc["linear-rate:digits-control"], claims.loc["linear-not-power:digits-control"]
    assert rate["kind"] == local["kind"] == "control" and rate["n"] == 1
    assert rate["pass"] is rate_control and local["pass"] is local_control
    assert "m ≤ 0.25N" in rate["statement"] and rate["statement"].startswith("negative control")
    del th["linear_rate"]["control_width_ratio"]  # no control configured: no control rows
    assert not cl.evaluate_claims({"digits": df}, th)["id"].str.contains("control").any()


def test_local_rate_ratio_tells_geometric_from_power_law():
    k = np.arange(0, 401, 4)
    assert an.local_rate_ratio(k, 10 * np.exp(-0.03 * k)) == pytest.approx(1.0)
    for a in (0.5, 2.0, 8.0):  # whatever the power, about 0.71
        assert an.local_rate_ratio(k, 10 * (1 + k) ** -a) == pytest.approx(math.log(4 / 3) / math.log(1.5), abs=0.03)


def test_linear_not_power_claim_fails_for_a_power_law():
    k = np.arange(0, 301, 10)
    power = pd.DataFrame({"run_id": "p", "step": k, "train_loss": 10.0 * (1 + k) ** -2.0, "failure": False,
                          "status": "completed", "lr": 0.1, "lambda0": 0.001, "m": 128, "N": 64})
    df = an.with_run_summaries(power)
    th = {"linear_rate": {"min_width_ratio": 1.0, "min_rate_ratio": 1.0, "min_local_ratio": 0.85}}
    claims = cl.evaluate_claims({"digits": df}, th).set_index("id")
    assert claims.loc["linear-not-power:digits", "pass"] is False
    assert claims.loc["linear-not-power:digits", "measured"] == pytest.approx(0.71, abs=0.03)


def gram_runs(ratio_wide, ratio_narrow, N=64):
    """Gram runs whose fitted rate is ``ratio`` × the linearised −2 ln(1 − ηλ_min(H(0)))."""
    rows = []
    for m, ratio in ((32, ratio_narrow), (128, ratio_wide), (256, ratio_wide)):
        lr, lam = 0.04, 0.2
        pred = -2 * math.log(1 - lr * lam)
        d = trace(f"m{m}", rate=ratio * pred, steps=300, lr=lr, lambda0=0.1, m=m, N=N, lambda_min_H=lam)
        rows.append(d)
    return an.with_run_summaries(pd.concat(rows, ignore_index=True))


@pytest.mark.parametrize("wide,narrow,prediction,control", [
    (1.1, 2.5, True, True),    # the prediction holds where wide, fails (as expected) where narrow
    (1.6, 2.5, False, True),   # too fast at m ≥ 2N: the prediction fails
    (0.6, 1.0, False, False),  # too slow at m ≥ 2N; and the control holds: not discriminating
])
def test_rate_prediction_is_two_sided_with_a_control(wide, narrow, prediction, control):
    th = {"rate_prediction": {"min_width_ratio": 2.0, "tolerance": 0.25, "control_width_ratio": 0.5}}
    claims = cl.evaluate_claims({"gram": gram_runs(wide, narrow)}, th).set_index("id")
    assert claims.loc["rate-prediction", "measured"] == pytest.approx(wide, rel=1e-6)
    assert claims.loc["rate-prediction", "pass"] is prediction
    assert claims.loc["rate-prediction-control", "pass"] is control


def test_well_posed_claims():
    rows = [trace(f"g{g}", rho=2 * g, gamma=g) for g in (0.05, 0.1)]
    rows.append(trace("g0.6", gamma=0.6, rho=1.2, status="stopped", fail_at=0))
    df = pd.concat(rows, ignore_index=True)
    th = {"well_posed": {"gamma_max": 0.125, "max_rho": 1.0, "min_failure_gamma": 0.5}}
    claims = cl.evaluate_claims({"gamma": df}, th).set_index("id")
    assert claims.loc["rho-below-1", "measured"] == pytest.approx(0.2) and claims.loc["rho-below-1", "pass"] is True
    assert claims.loc["first-failing-gamma", "measured"] == 0.6 and claims.loc["first-failing-gamma", "pass"] is True
    th["well_posed"]["min_failure_gamma"] = 0.7
    assert cl.evaluate_claims({"gamma": df}, th).set_index("id").loc["first-failing-gamma", "pass"] is False


def test_well_posed_claims_fail_when_rho_crosses_inside_the_range():
    rows = [trace("g0.1", rho=1.05, gamma=0.1, status="stopped", fail_at=30), trace("g0.3", gamma=0.3, rho=0.6)]
    th = {"well_posed": {"gamma_max": 0.125, "max_rho": 1.0, "min_failure_gamma": 0.5}}
    claims = cl.evaluate_claims({"gamma": pd.concat(rows, ignore_index=True)}, th).set_index("id")
    assert claims.loc["rho-below-1", "pass"] is False and claims.loc["first-failing-gamma", "pass"] is False


@pytest.mark.parametrize("rhos,passes", [
    ((1.2, 1.6), True),    # every run above the γ limit crosses ρ = 1: the control fails as expected
    ((0.9, 0.95), False),  # ρ stays below 1 even there: the control does not discriminate
])
def test_well_posed_control_above_the_gamma_limit(rhos, passes):
    rows = [trace("g0.1", rho=0.2, gamma=0.1)]
    rows += [trace(f"g{g}", gamma=g, rho=r) for g, r in zip((0.6, 0.8), rhos)]
    rows.append(trace("g1.5", gamma=1.5, rho=2.9 if passes else 0.97, status="stopped", fail_at=0))
    th = {"well_posed": {"gamma_max": 0.125, "max_rho": 1.0, "min_failure_gamma": 0.5, "control_gamma": 0.6}}
    claims = cl.evaluate_claims({"gamma": pd.concat(rows, ignore_index=True)}, th).set_index("id")
    row = claims.loc["rho-below-1-control"]
    assert row["kind"] == "control" and row["n"] == 3 and row["pass"] is passes
    assert claims.loc["rho-below-1", "pass"] is True and claims.loc["rho-below-1", "n"] == 1
    # a run stopped at step 0 contributes its ρ(A(0)), recorded on its failure row
    assert row["measured"] == pytest.approx(2.9 if passes else 0.97)


MW_TH = {"uv_exponent": 1.0, "Auv_low": 0.5, "Auv_high": 1.0, "all_high": 1.0, "control_exponent": 0.5, "tolerance": 0.15,
         "closed_form_tol": 1e-8}


def arm_table(arm, law, Ns=(16, 32, 64, 128), step=0.1, lo=0.05, hi=4.0, censor=lambda N, m: False, seeds=(0, 1),
              singular=lambda N, m: False, exact_dev=0.0):
    """linear-width runs of one arm on a geometric grid m/N ∈ [lo, hi] (relative steps ``step``):
    a run reaches the target (L/L(0) = 1e-4) iff m ≥ law(N); otherwise it ends at 1e-1, with a
    capped budget (censored unless H(0) is singular) where ``censor(N, m)``, else uncapped (failed).
    A linear arm (u, v) also has GD's exact step count ``steps_exact`` (100 where m ≥ law(N),
    inf elsewhere) and the closed-form losses ``exact_train_loss`` (the engine's losses, off by
    ``exact_dev``·L(0) at the last step); other arms have NaN there."""
    from replication.runs import width_grid

    linear = an.is_linear_arm(arm)
    rows = []
    for N in Ns:
        for m in width_grid(N, lo, hi, step):
            for seed in seeds:
                ok = m >= law(N)
                capped = (not ok) and censor(N, m)
                rows.append({"run_id": f"{arm}_n{N}_m{m}_s{seed}", "trainable": arm, "N": N, "m": m, "seed": seed,
                             "status": "completed", "failure": False, "step": 0, "train_loss": 1.0,
                             "exact_train_loss": 1.0 if linear else math.nan,
                             "lambda_min_H0": 0.0 if singular(N, m) else 1e-3, "lambda_max_H0": 10.0,
                             "budget": 1000 if capped else 100, "capped": capped,
                             "steps_exact": (100.0 if ok else math.inf) if linear else math.nan,
                             "exact_floor": (0.0 if ok else 0.1) if linear else math.nan})
                last = 1e-4 if ok else 1e-1
                rows.append(rows[-1] | {"step": 100, "train_loss": last,
                                        "exact_train_loss": last + exact_dev if linear else math.nan})
    return pd.DataFrame(rows).assign(target=1e-3, min_fraction=0.5, singular_tol=1e-13)


def test_run_outcomes_classify_reached_failed_censored():
    df = arm_table("A+u+v", lambda N: N / 2, Ns=(16,), censor=lambda N, m: m >= 6, singular=lambda N, m: m < 6)
    out = an.run_outcomes(df, 1e-3, 1e-10).drop_duplicates("m").set_index("m")["outcome"]
    assert out[8] == "reached" and out[5] == "failed"  # 5: capped but H(0) singular
    assert out[6] == "censored" and out[7] == "censored"


def test_run_outcomes_of_a_linear_arm_come_from_the_closed_form():
    """u,v runs: reached iff GD's exact step count is finite, else failed — never censored, whatever
    the engine run did within its cap (here every run below N/2 + 3 is capped and misses the target)."""
    df = arm_table("u+v", lambda N: N / 2, Ns=(16,), censor=lambda N, m: True)
    df.loc[(df["m"] < 11) & (df["step"] == 100), "train_loss"] = 1e-1  # engine: missed the target at m = 8, 9, 10
    df.loc[df["m"] < 11, "capped"] = True
    out = an.run_outcomes(df, 1e-3, 1e-13).drop_duplicates("m").set_index("m")
    assert set(out["outcome"]) == {"reached", "failed"}
    assert (out.loc[out.index >= 8, "outcome"] == "reached").all() and (out.loc[out.index < 8, "outcome"] == "failed").all()
    assert out.loc[9, "loss_ratio"] == pytest.approx(0.1)  # the engine's capped run: not what decides
    nan_h = df.assign(steps_exact=np.where(df["m"] == 12, np.nan, df["steps_exact"]))  # H(0) not formed: failed
    assert an.run_outcomes(nan_h, 1e-3, 1e-13).drop_duplicates("m").set_index("m").loc[12, "outcome"] == "failed"
    with pytest.raises(ValueError, match="steps_exact"):
        an.run_outcomes(df.drop(columns="steps_exact"), 1e-3, 1e-13)
    assert an.is_linear_arm("u+v") and an.is_linear_arm(("u",)) and an.is_linear_arm("v")
    assert not an.is_linear_arm("A+u+v") and not an.is_linear_arm("A+W+u+v") and not an.is_linear_arm(())


def test_width_brackets_resolved_left_and_right():
    df = pd.concat([arm_table("u+v", lambda N: N / 2, Ns=(16, 32), lo=0.25, hi=2),
                    arm_table("A+W+u+v", lambda N: 1, Ns=(16,), lo=0.25, hi=1),        # passes at every grid width
                    arm_table("A+u+v", lambda N: 10 * N, Ns=(16,), lo=0.25, hi=1)])    # none passes
    br = an.width_brackets(an.run_outcomes(df, 1e-3, 1e-10), 0.5).set_index(["trainable", "N"])
    assert (br.loc[("u+v", 16), "m_fail"], br.loc[("u+v", 16), "m_pass"]) == (7, 8)
    assert (br.loc[("u+v", 32), "m_fail"], br.loc[("u+v", 32), "m_pass"]) == (15, 16)
    assert br.loc[("A+W+u+v", 16), "censored"] == "left" and math.isnan(br.loc[("A+W+u+v", 16), "m_fail"])
    assert br.loc[("A+u+v", 16), "censored"] == "right"
    assert br.loc[("A+u+v", 16), "m_fail"] == br.loc[("A+u+v", 16), "m_max_grid"]


def test_width_brackets_widen_over_censored_widths():
    """Censored runs between the last failure and the first pass are undetermined: the bracket spans them."""
    df = arm_table("A+u+v", lambda N: N, Ns=(32,), lo=0.25, hi=2, censor=lambda N, m: m >= 16)
    b = an.width_brackets(an.run_outcomes(df, 1e-3, 1e-10), 0.5).iloc[0]
    assert (b["m_fail"], b["censored"]) == (15, "") and 32 <= b["m_pass"] <= 32 * 1.1
    assert b["undetermined"] > 5


def test_feasible_slopes_contain_the_law_and_shrink_with_the_grid():
    N = np.array([16, 32, 64, 128.0])
    lo, hi = an.feasible_slopes(N, N / 2 * 0.95, N / 2 * 1.05)
    assert lo < 1 < hi and hi - lo < 0.1
    wide = an.feasible_slopes(N, N / 2 * 0.7, N / 2 * 1.4)
    assert wide[0] < lo and wide[1] > hi
    assert all(math.isnan(v) for v in an.feasible_slopes(N, [10, 10, 100, 10], [11, 11, 110, 11]))  # no line fits


@pytest.mark.parametrize("law,p", [(lambda N: N / 2, 1.0), (lambda N: 2 * math.sqrt(N), 0.5), (lambda N: N * N / 64, 2.0)])
def test_bracket_exponent_recovers_the_law(law, p):
    br = an.width_brackets(an.run_outcomes(arm_table("u+v", law, lo=0.05, hi=300), 1e-3, 1e-10), 0.5)
    fit = an.bracket_exponent(br)
    # brackets of ≤ 10% over N a factor 8 (ln 8 ≈ 2.1): the midpoints' slope is within ≈ 0.1 of the law
    assert fit["n"] == 4 and fit["slope"] == pytest.approx(p, abs=0.1)
    assert fit["low"] <= p <= fit["high"] and fit["low"] <= fit["feasible_low"] and fit["high"] >= fit["feasible_high"]


def test_bracket_exponent_never_fits_censored_points():
    """N = 128's minimum is below the grid (left-censored): fitting its grid value as exact would
    flatten the slope; the resolved points alone give 1."""
    df = arm_table("u+v", lambda N: N / 2 if N < 128 else 1, lo=0.25, hi=2)
    fit = an.bracket_exponent(an.width_brackets(an.run_outcomes(df, 1e-3, 1e-10), 0.5))
    assert (fit["n"], fit["n_left"]) == (3, 1) and fit["slope"] == pytest.approx(1.0, abs=0.06)


def min_width_claims(*tables):
    return cl.evaluate_claims({"linear-width": pd.concat(tables, ignore_index=True)}, {"min_width": MW_TH}).set_index("id")


def test_min_width_claims_pass_on_the_theory():
    c = min_width_claims(arm_table("u+v", lambda N: math.ceil(N / 2), lo=0.3, hi=2),
                         arm_table("A+u+v", lambda N: math.ceil(math.sqrt(N)) + 1, lo=0.05, hi=1),
                         arm_table("A+W+u+v", lambda N: N / 8, lo=0.03, hi=1))
    for cid in ("min-width-uv", "min-width-uv-brackets", "uv-closed-form", "min-width-Auv", "min-width-all",
                "min-width-control-uv"):
        assert c.loc[cid, "pass"] is True, (cid, c.loc[cid, "note"])
    assert c.loc["uv-closed-form", "kind"] == "numerics" and c.loc["uv-closed-form", "measured"] == 0.0
    assert c.loc["min-width-uv", "kind"] == "numerics" and c.loc["min-width-control-uv", "kind"] == "control"
    assert c.loc["min-width-uv", "operator"] == "within" and c.loc["min-width-uv", "ci_low"] <= 1.0


def test_min_width_claims_fail_when_the_procedure_is_broken():
    """u,v minimum growing like N² (a broken procedure): the positive control fails, its
    brackets miss N/2; [A,u,v] and all blocks growing like N²: their bounds fail too."""
    quad = lambda N: N * N / 32  # noqa: E731
    c = min_width_claims(arm_table("u+v", quad, lo=0.1, hi=5), arm_table("A+u+v", quad, lo=0.1, hi=5),
                         arm_table("A+W+u+v", quad, lo=0.1, hi=5))
    for cid in ("min-width-uv", "min-width-uv-brackets", "min-width-Auv", "min-width-all"):
        assert c.loc[cid, "pass"] is False, cid


@pytest.mark.parametrize("extra,passes", [(0, True), (1, True), (2, False)])
def test_min_width_uv_brackets_allow_one_more_than_half(extra, passes):
    """The rank threshold is ⌈N/2⌉, or ⌈N/2⌉ + 1 when the square case 2m = N is singular (an
    equilibrium unit active on every sample puts its φ_j in span(Z)); two more fails."""
    c = min_width_claims(arm_table("u+v", lambda N: math.ceil(N / 2) + extra, Ns=(16, 32), lo=0.3, hi=2))
    assert c.loc["min-width-uv-brackets", "pass"] is passes, c.loc["min-width-uv-brackets", "note"]


def test_uv_closed_form_claim_fails_when_the_engine_leaves_the_closed_form():
    uv = arm_table("u+v", lambda N: math.ceil(N / 2), lo=0.3, hi=2, exact_dev=1e-6)
    c = min_width_claims(uv)
    assert c.loc["uv-closed-form", "pass"] is False and c.loc["uv-closed-form", "measured"] == pytest.approx(1e-6)
    assert "largest deviation (run u+v_" in c.loc["uv-closed-form", "note"]
    # a recorded row without a closed-form value: unchecked, so the row fails
    c = min_width_claims(arm_table("u+v", lambda N: math.ceil(N / 2), lo=0.3, hi=2).pipe(
        lambda d: d.assign(exact_train_loss=np.where(d.index == 5, np.nan, d["exact_train_loss"]))))
    assert c.loc["uv-closed-form", "pass"] is False and "1 rows without a closed-form value" in c.loc["uv-closed-form", "note"]
    # no u,v arm: not evaluated
    c = min_width_claims(arm_table("A+W+u+v", lambda N: N / 8, lo=0.03, hi=1))
    assert c.loc["uv-closed-form", "status"] == "not evaluated"


def test_min_width_control_fails_to_fail_on_a_count_law():
    """If the u,v minimum grew like √N, the control (exponent ½) would hold: the row reports
    FAIL (not discriminating)."""
    c = min_width_claims(arm_table("u+v", lambda N: 3 * math.sqrt(N), lo=0.05, hi=2))
    assert c.loc["min-width-control-uv", "pass"] is False and c.loc["min-width-uv", "pass"] is False


def test_min_width_claims_not_evaluated_when_everything_is_censored():
    c = min_width_claims(arm_table("u+v", lambda N: N / 2, lo=0.3, hi=2),
                         arm_table("A+W+u+v", lambda N: 1, lo=0.1, hi=1))  # below the grid at every N
    assert c.loc["min-width-all", "pass"] == "" and c.loc["min-width-all", "status"] == "not evaluated"
    assert "left-censored" in c.loc["min-width-all", "note"]
    assert c.loc["min-width-Auv", "status"] == "not evaluated"  # arm not run


def gram_claim_table(lam_H, lam_Hv, loss_rate, m=128, N=64):
    """gram runs at width m: λ_min(H(k)) = lam_H·λ0, λ_min(ΦΦᵀ) = lam_Hv·λ0, L(k) = 10·e^(−loss_rate·k)."""
    d = trace(f"m{m}", rate=loss_rate, steps=100, lr=0.1, lambda0=0.2, m=m, N=N)
    return d.assign(lambda_min_H=lam_H * 0.2, lambda_min_Hv=lam_Hv * 0.2)


def test_gram_claims_pass_and_fail():
    th = {"gram": {"min_width_ratio": 1.0, "min_lambda_ratio": 0.5, "max_envelope_ratio": 1.0}}
    good = cl.evaluate_claims({"gram": gram_claim_table(5.0, 0.6, 0.05)}, th).set_index("id")
    for cid in ("lambda-min-H", "lambda-min-Hv", "gd-envelope"):
        assert good.loc[cid, "pass"] is True, cid
    # the theorem's envelope (1 − ηλ0/2)^k = 0.99^k decays faster than e^(−0.005k): above it
    bad = cl.evaluate_claims({"gram": gram_claim_table(0.4, 0.1, 0.005)}, th).set_index("id")
    for cid in ("lambda-min-H", "lambda-min-Hv", "gd-envelope"):
        assert bad.loc[cid, "pass"] is False, cid
    assert bad.loc["lambda-min-Hv", "measured"] == pytest.approx(0.1)


@pytest.mark.parametrize("narrow,expected", [
    ((0.1, 0.0, 0.001), {"lambda-min-H-control": True, "lambda-min-Hv-control": True, "gd-envelope-control": True}),
    ((5.0, 0.6, 0.05), {"lambda-min-H-control": False, "lambda-min-Hv-control": False, "gd-envelope-control": False}),
])
def test_gram_controls_below_half_the_samples(narrow, expected):
    """The gram rows at m ≤ N/2 are controls: each passes when its claim fails there."""
    th = {"gram": {"min_width_ratio": 1.0, "min_lambda_ratio": 0.5, "max_envelope_ratio": 1.0, "control_width_ratio": 0.5}}
    df = pd.concat([gram_claim_table(5.0, 0.6, 0.05), gram_claim_table(*narrow, m=32)], ignore_index=True)
    claims = cl.evaluate_claims({"gram": df}, th).set_index("id")
    for cid in ("lambda-min-H", "lambda-min-Hv", "gd-envelope"):
        assert claims.loc[cid, "pass"] is True and claims.loc[cid, "n"] == 1, cid
    for cid, passes in expected.items():
        assert claims.loc[cid, "kind"] == "control" and claims.loc[cid, "pass"] is passes, cid
    assert claims.loc["lambda-min-Hv-control", "measured"] == pytest.approx(narrow[1])
    only_wide = cl.evaluate_claims({"gram": gram_claim_table(5.0, 0.6, 0.05)}, th).set_index("id")
    assert only_wide.loc["lambda-min-H-control", "status"] == "not evaluated"


def test_control_summary_per_family():
    """A family is discriminating when all its controls fail as expected, not discriminating when
    one holds; families without a control, or with only solver checks, say so."""
    th = {"rate_prediction": {"min_width_ratio": 2.0, "tolerance": 0.25, "control_width_ratio": 0.5},
          **THRESHOLDS}
    claims = cl.evaluate_claims({"gram": gram_runs(1.1, 2.5), "lazy": lazy_table(-0.5), "kernel": kernel_table(-0.5)},
                                th)
    summary = cl.control_summary(claims).set_index("experiment")
    assert summary.loc["gram", "verdict"] == "discriminating"
    assert summary.loc["gram", "controls"] == "rate-prediction-control"
    assert summary.loc["lazy", "verdict"] == "no negative control configured" and summary.loc["lazy", "claims"] == "2 bound"
    assert summary.loc["kernel", "verdict"] == "numerics only"
    assert summary.loc["gamma", "verdict"] == "not evaluated"
    held = cl.control_summary(cl.evaluate_claims({"gram": gram_runs(1.1, 1.0)}, th)).set_index("experiment")
    assert held.loc["gram", "verdict"] == "not discriminating: rate-prediction-control"
    md = cl.claims_markdown(claims)
    assert "## Negative controls by claim family" in md
    assert "| gram | 1 prediction | `rate-prediction-control` | discriminating |" in md
    assert "Negative controls by claim family" in cl.claims_html(claims)


def layers_table(rho_A_only):
    rows = [trace("all", rho=0.2, trainable="A+W+u+v", m=128, N=64, reason=""),
            trace("A", rho=rho_A_only, trainable="A", m=128, N=64,
                  reason="rho(A) = 1.1 >= 1.0 at step 9" if rho_A_only >= 1 else ""),
            trace("uv", rho=0.2, trainable="u+v", m=128, N=64, reason="")]
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("rho,passes", [(0.5, True), (1.1, False)])
def test_layers_well_posedness_claim(rho, passes):
    th = {"layers": {"min_width_ratio": 1.0, "max_rho": 1.0}}
    claims = cl.evaluate_claims({"layers": layers_table(rho)}, th).set_index("id")
    assert claims.loc["rho-below-1:layers:A", "pass"] is passes
    assert claims.loc["rho-below-1:layers:A+W+u+v", "pass"] is True
    assert "rho-below-1:layers:u+v" not in claims.index  # A does not move: nothing to test


def test_missing_experiment_threshold_or_broken_table_is_reported_not_raised():
    claims = cl.evaluate_claims({"lazy": lazy_table(-0.5), "kernel": pd.DataFrame({"x": [1]})}, {"lazy": THRESHOLDS["lazy"], "kernel": THRESHOLDS["kernel"]})
    assert list(claims.columns) == list(cl.CLAIM_COLUMNS)
    by_exp = claims.groupby("experiment")["status"].agg(set)
    assert by_exp["lazy"] == {"evaluated"} and by_exp["kernel"] == {"error"}
    assert by_exp["gamma"] == {"not evaluated"} and (claims.loc[claims["status"] != "evaluated", "pass"] == "").all()
    no_th = cl.evaluate_claims({"lazy": lazy_table(-0.5)}, {})
    assert "no thresholds" in no_th.set_index("experiment").loc["lazy", "note"]


def test_claims_markdown():
    claims = cl.evaluate_claims({"lazy": lazy_table(0.0)}, THRESHOLDS)
    md = cl.claims_markdown(claims)
    assert md.startswith("# Claims") and "0 pass, 2 fail" in md
    assert "| `lazy-W` | bound | **FAIL** | 0 | <= -0.25 |" in md
    assert md.count("\n| `") == len(claims)
    # what λ0 is and which thresholds were not set blind, next to the table (also in the HTML page)
    assert "λ0 = λ_min(G∞) is our definition" in md and "arXiv:2110.05645" in md and "not fixed blind" in md
    assert cl.LAMBDA0 in cl.claims_html(claims).replace("&#x27;", "'")


def test_kinds_margins_and_loose_bounds():
    """Every evaluated row has a kind; the margin is the distance to the threshold in CI
    half-widths; a bound that holds by a factor ≥ 3 says so; a control passes when it fails."""
    claims = cl.evaluate_claims({"lazy": lazy_table(-0.5), "kernel": kernel_table(-0.5)}, THRESHOLDS)
    ev = claims[claims["status"] == "evaluated"]
    assert set(ev["kind"]) <= set(cl.KINDS) and (ev["kind"] != "").all()
    assert cl.margin("<=", 0.0, 1.0, float("nan"), (-0.5, 0.5)) == pytest.approx(2.0)
    assert cl.margin("within", 1.1, 0.75, 1.25, (1.0, 1.2)) == pytest.approx(1.5)
    assert cl.margin(">=", 0.5, 1.0, float("nan"), (0.4, 0.6)) == pytest.approx(-5.0)
    assert math.isnan(cl.margin(">=", 0.5, 1.0, float("nan"), (float("nan"), float("nan"))))
    loose = {"kind": "bound", "pass": True, "operator": ">=", "measured": 6.3, "threshold": 0.5}
    assert cl.looseness(loose) == "holds loosely: ×12.6"
    assert cl.looseness({**loose, "measured": 0.9}) == ""
    assert cl.looseness({**loose, "kind": "prediction"}) == ""
    assert cl.result_text({"kind": "control", "pass": True, "status": "evaluated"}) == "pass (fails as expected)"
    assert cl.result_text({"kind": "control", "pass": False, "status": "evaluated"}).startswith("FAIL")
    with pytest.raises(ValueError, match="kind"):
        cl._claim("x", "lazy", "s", 1.0, ("<=", 2.0), True)  # an evaluated row without its kind


def test_claims_columns_are_machine_readable(tmp_path):
    """Operator, threshold(s), measured value, CI bounds and run count are separate columns;
    the CSV reads back with numbers as numbers and empty cells where a field does not apply."""
    tables = {"lazy": lazy_table(-0.5), "kernel": kernel_table(-0.5), "flow": flow_table()}
    claims = cl.evaluate_claims(tables, THRESHOLDS)
    assert list(claims.columns) == list(cl.CLAIM_COLUMNS)
    done = claims[claims["status"] == "evaluated"]
    assert len(done) == 6 and set(done["operator"]) <= set(cl.OPERATORS)
    assert np.isfinite(done["threshold"]).all() and np.isfinite(done["measured"]).all() and done["n"].notna().all()
    two_sided = done["operator"] == "within"
    assert np.isfinite(done.loc[two_sided, "threshold_high"]).all() and done.loc[~two_sided, "threshold_high"].isna().all()
    fitted = done[done["id"] != "gf-bound"]  # slopes: a 95% interval around the estimate
    assert ((fitted["ci_low"] <= fitted["measured"]) & (fitted["measured"] <= fitted["ci_high"])).all()
    skipped = claims[claims["status"] == "not evaluated"]
    assert (skipped["operator"] == "").all() and skipped[["threshold", "measured", "ci_low"]].isna().all().all()
    assert skipped["n"].isna().all()
    path = tmp_path / "claims.csv"
    claims.to_csv(path, index=False)
    back = pd.read_csv(path)
    assert list(back.columns) == list(cl.CLAIM_COLUMNS)
    assert back["n"].dropna().map(float.is_integer).all() and "6.0" not in path.read_text().split("\n")[1]
    assert back["threshold"].dtype == float and back["ci_low"].dtype == float
    with pytest.raises(ValueError, match="operator"):
        cl._claim("x", "lazy", "", 1.0, ("=>", 1.0), True)


def test_claims_html_shows_pass_fail_and_the_figure():
    claims = cl.evaluate_claims({"lazy": lazy_table(0.0), "kernel": kernel_table(-0.5)}, THRESHOLDS)
    page = cl.claims_html(claims, {"lazy": "figures/lazy.png", "kernel": "figures/kernel.png"})
    assert page.startswith("<!DOCTYPE html>") and page.count("<tr id=") == len(claims)
    assert "2 pass</span>" in page and "2 fail</span>" in page
    assert '<td class="result fail">FAIL</td><td><code>lazy-W</code></td><td>bound</td><td>lazy<br><small>figures/lazy.png</small>' in page
    assert '<td class="result pass">pass</td><td><code>kernel-ZZ-Kinf</code></td><td>numerics</td><td>kernel<br><small>figures/kernel.png' in page
    assert "within [-0.75, -0.25]" in page and "&lt;= -0.25" in page
    # an experiment that did not run has no figure
    assert '<td class="result other">not evaluated</td><td><code>well_posed</code>:<wbr><code>gamma</code></td><td></td><td>gamma<br><small>—' in page


@pytest.mark.parametrize("rho,passes", [(1.1, True), (0.5, False)])
def test_layers_control_subset_is_a_negative_control(rho, passes):
    """With control_subsets [[A]], the A-only arm gives a control row that passes when ρ reaches 1."""
    th = {"layers": {"min_width_ratio": 1.0, "max_rho": 1.0, "control_subsets": [["A"]]}}
    claims = cl.evaluate_claims({"layers": layers_table(rho)}, th).set_index("id")
    row = claims.loc["rho-crosses-1:layers:A"]
    assert row["kind"] == "control" and row["pass"] is passes and row["measured"] == pytest.approx(rho)
    assert "rho-below-1:layers:A" not in claims.index
    assert claims.loc["rho-below-1:layers:A+W+u+v", "kind"] == "bound"


# --------------------------------------------------------------------------------------
# boundary: ρ drift near the well-posedness limit
# --------------------------------------------------------------------------------------
BOUNDARY_TH = {"min_width_ratio": 1.0, "max_rho": 1.0, "bound_exponent": -0.5, "drift_exponent": -1.5, "tolerance": 0.25}


def boundary_table(slope, gammas=(0.25, 0.475), widths=(32, 64, 128, 256), seeds=(0, 1, 2), N=64, rho_jump=None,
                   stopped_m=None):
    """Runs whose ρ(A(k)) rises smoothly from 2γ by c_γ·m^slope (times a seed factor), k = 0..20."""
    rows = []
    k = np.arange(0, 21)
    for g in gammas:
        for m in widths:
            for s in seeds:
                rho0 = 2 * g
                drift = 0.5 * g * m**slope * (1 + 0.1 * s)
                rho = rho0 + drift * (1 - np.exp(-k / 5)) / (1 - np.exp(-4))
                if rho_jump is not None and g == max(gammas) and m == max(widths):
                    rho = rho + rho_jump * (k == k[-1])
                status = "stopped" if m == stopped_m else "completed"
                rows.append(pd.DataFrame({"run_id": f"m{m}_g{g}_s{s}", "dataset": "ds", "N": N, "m": m, "gamma": g,
                                          "seed": s, "step": k, "rho": rho, "train_loss": np.exp(-0.3 * k),
                                          "failure": False, "status": status, "reason": ""}))
    return pd.concat(rows, ignore_index=True)


def test_rho_drifts_and_the_pooled_exponent():
    drifts = an.rho_drifts(boundary_table(-1.5))
    assert len(drifts) == 2 * 4 * 3
    r = drifts[(drifts["m"] == 64) & (drifts["gamma"] == 0.25) & (drifts["seed"] == 0)].iloc[0]
    assert r["rho0"] == pytest.approx(0.5) and r["drift"] == pytest.approx(0.5 * 0.25 * 64**-1.5, rel=1e-9)
    assert r["abs_drift"] == pytest.approx(r["drift"]) and r["loss_ratio"] == pytest.approx(np.exp(-6))
    fit = an.drift_exponent(drifts)  # seed factors are the same at every width: the slope is exact
    assert fit["slope"] == pytest.approx(-1.5) and fit["groups"] == 2 and fit["n"] == 24
    assert fit["low"] <= -1.5 <= fit["high"]


def test_drift_exponent_uses_one_intercept_per_gamma():
    """Different drift levels per γ must not tilt the pooled slope: widths differ between γ here."""
    a = boundary_table(-1.0, gammas=(0.25,), widths=(32, 64))
    b = boundary_table(-1.0, gammas=(0.45,), widths=(128, 256))
    b["rho"] = b["rho"] + (b["rho"] - 0.9) * 99  # a γ with 100× the drift at larger widths
    fit = an.drift_exponent(an.rho_drifts(pd.concat([a, b], ignore_index=True)))
    assert fit["slope"] == pytest.approx(-1.0)


def test_rho_drift_is_signed_and_its_size_absolute():
    d = boundary_table(-1.5, gammas=(0.25,), widths=(64,), seeds=(0,))
    d["rho"] = 0.5 - (d["rho"] - 0.5)  # ρ falls
    r = an.rho_drifts(d).iloc[0]
    assert r["drift"] == pytest.approx(0.0) and r["abs_drift"] > 0


@pytest.mark.parametrize("slope,bound,prediction", [(-1.5, True, True), (-0.75, True, False), (-0.3, False, False),
                                                     (-2.0, True, False)])
def test_boundary_drift_claims_pass_and_fail(slope, bound, prediction):
    claims = cl.evaluate_claims({"boundary": boundary_table(slope)}, {"boundary": BOUNDARY_TH}).set_index("id")
    assert claims.loc["boundary-drift-bound", "kind"] == "bound"
    assert claims.loc["boundary-drift-exponent", "kind"] == "prediction"
    assert claims.loc["boundary-drift-bound", "pass"] is bound
    assert claims.loc["boundary-drift-exponent", "pass"] is prediction
    assert claims.loc["boundary-drift-exponent", "measured"] == pytest.approx(slope)
    # a slow decay (−0.3) leaves drifts ≈ 0.08 at m = 64: ρ(A(0)) = 0.95 then crosses 1
    assert claims.loc["boundary-rho-below-1", "pass"] is (slope < -0.5)
    assert claims.loc["boundary-drift-exponent", "n"] == 2 * 3 * 3  # m ≥ N only: 64, 128, 256


@pytest.mark.parametrize("narrow_slope,control", [(0.0, True), (-1.5, False)])
def test_boundary_controls_below_half_the_samples(narrow_slope, control):
    """The two boundary bounds over m ≤ N/2 are controls: a drift that does not shrink there
    fails both as expected (ρ crosses 1); one that shrinks as fast as above N holds both (not
    discriminating)."""
    wide = boundary_table(-1.5, widths=(64, 128, 256))
    narrow = boundary_table(narrow_slope, widths=(16, 32))
    narrow["run_id"] = "narrow-" + narrow["run_id"]
    th = {"boundary": {**BOUNDARY_TH, "control_width_ratio": 0.5}}
    claims = cl.evaluate_claims({"boundary": pd.concat([wide, narrow], ignore_index=True)}, th).set_index("id")
    assert claims.loc["boundary-drift-bound", "pass"] is True and "boundary-drift-exponent-control" not in claims.index
    drift = claims.loc["boundary-drift-bound-control"]
    assert drift["kind"] == "control" and drift["pass"] is control
    assert drift["measured"] == pytest.approx(narrow_slope, abs=0.05)
    # a drift that does not shrink takes ρ(0) = 0.95 past 1 at γ = 0.475; a shrinking one does not
    assert claims.loc["boundary-rho-below-1-control", "pass"] is control


def test_boundary_rho_bound_fails_when_rho_reaches_one_or_a_run_stops():
    th = {"boundary": BOUNDARY_TH}
    crossed = cl.evaluate_claims({"boundary": boundary_table(-1.5, rho_jump=0.1)}, th).set_index("id")
    assert crossed.loc["boundary-rho-below-1", "pass"] is False
    assert crossed.loc["boundary-rho-below-1", "measured"] > 1.0
    # the jump happens at a width below N: not in the tested range
    narrow = boundary_table(-1.5, widths=(16, 64, 128), rho_jump=None)
    narrow.loc[(narrow["m"] == 16) & (narrow["step"] == 20), "rho"] = 1.2
    assert cl.evaluate_claims({"boundary": narrow}, th).set_index("id").loc["boundary-rho-below-1", "pass"] is True
    stopped = cl.evaluate_claims({"boundary": boundary_table(-1.5, stopped_m=128)}, th).set_index("id")
    assert stopped.loc["boundary-rho-below-1", "pass"] is False
    assert stopped.loc["boundary-drift-bound", "pass"] is False


def test_boundary_claims_without_wide_runs_are_not_evaluated():
    claims = cl.evaluate_claims({"boundary": boundary_table(-1.5, widths=(16, 32))}, {"boundary": BOUNDARY_TH})
    claims = claims[claims["experiment"] == "boundary"]
    assert set(claims["status"]) == {"not evaluated"} and len(claims) == 3


# -- the long gradient-flow solves of flow ----------------------------------------------
def flow_long_table(rate=1.0, lam_h=0.5, control_rate=0.1, control_lam_h=0.5, lam0=0.1, floor=1e-6, window=1e-2,
                    horizon=3.0, stop="floor", status="completed"):
    """GF-long rows: ln L(t) = −rate·t until the floor (prediction width 128) and ln L = −control_rate·t
    (control width 8); λ_min(H(0)) = lam_h, so the predicted rate is 2·lam_h."""
    rows = []
    for role, m, r, lh in (("prediction", 128, rate, lam_h), ("control", 8, control_rate, control_lam_h)):
        t_max = horizon / lam0
        t = np.linspace(0, t_max, 301)
        L = np.exp(-r * t)
        keep = L > floor
        t_end = float(t[keep].max()) if stop == "floor" else t_max
        rows.append(pd.DataFrame({"method": "GF-long", "run_id": f"{role}_s0", "seed": 0, "m": m, "N": 64, "t": t[keep],
                                  "step": np.arange(int(keep.sum())), "train_loss": L[keep], "lambda0": lam0,
                                  "lambda_min_H0": lh, "role": role, "horizon": horizon, "floor": floor,
                                  "window": window, "t_end": t_end, "stop": stop if role == "prediction" else "horizon",
                                  "status": status, "failure": False}))
    return pd.concat(rows, ignore_index=True)


FLOW_LONG_TH = {"max_bound_ratio": 1.0, "rate_tolerance": 0.25}


def test_gf_long_window_between_floor_and_window():
    t = np.arange(10.0)
    ratio = np.array([1, 0.5, 0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-5])
    mask, kind = an.gf_long_window(t, ratio, 1e-6, 1e-2)
    assert kind == "loss window" and mask.tolist() == [False] * 3 + [True] * 4 + [False] * 3  # stops at the floor


def test_gf_long_window_falls_back_to_the_last_quarter():
    mask, kind = an.gf_long_window(np.arange(12.0), np.linspace(1, 0.5, 12), 1e-6, 1e-2)
    assert kind == "last quarter" and mask.sum() == 3 and mask[-3:].all()


def test_gf_long_summary_rate_and_bound():
    s = an.gf_long_summary(flow_long_table(rate=1.0, lam_h=0.5)).set_index("role")
    assert s.loc["prediction", "rate"] == pytest.approx(1.0) and s.loc["prediction", "rate_ratio"] == pytest.approx(1.0)
    assert s.loc["prediction", "covered"] == pytest.approx(3.0)  # stopped at the floor: min(horizon, ln 1e6)
    assert s.loc["prediction", "bound_ratio"] < 1 and s.loc["prediction", "slack"] > 1
    assert s.loc["control", "rate_ratio"] == pytest.approx(0.1)


def test_claim_flow_long_passes_when_the_prediction_holds_and_the_control_fails():
    rows = {r["id"]: r for r in cl.claim_flow_long(flow_long_table(), FLOW_LONG_TH)}
    assert rows["gf-bound-long"]["pass"] is True and rows["gf-bound-long"]["kind"] == "bound"
    assert rows["gf-rate"]["pass"] is True and rows["gf-rate"]["kind"] == "prediction"
    assert rows["gf-rate-control"]["pass"] is True and rows["gf-rate-control"]["kind"] == "control"


def test_claim_flow_long_fails_when_the_rate_is_off():
    rows = {r["id"]: r for r in cl.claim_flow_long(flow_long_table(rate=1.6, lam_h=0.5), FLOW_LONG_TH)}
    assert rows["gf-rate"]["pass"] is False  # ratio 1.6 outside 1 ± 0.25


def test_claim_flow_long_control_fails_when_the_control_agrees():
    rows = {r["id"]: r for r in cl.claim_flow_long(flow_long_table(control_rate=1.0, control_lam_h=0.5), FLOW_LONG_TH)}
    assert rows["gf-rate-control"]["pass"] is False  # the control width obeys the prediction: not discriminating


def test_claim_flow_long_bound_fails_when_the_loss_decays_slower_than_lambda0():
    rows = {r["id"]: r for r in cl.claim_flow_long(flow_long_table(rate=0.05, lam_h=0.025, lam0=0.1), FLOW_LONG_TH)}
    assert rows["gf-bound-long"]["pass"] is False and rows["gf-bound-long"]["measured"] > 1


def test_claim_flow_long_bound_fails_short_of_the_horizon():
    # reached neither the floor nor the horizon: the solve covers λ0·t < horizon
    df = flow_long_table(stop="horizon")
    df.loc[df["role"] == "prediction", "t_end"] = 5.0
    rows = {r["id"]: r for r in cl.claim_flow_long(df, FLOW_LONG_TH)}
    assert rows["gf-bound-long"]["pass"] is False


def test_claim_flow_long_without_long_solves():
    rows = cl.claim_flow_long(flow_table(), FLOW_LONG_TH)
    assert [r["status"] for r in rows] == ["not evaluated"] * 3
