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


def _grid(df: pd.DataFrame, draw) -> Figure:
    """A 2×2 block of panels per data set; ``draw(axes, name, rows)`` fills one block."""
    datasets = sorted(df["dataset"].unique())
    fig, axes = _figure(2 * len(datasets), 2)
    for i, name in enumerate(datasets):
        draw(axes[2 * i:2 * i + 2].ravel(), name, df[df["dataset"] == name].copy())
    return fig


def _levels(d, col, fmt):
    """Label each row's ``col`` value with ``fmt`` in a new column "level"; return (order, palette)."""
    label = {v: fmt(v) for v in sorted(d[col].unique())}
    d["level"] = d[col].map(label)
    order = list(label.values())
    return order, dict(zip(order, sns.color_palette("viridis", len(order))))


def _lines(ax, d, y, order, palette, *, log=False, legend=False, **kw):
    """Mean over seeds of ``y`` vs step per level, with the min–max band (failure rows left out)."""
    ok = d[~d["failure"].astype(bool) & np.isfinite(d[y])]
    sns.lineplot(data=ok, x="step", y=y, hue="level", hue_order=order, palette=palette, estimator="mean",
                 errorbar=BAND, ax=ax, legend=legend, linewidth=1.2, **kw)
    ax.set(xlabel=LABELS["step"], ylabel=LABELS[y])
    if log:
        ax.set_yscale("log")


def _one(df, col):
    """The single value of ``col`` in ``df`` (as text), or a range when it varies."""
    vals = sorted(df[col].dropna().unique())
    return f"{vals[0]:g}" if len(vals) == 1 else f"{vals[0]:g}–{vals[-1]:g}"


def _title(ax, name, d, swept):
    """Data set, the fixed one of (γ, m), N, d and the number of seeds."""
    fixed = f"m = {_one(d, 'm')}" if swept == "gamma" else f"γ = {_one(d, 'gamma')}"
    ax.set_title(f"{name}: {fixed}, N = {int(d['N'].iloc[0])}, d = {int(d['d'].iloc[0])}, "
                 f"{d['seed'].nunique()} seeds (mean, min–max band)", fontsize="medium", loc="left")


def _rho_panel(ax, d, order, palette):
    _lines(ax, d, "rho", order, palette)
    _mark_failures(ax, d, palette)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.text(0.02, 1.0, "ρ = 1: contraction bound", transform=ax.get_yaxis_transform(),
            va="bottom", fontsize="small", color="grey")
    ax.set_ylim(0, max(1.15, 1.1 * float(np.nanmax(d["rho"]))))


def plot_width(df: pd.DataFrame) -> Figure:
    """Per data set: train and test loss, ρ(A(k)) and the relative weight change vs iteration, one curve per width m."""
    def draw(axes, name, d):
        N = int(d["N"].iloc[0])
        order, palette = _levels(d, "m", lambda m: f"m = {m} (m/N = {m / N:g})")
        _lines(axes[0], d, "train_loss", order, palette, log=True, legend=True)
        axes[0].legend(title="width", fontsize="small")
        _lines(axes[1], d, "test_loss", order, palette, log=True)
        _rho_panel(axes[2], d, order, palette)
        _lines(axes[3], d, "rel_change_W", order, palette, log=True)
        _lines(axes[3], d, "rel_change_A", order, palette, log=True, linestyle="--")
        axes[3].text(0.98, 0.03, "solid: W,  dashed: A", transform=axes[3].transAxes, ha="right", fontsize="small")
        _title(axes[0], name, d, "m")

    fig = _grid(df, draw)
    fig.suptitle(f"Width sweep: wider implicit networks train faster, ρ(A) stays put (GD, lr = {df['lr_config'].iloc[0]})")
    return fig


def plot_gamma(df: pd.DataFrame) -> Figure:
    """Per data set: train loss, forward iterations and ρ vs iteration per γ; failed fraction per γ."""
    def draw(axes, name, d):
        order, palette = _levels(d, "gamma", lambda g: f"{g:g}")
        _lines(axes[0], d, "train_loss", order, palette, log=True, legend=True)
        axes[0].legend(title="γ", fontsize="small", ncols=2)
        _lines(axes[1], d, "fwd_iter", order, palette, log=True)
        _rho_panel(axes[2], d, order, palette)
        _failed_fraction(axes[3], d, order, palette)
        _title(axes[0], name, d, "gamma")

    fig = _grid(df, draw)
    fig.suptitle("γ sweep: solver cost grows with γ; runs fail once the forward solve stops converging (× = failing step)")
    return fig


def _mark_failures(ax, d, palette):
    """An × at (failing step, ρ) of every run that stopped early."""
    for _, r in d[d["failure"].astype(bool)].iterrows():
        ax.scatter(r["step"], r["rho"], marker="x", s=40, color=palette[r["level"]], zorder=5)


def _failed_fraction(ax, d, order, palette):
    """Bar per level: fraction of its runs that stopped early, annotated with counts and mean ρ(A(0))."""
    runs = d.drop_duplicates("run_id")
    n_failed = (runs["status"] != "completed").groupby(runs["level"]).sum().reindex(order)
    n_runs = runs.groupby("level").size().reindex(order)
    frac = n_failed / n_runs
    ax.bar(order, frac.values, color=[palette[g] for g in order])
    rho0 = d[d["step"] == 0].groupby("level")["rho"].mean().reindex(order)
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
