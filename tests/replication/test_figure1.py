"""replication.figure1, replication.precision and the sibling-fig1 figure: the findings, float32 against float64."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from replication import figure1, precision
from replication.plotting import plot_sibling_fig1


def table(final_ratio: dict, final_test: dict, drift=0.001, dataset="a", steps=(0, 5, 10)) -> pd.DataFrame:
    """A synthetic aggregated table: per width m, L(k) = 100·ratio^(k/K), test likewise, ρ(k) = 0.2·(1 + drift·k/K)."""
    rows = []
    K = steps[-1]
    for m, r in final_ratio.items():
        for k in steps:
            rows.append({"dataset": dataset, "run_id": f"{dataset}_m{m}", "m": m, "seed": 0, "step": k, "N": 10, "n_test": 8,
                         "d": 4, "gamma": 0.1, "lr": 0.01, "dtype": "float32", "status": "completed", "failure": False,
                         "train_loss": 100 * r ** (k / K), "test_loss": 50 * (final_test[m] / 50) ** (k / K),
                         "rho": 0.2 * (1 + drift * k / K)})
    return pd.DataFrame(rows)


def test_findings_hold_and_fail_as_stated():
    good = figure1.findings(table({8: 0.5, 16: 0.1, 32: 0.01}, {8: 40, 16: 30, 32: 20}))
    assert good.set_index("finding")["holds"].to_dict() == {"train-faster": True, "train-lower": True, "test-lower": True,
                                                             "rho-stays": True}
    bad = figure1.findings(table({8: 0.5, 16: 0.6, 32: 0.01}, {8: 40, 16: 30, 32: 35}, drift=0.05))
    assert bad.set_index("finding")["holds"].to_dict() == {"train-faster": False, "train-lower": False, "test-lower": False,
                                                            "rho-stays": False}
    assert "m=16: 0.6" in bad.set_index("finding").loc["train-faster", "measured"]


def test_deviations_of_the_plotted_quantities():
    a = table({8: 0.5, 16: 0.1}, {8: 40, 16: 30})
    b = a.copy()
    b.loc[b["step"] == 10, "train_loss"] *= 1 + 1e-5
    b["rho"] += 2e-7
    dev = figure1.deviations(a, b).set_index("quantity")
    assert dev.loc["train_loss", "max_deviation"] == pytest.approx(1e-5, rel=1e-6)
    assert dev.loc["train_ratio", "max_deviation"] == pytest.approx(1e-5, rel=1e-6)
    assert dev.loc["rho", "max_deviation"] == pytest.approx(2e-7, rel=1e-6)
    assert dev.loc["rho_drift", "max_deviation"] < 1e-15 and dev.loc["test_loss", "max_deviation"] == 0
    assert dev.loc["lr", "max_deviation"] == 0


def test_the_figure_has_a_block_per_data_set():
    df = pd.concat([table({8: 0.5, 16: 0.1}, {8: 40, 16: 30}, dataset=n) for n in ("a", "b")])
    fig = plot_sibling_fig1(df)
    assert len(fig.subfigs) == 2 and all(len(s.axes) == 6 for s in fig.subfigs)
    titles = [s._suptitle.get_text() for s in fig.subfigs]
    assert all("η = 0.01 for every m" in t and "wider m: faster (L(K)/L(0) lower): yes" in t for t in titles)


def test_float32_against_float64_on_a_small_sweep():
    config = {
        "datasets": {"tiny": {"kind": "sphere-linear", "n_train": 12, "n_test": 8, "d": 5, "seed": 1}},
        "training": {"lr": "auto", "steps": 20, "tol": 1e-10, "max_iter": 500, "record_every": 5, "method": "fixed-point",
                     "trainable": ["A", "W", "u", "v"], "threads": 1, "seeds_per_job": 1},
        "experiments": {"sibling-fig1": {"datasets": ["tiny"], "gamma": 0.1, "widths": [16, 48], "seeds": [0],
                                         "dtype": "float32", "tol": 1e-6}},
    }
    out = precision.compare_precisions(config, 20, log=lambda *_: None)
    dev = out["deviations"].set_index("quantity")["max_deviation"]
    assert dev["lr"] == 0 and dev["train_loss"] < 1e-4 and dev["test_loss"] < 1e-4 and dev["rho"] < 1e-6
    assert set(out["tables"]["float32"]["dtype"]) == {"float32"} and out["tol32"] == 1e-6
    agree = out["findings_agree"]
    assert len(agree) == 4 and (agree["holds_64"] == agree["holds_32"]).all()
    assert "| train_loss | relative |" in precision._markdown(out)
