"""The invariants experiment's analysis on synthetic tables whose exponents are known: run
summaries, the shared-slope fit, and claims that pass and fail; its run table and config checks."""

import copy

import numpy as np
import pandas as pd
import pytest

from replication import claims as cl
from replication import config as C
from replication import fits, runs

TH = {"tolerance": 0.25}


def table(p_linear=0.0, p_sqrt=0.5, Ns=(16, 32, 64, 128), seeds=(0, 1, 2), stop=None):
    """Traces whose invariants grow like N^p (p_linear along m = cN at c = 2 and 4, p_sqrt along
    m = 4√(16N), p = 0 along m = 4N²/16), with a level depending on c and a ±5% seed factor; λ_min
    falls (its exponent −p).  ``stop``: run_id of a run that stopped early."""
    rows = []
    fams = [("linear", 2.0, p_linear), ("linear", 4.0, p_linear), ("sqrt", 4.0, p_sqrt), ("square", 4.0, 0.0)]
    for fam, c, p in fams:
        for N in Ns:
            m = {"linear": round(c * N), "sqrt": round(c * np.sqrt(16 * N)), "square": round(c * N * N / 16)}[fam]
            for s in seeds:
                level = (1 + 0.05 * (s - 1)) * (N / 16) ** p / c
                run_id = f"invariants-n{N}_f{fam}_c{c:g}_m{m}_s{s}"
                status = "stopped" if run_id == stop else "completed"
                for k, frac in ((0, 0.0), (10, 0.6), (20, 1.0)):
                    rows.append({"experiment": "invariants", "run_id": run_id, "N": N, "m": m, "seed": s,
                                 "family": fam, "ratio": c, "status": status, "failure": False, "step": k,
                                 "lambda0": 0.1, "train_loss": 10.0 * (1 - 0.99 * frac), "gamma": 0.1, "d": 2 * N,
                                 "steps": 20, "stop_below": 0.05, "lambda_min_Hv": 0.1 * (0.5 - 0.2 * frac * level / (1 + level)) / (N / 16) ** p,
                                 "gram_change": frac * level, "max_neuron_move": frac * level,
                                 "flip_fraction": frac * level * 1e-2, "rho": 0.2 + frac * level * 1e-4})
    return pd.DataFrame(rows)


def test_summaries_reduce_each_invariant_over_the_steps():
    s = fits.invariant_summaries(table()).set_index("run_id")
    r = s.loc["invariants-n32_flinear_c2_m64_s1"]
    assert r["gram_change"] == pytest.approx(0.5) and r["neuron_move"] == pytest.approx(0.5)
    assert r["flip_fraction"] == pytest.approx(0.005) and r["rho_drift"] == pytest.approx(0.5e-4)
    assert r["lambda_min_Hv"] == pytest.approx((0.5 - 0.2 / 3)) and r["loss_ratio"] == pytest.approx(0.01)
    assert r["reached"] and r["steps_run"] == 20


def test_runs_short_of_the_target_are_counted():
    t = table()
    t.loc[t["run_id"] == "invariants-n32_flinear_c2_m64_s1", "stop_below"] = 1e-3
    c = _rows(pd.DataFrame(cl.claim_invariants(t, TH)))
    assert "1 runs ended at the step cap" in c.loc["invariant-gram_change", "note"]


def test_grouped_slope_recovers_a_shared_exponent_with_separate_levels():
    x = np.array([1, 2, 4, 8, 4, 8, 16, 32], dtype=float)
    y = np.r_[3 * x[:4] ** 0.7, 50 * x[4:] ** 0.7] * (1 + 0.01 * np.array([1, -1, 1, -1, -1, 1, -1, 1]))
    fit = fits.grouped_loglog_slope(x, y, ["a"] * 4 + ["b"] * 4)
    assert fit["slope"] == pytest.approx(0.7, abs=0.02) and fit["low"] < 0.7 < fit["high"] and fit["groups"] == 2
    # one common intercept would be pulled by the level difference; the per-group one is not
    assert fits.loglog_slope(x, y)["slope"] > 1.0
    assert fits.grouped_loglog_slope(x, np.r_[y[:7], 0.0], ["a"] * 4 + ["b"] * 4)["dropped"] == 1


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_slopes_are_recovered(p):
    sl = fits.invariant_slopes(fits.invariant_summaries(table(p_linear=p))).set_index(["family", "invariant"])
    for name in ("gram_change", "neuron_move", "flip_fraction", "rho_drift"):
        assert sl.loc[("linear", name), "slope"] == pytest.approx(p, abs=1e-6)
        assert sl.loc[("square", name), "slope"] == pytest.approx(0.0, abs=1e-6)
    assert sl.loc[("linear", "lambda_min_Hv"), "n"] == 24


def _rows(claims):
    return claims.set_index("id")


def test_claims_pass_when_flat_along_cN_and_growing_along_sqrt():
    c = _rows(pd.DataFrame(cl.claim_invariants(table(0.0, 0.5), TH)))
    assert len(c) == 10
    for name in fits.INVARIANTS:
        assert c.loc[f"invariant-{name}", "kind"] == "prediction"
        assert c.loc[f"invariant-{name}", "pass"] == True  # noqa: E712
        assert c.loc[f"invariant-{name}-control-sqrt", "kind"] == "control"
        assert c.loc[f"invariant-{name}-control-sqrt", "pass"] == True  # noqa: E712, name
        assert c.loc[f"invariant-{name}", "operator"] == "within" and c.loc[f"invariant-{name}", "threshold"] == -0.25


def test_predictions_fail_when_the_invariants_grow_along_cN():
    c = _rows(pd.DataFrame(cl.claim_invariants(table(0.5, 0.5), TH)))
    for name in ("gram_change", "neuron_move", "flip_fraction", "rho_drift"):
        assert c.loc[f"invariant-{name}", "pass"] == False  # noqa: E712
        assert c.loc[f"invariant-{name}", "measured"] == pytest.approx(0.5, abs=1e-6)


def test_controls_fail_to_discriminate_when_the_slower_family_is_flat_too():
    c = _rows(pd.DataFrame(cl.claim_invariants(table(0.0, 0.1), TH)))
    for name in fits.INVARIANTS:
        assert c.loc[f"invariant-{name}-control-sqrt", "pass"] == False  # noqa: E712


def test_controls_count_only_the_expected_side():
    """An invariant that shrinks along the slower family is not the failure the control expects
    (λ_min rising likewise)."""
    c = _rows(pd.DataFrame(cl.claim_invariants(table(0.0, -0.6), TH)))
    for name in fits.INVARIANTS:
        assert c.loc[f"invariant-{name}-control-sqrt", "pass"] == False, name  # noqa: E712
    assert "below the band" in c.loc["invariant-gram_change-control-sqrt", "note"]
    assert c.loc["invariant-gram_change-control-sqrt", "operator"] == "<="
    assert c.loc["invariant-lambda_min_Hv-control-sqrt", "operator"] == ">="


def test_predictions_fail_when_the_invariants_shrink_along_cN():
    c = _rows(pd.DataFrame(cl.claim_invariants(table(-0.6, 0.5), TH)))
    assert c.loc["invariant-neuron_move", "pass"] == False  # noqa: E712
    assert "below the band" in c.loc["invariant-neuron_move", "note"]


def test_a_stopped_run_fails_the_prediction():
    c = _rows(pd.DataFrame(cl.claim_invariants(table(stop="invariants-n64_flinear_c4_m256_s0"), TH)))
    assert (c.loc[[f"invariant-{n}" for n in fits.INVARIANTS], "pass"] == False).all()  # noqa: E712
    assert "1 stopped" in c.loc["invariant-gram_change", "note"]


def test_claims_table_includes_the_invariants():
    t = cl.evaluate_claims({"invariants": table()}, {"invariants": TH})
    inv = t[t["id"].str.startswith("invariant-")]
    assert len(inv) == 10 and set(inv["kind"]) == {"prediction", "control"} and (inv["status"] == "evaluated").all()


def test_plot_draws_every_panel_of_the_caption():
    from replication import plotting

    from tests.replication.test_report import caption_panels

    fig = plotting.plot_invariants(table())
    drawn = [ax.get_label() for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert all(drawn) and set(drawn) == set(caption_panels("invariants"))


# -- run table and configuration -------------------------------------------------------------
def default_config():
    return C.load_yaml("workflow/config/default.yaml")


def test_run_table_has_three_families_meeting_at_the_smallest_N():
    cfg = default_config()
    block = cfg["experiments"]["invariants"]
    widths = runs.invariant_widths(block)
    at_n0 = {m for fam, c, N, m in widths if N == min(block["n_train"]) and c == block["control_ratio"]}
    assert len(at_n0) == 1
    sq = [(N, m) for fam, c, N, m in widths if fam == "square"]
    assert all(N <= block["square_max_n"] for N, _ in sq) and len(sq) >= 2
    rows = runs.expand_invariants(cfg, "invariants", block)
    assert all(r["track_invariants"] and r["track_gram"] for r in rows)
    assert len({r["run_id"] for r in rows}) == len(rows)
    ds = runs.all_datasets(cfg)
    for N in block["n_train"]:
        assert ds[f"invariants-n{N}"] == {"kind": "random-labels", "n_train": N, "n_test": 0, "d": 2 * N,
                                          "seed": block["data_seed"]}


@pytest.mark.parametrize("change, message", [
    ({"square_max_n": 16}, "fewer than two N"),
    ({"control_ratio": 1e-3}, "must be in [1"),
])
def test_config_checks(change, message):
    cfg = copy.deepcopy(default_config())
    cfg["experiments"]["invariants"].update(change)
    errors = C.semantic_errors(cfg)
    assert any(message in e for e in errors), errors


def test_config_check_derived_name_clash():
    cfg = copy.deepcopy(default_config())
    cfg["datasets"]["invariants-n16"] = dict(cfg["datasets"]["sphere-linear"])
    assert any("clashes" in e for e in C.semantic_errors(cfg))
