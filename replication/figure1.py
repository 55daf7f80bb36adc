"""The sibling paper's Figure 1 (arXiv:2110.05645): its three findings, and float32 against float64.

The experiment ``sibling-fig1`` is a width sweep with one step η for every width
(:func:`replication.runs.expand_sibling_fig1`); its figure is
:func:`replication.plotting.plot_sibling_fig1`.  This module states the sibling's findings as
checks on the aggregated table (:func:`findings`) and compares the same runs in both
precisions (:func:`deviations`; the runs: :mod:`replication.precision`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: "the operator norm stays near its start": max_k |ρ(A(k)) − ρ(A(0))| / ρ(A(0)) at most this
#: (the sibling's axis runs from 0.1980 to 0.1992, a movement of 0.6%)
RHO_DRIFT = 0.01
#: the findings of :func:`findings`, in order
FINDINGS = ("train-faster", "train-lower", "test-lower", "rho-stays")
#: columns of :func:`findings`
FINDING_COLUMNS = ("dataset", "finding", "statement", "measured", "holds", "note")


def _good(df: pd.DataFrame) -> pd.DataFrame:
    return df[~df["failure"].astype(bool)]


def run_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per completed run: dataset, m, seed, L(0), L(K), test L(0), test L(K), the
    largest |ρ(k) − ρ(0)| / ρ(0)."""
    rows = []
    for run_id, d in _good(df).groupby("run_id", sort=False):
        if (d["status"] != "completed").any():
            continue
        d = d.sort_values("step")
        first, last = d.iloc[0], d.iloc[-1]
        rho0 = float(first["rho"])
        rows.append({"dataset": first["dataset"], "m": int(first["m"]), "seed": int(first["seed"]), "run_id": run_id,
                     "L0": float(first["train_loss"]), "LK": float(last["train_loss"]),
                     "test_L0": float(first["test_loss"]), "test_LK": float(last["test_loss"]),
                     "rho0": rho0, "rho_drift": float(np.max(np.abs(d["rho"].to_numpy() - rho0)) / rho0)})
    return pd.DataFrame(rows, columns=["dataset", "m", "seed", "run_id", "L0", "LK", "test_L0", "test_LK", "rho0", "rho_drift"])


def _decreasing(values: pd.Series) -> bool:
    v = values.to_numpy()
    return bool(len(v) >= 2 and np.all(np.diff(v) < 0))


def _listing(values: pd.Series, fmt="{:.3g}") -> str:
    return "; ".join(f"m={m}: {fmt.format(v)}" for m, v in values.items())


def findings(df: pd.DataFrame) -> pd.DataFrame:
    """The sibling's three findings per data set, on the completed runs (means over seeds):

    * ``train-faster``: L(K)/L(0) on the training set falls with every wider m (the widths start
      from different losses, so the ratio says which trains faster); ``train-lower``: the final
      training loss L(K) itself falls with every wider m (what the sibling's log-loss panel shows);
    * ``test-lower``: the final test loss falls with every wider m;
    * ``rho-stays``: max over k, widths and seeds of |ρ(A(k)) − ρ(A(0))|/ρ(A(0)) ≤ :data:`RHO_DRIFT`.
    """
    runs = run_summary(df)
    out = []
    for name in sorted(df["dataset"].unique()):
        r = runs[runs["dataset"] == name]
        n_runs = df[df["dataset"] == name]["run_id"].nunique()
        note = f"{len(r)} of {n_runs} runs completed"
        if r.empty:
            out += [{"dataset": name, "finding": f, "statement": "", "measured": "", "holds": None, "note": note}
                    for f in FINDINGS]
            continue
        by_m = r.groupby("m")
        ratio = by_m.apply(lambda g: float((g["LK"] / g["L0"]).mean()), include_groups=False)
        final = by_m["LK"].mean()
        test = by_m["test_LK"].mean()
        drift = float(r["rho_drift"].max())
        out += [
            {"dataset": name, "finding": "train-faster", "statement": "wider networks train faster: L(K)/L(0) falls with m",
             "measured": _listing(ratio), "holds": _decreasing(ratio), "note": note},
            {"dataset": name, "finding": "train-lower", "statement": "wider networks reach a lower training loss: L(K) falls with m",
             "measured": _listing(final, "{:.4g}"), "holds": _decreasing(final), "note": note},
            {"dataset": name, "finding": "test-lower", "statement": "wider networks reach a lower test loss: L_test(K) falls with m",
             "measured": _listing(test, "{:.4g}"), "holds": _decreasing(test), "note": note},
            {"dataset": name, "finding": "rho-stays",
             "statement": f"ρ(A(k)) stays near its start: max |ρ(k) − ρ(0)|/ρ(0) ≤ {RHO_DRIFT:g}",
             "measured": f"{drift:.3g} (per m: {_listing(by_m['rho_drift'].max())})", "holds": drift <= RHO_DRIFT,
             "note": note},
        ]
    return pd.DataFrame(out, columns=list(FINDING_COLUMNS))


# -- float32 against float64 -------------------------------------------------------------------
#: the plotted quantities compared, with how their deviation is measured
PLOTTED = {
    "train_loss": "relative", "test_loss": "relative", "train_ratio": "relative", "test_ratio": "relative",
    "rho": "absolute", "rho_drift": "absolute",
}


def plotted_quantities(df: pd.DataFrame) -> pd.DataFrame:
    """The recorded rows with what the figure draws: the losses, L/L(0) on both sets, ρ and ρ − ρ(0)."""
    d = _good(df).sort_values(["run_id", "step"]).copy()
    first = d.groupby("run_id")[["train_loss", "test_loss", "rho"]].transform("first")
    d["train_ratio"] = d["train_loss"] / first["train_loss"]
    d["test_ratio"] = d["test_loss"] / first["test_loss"]
    d["rho_drift"] = d["rho"] - first["rho"]
    return d


def deviations(table64: pd.DataFrame, table32: pd.DataFrame) -> pd.DataFrame:
    """Largest deviation of every plotted quantity between two aggregated tables of the same runs
    (relative for the losses and loss ratios, absolute for ρ and its drift), with where it occurs,
    and the step sizes η of both."""
    keys = ["dataset", "m", "seed", "step"]
    a, b = plotted_quantities(table64), plotted_quantities(table32)
    both = a.merge(b, on=keys, suffixes=("_64", "_32"))
    rows = []
    for q, how in PLOTTED.items():
        x, y = both[f"{q}_64"].to_numpy(float), both[f"{q}_32"].to_numpy(float)
        dev = np.abs(y - x) / (np.abs(x) if how == "relative" else 1.0)
        i = int(np.nanargmax(dev))
        scale = float(np.nanmax(np.abs(x)))
        rows.append({"quantity": q, "measure": how, "max_deviation": float(dev[i]),
                     "relative_to_range": float(dev[i] / scale) if how == "absolute" and scale > 0 else np.nan,
                     "at": ", ".join(f"{k}={both[k].iloc[i]}" for k in keys), "rows": len(both)})
    lr64 = table64.drop_duplicates("run_id").set_index(["dataset", "m", "seed"])["lr"]
    lr32 = table32.drop_duplicates("run_id").set_index(["dataset", "m", "seed"])["lr"]
    rows.append({"quantity": "lr", "measure": "relative", "max_deviation": float((np.abs(lr32 - lr64) / lr64).max()),
                 "relative_to_range": np.nan, "at": "", "rows": len(lr64)})
    return pd.DataFrame(rows)
