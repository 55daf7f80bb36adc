"""Figures of the experiments: one function per experiment, its aggregated CSV in, a Figure out.

Each ``plot_<experiment>(df)`` takes the long-format table ``results/<experiment>.csv`` (one
row per run × recorded step, see README "Reading the CSVs") and returns a
:class:`matplotlib.figure.Figure`; :func:`plot_experiment` dispatches on the name.  Figures
are built without pyplot (no global state, any backend); curves are the mean over seeds
with a min–max band.  Rows with ``failure=True`` mark where a run stopped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

LABELS = {
    "step": "GD iteration k [steps]",
    "train_loss": "train loss ½Σᵢ(ŷᵢ − yᵢ)² [label units²]",
    "test_loss": "test loss ½Σ(ŷ − y)² [label units²]",
    "rho": "ρ(A) = γ‖A‖₂/√m [dimensionless]",
    "fwd_iter": "forward solve iterations per step [count]",
    "rel_change_W": "‖θ(k) − θ(0)‖_F / ‖θ(0)‖_F [dimensionless]",
    "rel_change_A": "‖θ(k) − θ(0)‖_F / ‖θ(0)‖_F [dimensionless]",
    "failed": "runs stopped early [fraction of seeds]",
    "gamma": "γ [dimensionless]",
}
BAND = ("pi", 100)  # min–max over seeds


def _figure(nrows: int, ncols: int, width=4.2, height=3.4):
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))


def _lines(ax, df, y, hue, order, *, log=False, legend=False, **kw):
    """Mean over seeds of ``y`` vs step per ``hue`` level, with the min–max band."""
    palette = dict(zip(order, sns.color_palette("viridis", len(order))))
    ok = df[~df["failure"].astype(bool) & np.isfinite(df[y])]
    sns.lineplot(data=ok, x="step", y=y, hue=hue, hue_order=order, palette=palette, estimator="mean",
                 errorbar=BAND, ax=ax, legend=legend, linewidth=1.2, **kw)
    ax.set(xlabel=LABELS["step"], ylabel=LABELS[y])
    if log:
        ax.set_yscale("log")
    return palette


def _one(df, col):
    """The single value of ``col`` in ``df`` (as text), or a range when it varies."""
    vals = sorted(df[col].dropna().unique())
    return f"{vals[0]:g}" if len(vals) == 1 else f"{vals[0]:g}–{vals[-1]:g}"


def _title(ax, name, d, swept):
    """Data set, the fixed one of (γ, m), N, d and the number of seeds."""
    fixed = f"m = {_one(d, 'm')}" if swept == "gamma" else f"γ = {_one(d, 'gamma')}"
    ax.set_title(f"{name}: {fixed}, N = {int(d['N'].iloc[0])}, d = {int(d['d'].iloc[0])}, "
                 f"{d['seed'].nunique()} seeds (mean, min–max band)", fontsize="medium", loc="left")


def _rho_panel(ax, d, hue, order, palette):
    _lines(ax, d, "rho", hue, order)
    _mark_failures(ax, d, hue, palette)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.text(0.02, 1.0, "ρ = 1: contraction bound", transform=ax.get_yaxis_transform(),
            va="bottom", fontsize="small", color="grey")
    ax.set_ylim(0, max(1.15, 1.1 * float(np.nanmax(d["rho"]))))


def plot_width(df: pd.DataFrame) -> Figure:
    """Per data set: train and test loss, ρ(A(k)) and the relative weight change vs iteration, one curve per width m."""
    datasets = sorted(df["dataset"].unique())
    fig, axes = _figure(2 * len(datasets), 2)
    for i, name in enumerate(datasets):
        (a, b), (c, e) = axes[2 * i], axes[2 * i + 1]
        d = df[df["dataset"] == name].copy()
        N = int(d["N"].iloc[0])
        label = {m: f"m = {m} (m/N = {m / N:g})" for m in sorted(d["m"].unique())}
        d["width"] = d["m"].map(label)
        order = list(label.values())
        palette = _lines(a, d, "train_loss", "width", order, log=True, legend=True)
        a.legend(title="width", fontsize="small")
        _lines(b, d, "test_loss", "width", order, log=True)
        _rho_panel(c, d, "width", order, palette)
        _lines(e, d, "rel_change_W", "width", order, log=True)
        _lines(e, d, "rel_change_A", "width", order, log=True, linestyle="--")
        e.text(0.98, 0.03, "solid: W,  dashed: A", transform=e.transAxes, ha="right", fontsize="small")
        _title(a, name, d, "m")
    fig.suptitle(f"Width sweep: wider implicit networks train faster, ρ(A) stays put (GD, lr = {df['lr_config'].iloc[0]})")
    return fig


def plot_gamma(df: pd.DataFrame) -> Figure:
    """Per data set: train loss, forward iterations and ρ vs iteration per γ; failed fraction per γ."""
    datasets = sorted(df["dataset"].unique())
    fig, axes = _figure(2 * len(datasets), 2)
    for i, name in enumerate(datasets):
        (a, b), (c, e) = axes[2 * i], axes[2 * i + 1]
        d = df[df["dataset"] == name].copy()
        label = {g: f"{g:g}" for g in sorted(d["gamma"].unique())}
        d["γ"] = d["gamma"].map(label)
        order = list(label.values())
        palette = _lines(a, d, "train_loss", "γ", order, log=True, legend=True)
        a.legend(title="γ", fontsize="small", ncols=2)
        _lines(b, d, "fwd_iter", "γ", order, log=True)
        _rho_panel(c, d, "γ", order, palette)
        _failed_fraction(e, d, order, palette)
        _title(a, name, d, "gamma")
    fig.suptitle("γ sweep: solver cost grows with γ; runs fail once the forward solve stops converging (× = failing step)")
    return fig


def _mark_failures(ax, d, hue, palette):
    """An × at (failing step, ρ) of every run that stopped early."""
    fail = d[d["failure"].astype(bool)]
    for _, r in fail.iterrows():
        ax.scatter(r["step"], r["rho"], marker="x", s=40, color=palette[r[hue]], zorder=5)


def _failed_fraction(ax, d, order, palette):
    runs = d.drop_duplicates("run_id")
    frac = runs.groupby("γ")["status"].apply(lambda s: float((s != "completed").mean())).reindex(order)
    n_failed = runs.groupby("γ")["status"].apply(lambda s: int((s != "completed").sum())).reindex(order)
    n_runs = runs.groupby("γ").size().reindex(order)
    ax.bar(order, frac.values, color=[palette[g] for g in order])
    rho0 = d[d["step"] == 0].groupby("γ")["rho"].mean().reindex(order)
    for i, g in enumerate(order):
        ax.text(i, frac[g] + 0.02, f"{n_failed[g]}/{n_runs[g]}  ρ₀={rho0[g]:.2f}", rotation=90,
                ha="center", va="bottom", fontsize="x-small")
    ax.set(xlabel=LABELS["gamma"], ylabel=LABELS["failed"], ylim=(0, 1.6))
    ax.set_title("failed runs per γ (ρ₀ = mean initial ρ)", fontsize="medium")


#: experiment id → plot function (the `digits` experiment will reuse plot_width).
PLOTTERS = {"width": plot_width, "gamma": plot_gamma}


def plot_experiment(name: str, df: pd.DataFrame) -> Figure:
    """The figure of experiment ``name`` from its aggregated table."""
    if name not in PLOTTERS:
        raise ValueError(f"no plot function for experiment {name!r}; known: {sorted(PLOTTERS)}")
    return PLOTTERS[name](df)
