"""Titles the figures compute from their CSV (the figures themselves: tests/workflow)."""

import pandas as pd

from replication.plotting import step_text


def table(lrs: dict) -> pd.DataFrame:
    """One row per run: {(dataset, m): η}."""
    return pd.DataFrame([{"dataset": ds, "run_id": f"{ds}_m{m}", "m": m, "lr": lr} for (ds, m), lr in lrs.items()])


def test_step_text_names_one_eta_per_run_per_data_set_or_for_all():
    assert step_text(table({("a", 8): 0.01, ("a", 16): 0.01, ("b", 8): 0.01})) == "one fixed η = 0.01 for every width"
    assert step_text(table({("a", 8): 0.0056, ("a", 16): 0.0056, ("b", 8): 0.0029, ("b", 16): 0.0029})) == (
        "one η for every width of a data set (a: 0.0056, b: 0.0029)")
    assert step_text(table({("a", 8): 0.01, ("a", 16): 0.02})) == "η = ½·2/λ_max(H(0)) per run (0.01–0.02)"
