"""Figures of the experiments: one function per experiment, its aggregated CSV in, a Figure out.

Each ``plot_<experiment>(df)`` takes the long-format table ``results/<experiment>.csv`` (one
row per run × recorded step, see docs/outputs.md) and returns a
:class:`matplotlib.figure.Figure`; :func:`plot_experiment` dispatches on the name.  Figures
are built without pyplot (no global state, any backend); curves are the mean over seeds
with a min–max band.  Rows with ``failure=True`` mark where a run stopped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from implicit.model import BLOCKS

from . import figure1, fits

LABELS = {
    "step": "GD iteration k [steps]",
    "train_loss": "train loss ½Σᵢ(ŷᵢ − yᵢ)² [label units²]",
    "train_loss_rel": "train loss relative to its start, L(k)/L(0)",
    "rho_drift": "ρ(A(k)) − ρ(A(0)) [symlog]",
    "test_loss": "test loss ½Σ(ŷ − y)² [label units²]",
    "rho": "ρ(A) = γ‖A‖₂/√m [dimensionless]",
    "fwd_iter": "forward solve iterations per step [count]",
    "rel_change_W": "‖θ(k) − θ(0)‖_F / ‖θ(0)‖_F [dimensionless]",
    "rel_change_A": "‖θ(k) − θ(0)‖_F / ‖θ(0)‖_F [dimensionless]",
    "failed": "runs stopped early [fraction of seeds]",
    "gamma": "γ [dimensionless]",
    "lambda_min_H": "eigenvalue of the N×N matrix [dimensionless]",
    "lambda_max_H": "eigenvalue of the N×N matrix [dimensionless]",
    "lambda_min_Hv": "eigenvalue of the N×N matrix [dimensionless]",
    "train_ratio": "train loss L(k)/L(0) [dimensionless]",
    "test_ratio": "test loss L(k)/L(0) [dimensionless]",
    "rho_drift": "ρ(A(k)) − ρ(A(0)) [dimensionless]",
}
BAND = ("pi", 100)  # min–max over seeds


def _panel(ax, name: str):
    """Name the panel ``ax`` draws: its figure's caption (workflow/report/captions/<experiment>.rst)
    describes it as ``- **<name>** (...)``, and the workflow tests check that the panels drawn and
    the panels described agree."""
    ax.set_label(name)


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


def _rho_drift_panel(ax, d, order, palette):
    """ρ(A(k)) − ρ(A(0)) per run on a symmetric-log axis that resolves drifts down to 1e-6,
    with ρ(A(0)) in the title: the drift, not ρ on a 0–1 axis, is what moves."""
    d = d.copy()
    d["rho_drift"] = d["rho"] - d["run_id"].map(d[d["step"] == 0].drop_duplicates("run_id").set_index("run_id")["rho"])
    _lines(ax, d, "rho_drift", order, palette)
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    rho0 = d[d["step"] == 0]["rho"]
    ax.set_title(f"drift of ρ(A) = γ‖A‖₂/√m from ρ(A(0)) = {rho0.min():.3f}–{rho0.max():.3f}", fontsize="medium")


def _rho_panel(ax, d, order, palette):
    _lines(ax, d, "rho", order, palette)
    _mark_failures(ax, d, palette)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.text(0.02, 1.0, "ρ = 1: contraction bound", transform=ax.get_yaxis_transform(),
            va="bottom", fontsize="small", color="grey")
    ax.set_ylim(0, max(1.15, 1.1 * float(np.nanmax(d["rho"]))))


def plot_width(df: pd.DataFrame) -> Figure:
    """Per data set, one curve per width m against the GD iteration: the relative training loss
    L(k)/L(0) (top left), the test loss with the zero predictor's ½‖y_test‖² (top right), the
    drift of ρ(A(k)) (bottom left) and the relative weight change of W and A (bottom right)."""
    def draw(axes, name, d):
        N = int(d["N"].iloc[0])
        order, palette = _levels(d, "m", lambda m: f"m = {m} (m/N = {m / N:g})")
        for ax, panel in zip(axes, ("relative train loss", "test loss", "ρ drift", "weight movement")):
            _panel(ax, panel)
        d["train_loss_rel"] = d["train_loss"] / d["run_id"].map(
            d[d["step"] == 0].drop_duplicates("run_id").set_index("run_id")["train_loss"])
        _lines(axes[0], d, "train_loss_rel", order, palette, log=True, legend=True)
        axes[0].legend(title="width", fontsize="small")
        _lines(axes[1], d, "test_loss", order, palette, log=True)
        if "test_baseline" in d and d["test_baseline"].notna().any():
            base = float(d["test_baseline"].dropna().iloc[0])
            axes[1].axhline(base, color="black", linestyle="--", linewidth=1)
            axes[1].text(0.02, base, "zero predictor ½‖y‖²", transform=axes[1].get_yaxis_transform(), va="bottom",
                         fontsize="small")
        _rho_drift_panel(axes[2], d, order, palette)
        _mark_failures(axes[2], d.assign(rho=0.0), palette)
        _lines(axes[3], d, "rel_change_W", order, palette, log=True)
        _lines(axes[3], d, "rel_change_A", order, palette, log=True, linestyle="--")
        axes[3].text(0.98, 0.03, "solid: W,  dashed: A", transform=axes[3].transAxes, ha="right", fontsize="small")
        _title(axes[0], name, d, "m")

    fig = _grid(df, draw)
    fig.suptitle(f"Width sweep: {step_text(df)}")
    return fig


def step_text(df: pd.DataFrame) -> str:
    """The step sizes of a width sweep as a title: one η for every run, one η per data set
    (``lr_width``: computed from each data set), or η per run (``lr: auto``)."""
    runs = df.drop_duplicates("run_id")
    lrs, per_dataset = runs["lr"], runs.groupby("dataset")["lr"]
    if lrs.nunique() == 1:
        return f"one fixed η = {lrs.iloc[0]:g} for every width"
    if per_dataset.nunique().max() == 1:
        return "one η for every width of a data set (" + ", ".join(f"{k}: {v:.3g}" for k, v in per_dataset.first().items()) + ")"
    return f"η = ½·2/λ_max(H(0)) per run ({lrs.min():.3g}–{lrs.max():.3g})"


def plot_gamma(df: pd.DataFrame) -> Figure:
    """Per data set: train loss, forward iterations and ρ vs iteration per γ; failed fraction per γ."""
    def draw(axes, name, d):
        order, palette = _levels(d, "gamma", lambda g: f"{g:g}")
        for ax, panel in zip(axes, ("train loss", "forward iterations", "ρ(A)", "failed runs")):
            _panel(ax, panel)
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


# --------------------------------------------------------------------------------------
# helpers of the figures below
# --------------------------------------------------------------------------------------
def _stopped(d: pd.DataFrame) -> int:
    """Number of runs in ``d`` that did not complete."""
    runs = d.drop_duplicates("run_id")
    return int((runs["status"] != "completed").sum())


def _stopped_note(d: pd.DataFrame, what="left out of the fits") -> str:
    n = _stopped(d)
    return f"; {n} of {d['run_id'].nunique()} runs stopped early ({what})" if n else ""


def _fit_label(fit: dict, name="slope") -> str:
    """"slope −0.48 [−0.52, −0.44]" (95% CI) or "slope —" when the fit is undefined."""
    if not np.isfinite(fit["slope"]):
        return f"{name} —"
    ci = f" [{fit['low']:.2f}, {fit['high']:.2f}]" if np.isfinite(fit["low"]) else ""
    return f"{name} {fit['slope']:.2f}{ci}"


def _fit_line(ax, x, fit, **kw):
    """Draw the power law exp(intercept)·x^slope over the range of ``x`` (log–log axes)."""
    if not np.isfinite(fit["slope"]):
        return
    xs = np.geomspace(np.min(x), np.max(x), 50)
    ax.plot(xs, np.exp(fit["intercept"]) * xs ** fit["slope"], **kw)


def _plain_log_ticks(ax):
    """Log axes labelled at 1, 2, 5 × 10^k in plain numbers (no overlapping minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
        axis.set_minor_formatter(NullFormatter())


def _loglog_ticks(ax, values, axis="x"):
    """Log scale on ``axis`` with exactly the ticks ``values`` (call after any ``ax.set(xscale=...)``)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    getattr(ax, f"set_{axis}scale")("log")
    vals = sorted(set(float(v) for v in values))
    loc = getattr(ax, f"{axis}axis")
    loc.set_major_locator(FixedLocator(vals))
    loc.set_minor_locator(NullLocator())
    getattr(ax, f"set_{axis}ticklabels")([f"{v:g}" for v in vals])


# --------------------------------------------------------------------------------------
# linear-width
# --------------------------------------------------------------------------------------
#: panel names of the linear-width arms, by ``trainable``
ARM_PANELS = {"u+v": "brackets u,v", "A+u+v": "brackets A,u,v", "A+W+u+v": "brackets all blocks"}
#: markers of the run outcomes (fits.OUTCOMES)
OUTCOME_STYLE = {"reached": ("o", "C2"), "failed": ("x", "C3"), "censored": ("s", "C7")}


def plot_linear_width(df: pd.DataFrame) -> Figure:
    """Per arm (trained subset): the run outcomes over (N, m) and the brackets (m_fail, m_pass]
    of the minimal width against N on log–log axes, with N/2 and N drawn and the exponent fitted
    to the resolved brackets (censored brackets drawn as one-sided arrows, not fitted).  The u,v
    arm's outcomes are those of GD's exact trajectory (:func:`replication.fits.run_outcomes`)."""
    target, frac, tol = (float(df[k].iloc[0]) for k in ("target", "min_fraction", "singular_tol"))
    out = fits.run_outcomes(df, target, tol)
    br = fits.width_brackets(out, frac)
    # every known arm gets its panel (the caption lists them), an arm not run says so
    arms = list(ARM_PANELS) + sorted(set(br["trainable"]) - set(ARM_PANELS))
    fig, axes = _figure(1, len(arms), width=4.6, height=4.4)
    for ax, arm in zip(axes[0], arms):
        _panel(ax, ARM_PANELS.get(arm, f"brackets {arm}"))
        o, b = out[out["trainable"] == arm], br[br["trainable"] == arm]
        if b.empty:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"trained {arm}:\nnot run in this configuration", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
            continue
        for kind, (marker, color) in OUTCOME_STYLE.items():
            d = o[o["outcome"] == kind].groupby(["N", "m"]).size().reset_index()
            # seeds of one (N, m) side by side: a small horizontal offset per outcome
            shift = {"reached": 0.96, "failed": 1.0, "censored": 1.04}[kind]
            ax.scatter(d["N"] * shift, d["m"], marker=marker, s=14, color=color, alpha=0.6, zorder=2,
                       label=f"runs {kind}")
        ok, left, right = b[b["censored"] == ""], b[b["censored"] == "left"], b[b["censored"] == "right"]
        if len(ok):
            ax.vlines(ok["N"], ok["m_fail"], ok["m_pass"], color="k", linewidth=3, zorder=3, label="bracket (m_fail, m_pass]")
        if len(left):
            ax.scatter(left["N"], left["m_pass"], marker="v", s=60, color="k", zorder=4, label="m_min ≤ m_pass (left-censored)")
        if len(right):
            r = right[right["m_fail"].notna()]
            ax.scatter(r["N"], r["m_fail"], marker="^", s=60, color="k", zorder=4, label="m_min > m_fail (right-censored)")
        fit = fits.bracket_exponent(b)
        _fit_line(ax, ok["N"] if len(ok) else b["N"], fit, color="C0", label=f"fit (resolved only), {_fit_label(fit, 'p')}")
        Ns = np.array(sorted(b["N"].unique()), dtype=float)
        ax.plot(Ns, Ns / 2, color="grey", linestyle="--", linewidth=1, label="m = N/2")
        ax.plot(Ns, Ns, color="grey", linestyle=":", linewidth=1, label="m = N")
        ax.set(xscale="log", yscale="log", xlabel="N [samples]", ylabel="m [neurons]")
        _loglog_ticks(ax, Ns)
        _plain_log_ticks_y(ax)
        ax.legend(fontsize="xx-small", loc="upper left")
        ax.set_title(f"trained {arm}: {fit['n']} resolved, {fit['n_left']} left-, {fit['n_right']} right-censored",
                     fontsize="medium")
    runs = df.drop_duplicates("run_id")
    fig.suptitle(f"Minimal width per trained subset: GD on N random labels (d = {int(df['d'].iloc[0])}, "
                 f"γ = {_one(df, 'gamma')}, seeds: {runs['seed'].nunique()}), target L/L(0) ≤ {target:g}, "
                 f"budget K from λ_min(H(0)) capped at {int(runs['steps'].max())} steps "
                 "(u,v: GD's exact trajectory in closed form, no cap)")
    return fig


def _plain_log_ticks_y(ax):
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


# --------------------------------------------------------------------------------------
# gram
# --------------------------------------------------------------------------------------
def plot_gram(df: pd.DataFrame) -> Figure:
    """λ_min(H(k)) and λ_min(ΦᵀΦ) along training per width against λ0 and λ0/2; per width, the
    loss against the linearised prediction (1 − ηλ_min(H(0)))^{2k} L(0) and the theorem's
    bound (1 − ηλ0/2)^k L(0)."""
    d = df[df["failure"] == False].copy()  # noqa: E712
    N = int(d["N"].iloc[0])
    widths = sorted(d["m"].unique())
    order, palette = _levels(d, "m", lambda m: f"m = {m} (m/N = {m / N:g})")
    fig = Figure(figsize=(4.2 * max(len(widths), 2), 7.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    ax_l, ax_r = top.subplots(1, 2)
    _panel(ax_l, "λ_min")
    _panel(ax_r, "λ_max")
    lam0 = float(d["lambda0"].iloc[0])
    for ax, col, title in ((ax_l, "lambda_min_H", "λ_min(H(k)) (solid) and λ_min(Φ(k)ᵀΦ(k)) (dashed)"),
                           (ax_r, "lambda_max_H", "λ_max(H(k)) (sets η = 1/λ_max(H(0)))")):
        _lines(ax, d, col, order, palette, log=ax is ax_l, legend=ax is ax_l)
        if ax is ax_l:
            ax.set_ylim(bottom=lam0 / 30)
            ax.text(0.01, 0.02, "a dashed curve below the axis or missing: λ_min(ΦᵀΦ) ≈ 0, as rank(ΦᵀΦ) ≤ m (m ≤ N)",
                    transform=ax.transAxes, fontsize="x-small", color="grey")
            _lines(ax, d, "lambda_min_Hv", order, palette, log=True, linestyle="--")
            ax.axhline(lam0, color="black", linewidth=1)
            ax.axhline(lam0 / 2, color="black", linewidth=1, linestyle=":")
            ax.text(0.99, lam0, "λ0", transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize="small")
            ax.text(0.99, lam0 / 2, "λ0/2", transform=ax.get_yaxis_transform(), ha="right", va="top", fontsize="small")
            ax.legend(fontsize="x-small", title="width")
        ax.set(ylabel="eigenvalue of the N×N matrix [dimensionless]")
        ax.set_title(title, fontsize="medium")
    env = fits.envelopes(df)
    axes = bottom.subplots(1, len(widths), squeeze=False)[0]
    for ax, m in zip(axes, widths):
        _panel(ax, "loss and envelopes")
        e = env[env["m"] == m].copy()
        e["level"] = "measured L(k)"
        for col, label in (("envelope_H0", "(1 − ηλ_min(H(0)))^{2k} L(0), linearised"), ("envelope_lambda0", "(1 − ηλ0/2)^k L(0), theorem")):
            e2 = e.assign(train_loss=e[col], level=label)
            e = pd.concat([e, e2[e2["level"] == label]], ignore_index=True)
        styles = {"measured L(k)": "C0", "(1 − ηλ_min(H(0)))^{2k} L(0), linearised": "C1", "(1 − ηλ0/2)^k L(0), theorem": "C2"}
        sns.lineplot(data=e, x="step", y="train_loss", hue="level", palette=styles, estimator="mean", errorbar=BAND,
                     ax=ax, legend=ax is axes[0], linewidth=1.2)
        ax.set(yscale="log", xlabel=LABELS["step"], ylabel=LABELS["train_loss"] if ax is axes[0] else "")
        ax.set_title(f"m = {m} (m/N = {m / N:g}){_stopped_note(e, 'curves end early')}", fontsize="medium")
        if ax is axes[0]:
            ax.legend(fontsize="x-small")
    fig.suptitle(f"Gram matrix along GD: N = {N}, d = {int(d['d'].iloc[0])}, γ = {_one(d, 'gamma')}, λ0 = {lam0:.3g}, "
                 f"{d['seed'].nunique()} seeds (mean, min–max band){_stopped_note(df, 'curves end early')}")
    return fig


# --------------------------------------------------------------------------------------
# lazy
# --------------------------------------------------------------------------------------
def plot_lazy(df: pd.DataFrame) -> Figure:
    """Relative change of A and W at the end of training against m (log–log, fitted slopes),
    and the final relative loss against m."""
    fin = fits.final_rows(df)
    fig, axes = _figure(1, 2, width=5.0, height=4.0)
    _panel(axes[0, 0], "weight movement")
    _panel(axes[0, 1], "final loss")
    ax = axes[0, 0]
    for block, color in (("W", "C0"), ("A", "C3")):
        col = f"rel_change_{block}"
        fit = fits.loglog_slope(fin["m"], fin[col])
        ax.scatter(fin["m"], fin[col], s=14, color=color, alpha=0.6)
        mean = fin.groupby("m")[col].mean()
        ax.plot(mean.index, mean.values, "o", color=color, markerfacecolor="none", markersize=8,
                label=f"‖{block}(K) − {block}(0)‖_F/‖{block}(0)‖_F: {_fit_label(fit)}")
        _fit_line(ax, fin["m"], fit, color=color, linewidth=1)
    ms = np.array(sorted(fin["m"].unique()), dtype=float)
    if len(ms):
        ref = fin[fin["m"] == ms[0]]["rel_change_W"].mean()
        ax.plot(ms, ref * (ms / ms[0]) ** -0.5, color="grey", linestyle="--", linewidth=1, label="slope −1/2 (lazy scaling of W)")
        refA = fin[fin["m"] == ms[0]]["rel_change_A"].mean()
        ax.plot(ms, refA * (ms / ms[0]) ** -1.0, color="grey", linestyle=":", linewidth=1, label="slope −1 (lazy scaling of A)")
    ax.set(xscale="log", yscale="log", xlabel="width m [neurons]", ylabel="relative change after K steps [dimensionless]")
    if len(ms):
        _loglog_ticks(ax, ms)
    ax.legend(fontsize="x-small", loc="lower left")
    ax.set_title("weight movement (dots: seeds, circles: mean; 95% CI of the slope)", fontsize="medium")
    ax = axes[0, 1]
    runs = fits.per_run(df)
    done = runs[runs["status"] == "completed"]
    ax.scatter(done["m"], done["loss_ratio"], s=14, color="C0")
    ax.plot(*zip(*done.groupby("m")["loss_ratio"].median().items()), color="C0", label="median") if len(done) else None
    ax.set(xscale="log", yscale="log", xlabel="width m [neurons]", ylabel="L(K)/L(0) [dimensionless]")
    if len(ms):
        _loglog_ticks(ax, ms)
    ax.axvline(int(df["N"].iloc[0]), color="grey", linestyle=":", linewidth=1)
    ax.text(int(df["N"].iloc[0]), 1, " m = N", va="top", fontsize="small", color="grey", transform=ax.get_xaxis_transform())
    ax.set_title("final relative training loss (context)", fontsize="medium")
    fig.suptitle(f"Lazy training: N = {int(df['N'].iloc[0])}, d = {int(df['d'].iloc[0])}, γ = {_one(df, 'gamma')}, "
                 f"K = {int(df['steps'].iloc[0])} GD steps, {df['seed'].nunique()} seeds{_stopped_note(df)}")
    return fig


# --------------------------------------------------------------------------------------
# flow
# --------------------------------------------------------------------------------------
def plot_flow(df: pd.DataFrame) -> Figure:
    """Loss against continuous time t = kη for each step size and the gradient-flow solution
    with the bound e^{−λ0 t}L(0); |ln L_GD − ln L_GF| against t; its maximum against η."""
    long = df[df["method"] == "GF-long"] if "method" in df else df.iloc[:0]
    df = df[df["method"] != "GF-long"]
    gd, gf = df[df["method"] == "GD"], df[df["method"] == "GF"]
    seed = sorted(df["seed"].unique())[0]
    fig, axes = _figure(1, 4 if len(long) else 3, width=4.6, height=4.0)
    for ax, panel in zip(axes[0], ("loss against time", "deviation against time", "deviation against step size",
                                   "long gradient flow")):
        _panel(ax, panel)
    fracs = sorted(gd["lr_fraction"].unique(), reverse=True)
    palette = dict(zip(fracs, sns.color_palette("viridis", len(fracs))))
    ax = axes[0, 0]
    ref = fits.good_rows(gf[gf["seed"] == seed]).sort_values("t")
    for f in fracs:
        d = fits.good_rows(gd[(gd["seed"] == seed) & (gd["lr_fraction"] == f)])
        ax.plot(d["t"], d["train_loss"], color=palette[f], linewidth=1.2, label=f"GD, η = {f:g}·2/λ_max (η = {d['lr'].iloc[0]:.3g})" if len(d) else None)
        _mark_flow_failure(ax, gd[(gd["seed"] == seed) & (gd["lr_fraction"] == f)], palette[f])
    if len(ref):
        ax.plot(ref["t"], ref["train_loss"], color="black", linewidth=1.5, linestyle="--", label="gradient flow (RK45)")
        L0, lam0 = ref["train_loss"].iloc[0], ref["lambda0"].iloc[0]
        ax.plot(ref["t"], L0 * np.exp(-lam0 * ref["t"]), color="grey", linewidth=1, linestyle=":", label=f"e^(−λ0 t)·L(0), λ0 = {lam0:.3g}")
    ax.set(yscale="log", xlabel="continuous time t = kη", ylabel=LABELS["train_loss"])
    ax.legend(fontsize="x-small")
    ax.set_title(f"loss against time (seed {seed})", fontsize="medium")

    ax = axes[0, 1]
    if len(ref):
        lgf_t, lgf = ref["t"].to_numpy(), np.log(ref["train_loss"].to_numpy())
        for f in fracs:
            d = fits.good_rows(gd[(gd["seed"] == seed) & (gd["lr_fraction"] == f)])
            d = d[(d["t"] > 0) & (d["t"] <= lgf_t.max() * (1 + 1e-12))]
            dev = np.abs(np.log(d["train_loss"].to_numpy()) - np.interp(d["t"], lgf_t, lgf))
            ax.plot(d["t"], dev, color=palette[f], linewidth=1.2, label=f"η = {f:g}·2/λ_max")
    ax.set(yscale="log", xlabel="continuous time t = kη", ylabel="|ln L_GD(t) − ln L_GF(t)|")
    ax.legend(fontsize="x-small")
    ax.set_title(f"distance of GD from gradient flow (seed {seed})", fontsize="medium")

    ax = axes[0, 2]
    dev = fits.gd_gf_deviation(df)
    ok = dev[np.isfinite(dev["deviation"])]
    fit = fits.loglog_slope(ok["lr"], ok["deviation"])
    for s, d in ok.groupby("seed"):
        ax.plot(d["lr"], d["deviation"], "o-", linewidth=1, markersize=5, label=f"seed {s}")
    _fit_line(ax, ok["lr"], fit, color="black", linewidth=1, linestyle="--", label=f"fit ∝ η^p, {_fit_label(fit, 'p')}")
    ax.set(xscale="log", yscale="log", xlabel="step size η", ylabel="max_t |ln L_GD − ln L_GF|")
    _plain_log_ticks(ax)
    ax.legend(fontsize="x-small")
    ax.set_title("GD → GF as η → 0 (Euler: p = 1)", fontsize="medium")
    if len(long):
        _plot_flow_long(axes[0, 3], long)
    fig.suptitle(f"GD against gradient flow: N = {int(df['N'].iloc[0])}, m = {_one(df, 'm')}, γ = {_one(df, 'gamma')}, "
                 f"{df['seed'].nunique()} seeds{_stopped_note(df, 'no comparison')}")
    return fig


def _plot_flow_long(ax, long: pd.DataFrame):
    """L_GF(t)/L(0) of the long solves against λ0·t on a log axis, with the bound e^{−λ0 t}, the
    linearised e^{−2λ_min(H(0)) t} per solve (thin, same colour), the fit windows (thick) and the
    floor below which the solves stop."""
    summ = fits.gf_long_summary(long).set_index("run_id")
    roles = {"prediction": "-", "control": "--"}
    palette = dict(zip(sorted(long["seed"].unique()), sns.color_palette("deep", long["seed"].nunique())))
    lam0 = float(long["lambda0"].iloc[0])
    xmax = 0.0
    for run_id, d in long.groupby("run_id", sort=False):
        g = fits.good_rows(d).sort_values("t")
        if g.empty or not g["train_loss"].iloc[0] > 0:
            continue
        r = summ.loc[run_id]
        x, ratio = lam0 * g["t"].to_numpy(), (g["train_loss"] / g["train_loss"].iloc[0]).to_numpy()
        color, ls = palette[r["seed"]], roles.get(r["role"], ":")
        ax.plot(x, ratio, color=color, linestyle=ls, linewidth=1.2,
                label=f"GF, m = {int(r['m'])} ({r['role']}), seed {r['seed']}; fitted/2λ_min = {r['rate_ratio']:.3g}")
        ax.plot(x, np.exp(-2 * r["lambda_min_H0"] * g["t"].to_numpy()), color=color, linestyle=ls, linewidth=0.6, alpha=0.7)
        win = (g["t"] >= r["t_start_fit"]) & (g["t"] <= r["t_stop_fit"])
        ax.plot(x[win.to_numpy()], ratio[win.to_numpy()], color=color, linewidth=3, alpha=0.35)
        xmax = max(xmax, x.max())
    xs = np.linspace(0, xmax, 200)
    ax.plot(xs, np.exp(-xs), color="grey", linestyle=":", linewidth=1.5, label="bound e^(−λ0 t)")
    floor = float(long["floor"].iloc[0])
    ax.axhline(floor, color="red", linewidth=0.8, linestyle="-.", label=f"floor {floor:g} (solves stop here)")
    ax.set_ylim(bottom=floor / 10)
    ax.set(yscale="log", xlabel="λ0·t", ylabel="L_GF(t)/L(0)")
    ax.legend(fontsize="xx-small")
    ax.set_title("long GF: thin e^(−2λ_min(H(0))t), thick fit window", fontsize="medium")


def _mark_flow_failure(ax, d, color):
    fail = d[d["failure"] == True]  # noqa: E712
    for _, r in fail.iterrows():
        ax.axvline(r["step"] * r["lr"], color=color, linestyle=":", linewidth=1)


# --------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------
SUBSET_NAMES = {"A+W+u+v": "all layers", "A": "A only", "u+v": "u, v only"}


def plot_layers(df: pd.DataFrame) -> Figure:
    """Loss curves per trained subset at three widths; λ_min of each Gram block at
    initialisation against m; the fitted rate and λ_min(H(0)) over the trained blocks per subset."""
    d = df.copy()
    N = int(d["N"].iloc[0])
    subsets = list(dict.fromkeys(d["trainable"]))
    d["level"] = d["trainable"].map(lambda t: SUBSET_NAMES.get(t, t))
    order = [SUBSET_NAMES.get(t, t) for t in subsets]
    palette = dict(zip(order, sns.color_palette("deep", len(order))))
    widths = sorted(d["m"].unique())
    show = sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    fig, axes = _figure(2, 3, width=4.4, height=3.6)
    for ax, panel in zip(axes[1], ("Gram blocks", "fitted rate", "predicted rate")):
        _panel(ax, panel)
    for ax, m in zip(axes[0], show):
        _panel(ax, "loss per subset")
        dm = d[d["m"] == m]
        _lines(ax, dm, "train_loss", order, palette, log=True, legend=ax is axes[0, 0])
        for _, r in dm[dm["failure"].astype(bool)].iterrows():  # × where a run stopped, at its last good loss
            last = dm[(dm["run_id"] == r["run_id"]) & ~dm["failure"].astype(bool)]["train_loss"]
            if len(last):
                ax.scatter(r["step"], last.iloc[-1], marker="x", s=40, color=palette[r["level"]], zorder=5)
        runs_m = dm.drop_duplicates("run_id")
        bad = runs_m[runs_m["status"] != "completed"].groupby("level").size()
        note = "; ".join(f"{k}: {v}/{int((runs_m['level'] == k).sum())} stopped" for k, v in bad.items())
        reasons = "ρ(A) ≥ 1" if dm["reason"].astype("string").str.contains("rho", na=False).any() else "solve failed"
        ax.set_title(f"m = {m} (m/N = {m / N:g})" + (f"\n× = stopped ({reasons}): {note}" if note else ""), fontsize="medium")
        if ax is axes[0, 0]:
            ax.legend(fontsize="x-small", title="trained blocks")
    for ax in axes[0, len(show):]:
        ax.set_visible(False)
    init = fits.good_rows(d[d["step"] == 0]).drop_duplicates(["m", "seed"])
    lam0 = float(d["lambda0"].iloc[0])
    ax = axes[1, 0]
    for block, color in zip(BLOCKS, sns.color_palette("colorblind", 4)):
        # a block of rank < N (H^u, H^v at m < N) has λ_min = 0 up to rounding: left off the log axis
        lam = init[f"lambda_min_H{block}"].where(init[f"lambda_min_H{block}"] > 1e-10 * init["lambda_max_H"])
        g = lam.groupby(init["m"])
        ax.plot(g.mean().index, g.mean().values, "o-", color=color, label=f"H^{block}")
        ax.fill_between(g.min().index, g.min().values, g.max().values, color=color, alpha=0.2)
    ax.text(0.02, 0.02, "missing points: λ_min ≈ 0 (H^u, H^v have rank ≤ m < N)", transform=ax.transAxes,
            fontsize="x-small", color="grey")
    ax.axhline(lam0, color="black", linewidth=1)
    ax.axhline(lam0 / 2, color="black", linewidth=1, linestyle=":")
    ax.text(0.99, lam0, "λ0", transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize="small")
    ax.set(xscale="log", yscale="log", xlabel="width m", ylabel="λ_min of the block at k = 0")
    _loglog_ticks(ax, widths)
    ax.legend(fontsize="x-small")
    ax.set_title("Gram blocks at initialisation (mean, min–max)", fontsize="medium")
    runs = fits.per_run(d)
    ax = axes[1, 1]
    for t in subsets:
        r = runs[(runs["trainable"] == t) & (runs["status"] == "completed")]
        g = r.groupby("m")["rate"]
        name = SUBSET_NAMES.get(t, t)
        ax.plot(g.mean().index, g.mean().values, "o-", color=palette[name], label=name)
    ax.set(xscale="log", yscale="log", xlabel="width m", ylabel="fitted rate of ln L per step")
    _loglog_ticks(ax, widths)
    ax.legend(fontsize="x-small", title="completed runs")
    ax.set_title("linear rate, last half of training (mean over seeds)", fontsize="medium")
    ax = axes[1, 2]
    pred = fits.rate_predictions(d)
    for t in subsets:
        g = pred[pred["trainable"] == t].groupby("m")["predicted_rate"]
        name = SUBSET_NAMES.get(t, t)
        ax.plot(g.mean().index, g.mean().values, "o-", color=palette[name], label=name)
    ax.set(xscale="log", yscale="log", xlabel="width m", ylabel="−2 ln(1 − ηλ_min(H(0))), trained blocks")
    _loglog_ticks(ax, widths)
    ax.set_title("linearised rate of ln L per step, per subset", fontsize="medium")
    fig.suptitle(f"Which layers drive convergence: N = {N}, d = {int(d['d'].iloc[0])}, γ = {_one(d, 'gamma')}, "
                 f"{d['seed'].nunique()} seeds, η = ½·2/λ_max(H(0)) of the trained blocks{_stopped_note(d, 'left out of the rates')}")
    return fig


# --------------------------------------------------------------------------------------
# kernel
# --------------------------------------------------------------------------------------
def plot_kernel(df: pd.DataFrame) -> Figure:
    """‖ΦΦᵀ − G∞‖ and ‖ZZᵀ − K∞‖ at initialisation against m, in the spectral norm and as
    Frobenius/N, log–log, with fitted slopes and the m^(−1/2) reference."""
    ok = df[(df["status"] == "completed") & np.isfinite(df["error"])]
    slopes = fits.kernel_slopes(df)
    fig, axes = _figure(1, 2, width=5.0, height=4.0)
    names = {"PhiPhi-Ginf": ("‖ΦᵀΦ − G∞‖", "C0"), "ZZ-Kinf": ("‖ZᵀZ − K∞‖", "C3")}
    for ax, norm in zip(axes[0], ("spectral", "frobenius/N")):
        _panel(ax, "spectral norm" if norm == "spectral" else "Frobenius norm / N")
        for q, (label, color) in names.items():
            d = ok[(ok["quantity"] == q) & (ok["norm"] == norm)]
            if d.empty:
                continue
            g = d.groupby("m")["error"]
            ax.scatter(d["m"], d["error"], s=10, color=color, alpha=0.4)
            ax.plot(g.mean().index, g.mean().values, "o", color=color, markerfacecolor="none")
            s = slopes[(slopes["quantity"] == q) & (slopes["norm"] == norm)].iloc[0].to_dict()
            _fit_line(ax, d["m"], s, color=color, linewidth=1.2, label=f"{label}: {_fit_label(s)}")
        ms = np.array(sorted(ok["m"].unique()), dtype=float)
        if len(ms):
            top = ok[(ok["norm"] == norm) & (ok["m"] == ms[0])]["error"].mean()
            ax.plot(ms, top * (ms / ms[0]) ** -0.5, color="grey", linestyle="--", linewidth=1, label="slope −1/2")
        ax.set(xscale="log", yscale="log", xlabel="width m [neurons]",
               ylabel="spectral norm ‖·‖₂ of the N×N difference" if norm == "spectral" else "‖·‖_F / N (rms entry error)")
        if len(ms):
            _loglog_ticks(ax, ms)
        ax.legend(fontsize="x-small", loc="lower left")
        ax.set_title(f"{norm} norm (dots: seeds, circles: mean; 95% CI)", fontsize="medium")
    fig.suptitle(f"Finite width against infinite width at initialisation: N = {int(df['N'].iloc[0])}, d = {int(df['d'].iloc[0])}, "
                 f"γ = {_one(df, 'gamma')}, {df['seed'].nunique()} seeds{_stopped_note(df)}")
    return fig


def plot_concentration(df: pd.DataFrame) -> Figure:
    """The width at which the feature Gram concentrates, against N: the thresholds of the
    three routes with their fitted exponents (top left), and each route's ratio against the
    width scaled the way its prediction says — λ_min(ΦΦᵀ)/λ0 and ‖ΦΦᵀ − G∞‖₂/λ0 against m/N,
    ‖ΦΦᵀ − G∞‖_F/λ0 against m/N²: curves for different N coincide where the prediction holds."""
    level = float(df["level"].iloc[0])
    thr = fits.concentration_thresholds(df)
    ex = fits.concentration_exponents(thr).set_index("route")
    fig, axes = _figure(2, 2, width=5.2, height=3.9)
    routes = {  # route: (color, criterion, ratio column, its axis label, width scale exponent)
        "lambda_min": ("C0", f"λ_min(ΦΦᵀ) ≥ {level:g}·λ0", "lambda_min_ratio", "λ_min(ΦΦᵀ) / λ0", 1),
        "spectral": ("C3", f"‖ΦΦᵀ − G∞‖₂ ≤ {level:g}·λ0", "spectral_ratio", "‖ΦΦᵀ − G∞‖₂ / λ0", 1),
        "frobenius": ("C2", f"‖ΦΦᵀ − G∞‖_F ≤ {level:g}·λ0", "frobenius_ratio", "‖ΦΦᵀ − G∞‖_F / λ0", 2),
    }
    ax = axes[0, 0]
    _panel(ax, "threshold widths")
    for route, (color, label, *_) in routes.items():
        t = thr[thr["route"] == route]
        if t.empty:
            continue
        ok, cens = t[t["censored"] == ""], t[t["censored"] == "right"]
        ax.errorbar(ok["N"], ok["m_mid"], yerr=[ok["m_mid"] - ok["m_fail"], ok["m_pass"] - ok["m_mid"]], fmt="o",
                    color=color, markersize=3, alpha=0.6, linestyle="none")
        if len(cens):
            ax.scatter(cens["N"], cens["m_fail"], marker="^", color=color, label=f"{label}: not reached (censored)")
        fit = ex.loc[route].to_dict()
        _fit_line(ax, ok["N"] if len(ok) else t["N"], fit, color=color, linewidth=1.2,
                  label=f"{label}: {_fit_label(fit, 'p')}")
    Ns = np.array(sorted(df["N"].unique()), dtype=float)
    for p, ls in ((1, ":"), (2, "--")):
        ax.plot(Ns, 8 * Ns[0] * (Ns / Ns[0]) ** p, color="grey", linestyle=ls, linewidth=1, label=f"∝ N^{p} (reference)")
    ax.set(xscale="log", yscale="log", xlabel="N (samples)", ylabel="threshold width m (bracket on the grid)")
    _loglog_ticks(ax, Ns)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * (hi / lo) ** 0.6)  # empty room above the data for the legend (it covered the λ_min fit)
    ax.legend(fontsize="x-small", loc="upper left")
    ax.set_title("where each criterion starts to hold (dots: seeds; fit m ∝ N^p, 95% CI)", fontsize="medium")
    order, palette = _levels(df, "N", lambda v: f"N = {v:g}")
    for ax, (route, (_, label, col, ylabel, power)) in zip((axes[0, 1], axes[1, 0], axes[1, 1]), routes.items()):
        _panel(ax, {"lambda_min": "λ_min against m/N", "spectral": "spectral norm against m/N",
                    "frobenius": "Frobenius norm against m/N²"}[route])
        d = df[df[col].notna()].copy()
        d["x"] = d["m"] / d["N"] ** power
        for lev in order:
            e = d[d["level"] == lev]
            if e.empty:
                continue
            g = e.groupby("x")[col]
            ax.plot(g.median().index, g.median().values, color=palette[lev], linewidth=1.2, label=lev)
            ax.fill_between(g.min().index, g.min().values, g.max().values, color=palette[lev], alpha=0.15, linewidth=0)
        ax.axhline(level, color="black", linewidth=0.8, linestyle="--")
        ax.set(xscale="log", yscale="linear" if route == "lambda_min" else "log",
               xlabel="m / N" if power == 1 else "m / N²", ylabel=ylabel)
        ax.legend(fontsize="x-small", loc="lower right" if route == "lambda_min" else "upper right")
        ax.set_title(f"{label}: median, min–max over seeds", fontsize="medium")
    lam = df.groupby("N")["lambda0"].first()
    fig.suptitle(f"Concentration of the feature Gram at initialisation: N points on the sphere, d = "
                 f"{df['d'].iloc[0] / df['N'].iloc[0]:g}·N, λ0 = {lam.min():.3g}–{lam.max():.3g}, "
                 f"{df['seed'].nunique()} seeds per N")
    return fig


def plot_digits(df: pd.DataFrame) -> Figure:
    """The width figure on real images (one 2×2 block per data set)."""
    fig = plot_width(df)
    fig.suptitle("Handwritten digits, width sweep: " + fig.get_suptitle().split(": ", 1)[1])  # same η note
    return fig


def plot_sibling_fig1(df: pd.DataFrame) -> Figure:
    """The sibling paper's Figure 1, one block per data set: train and test loss (with the zero
    predictor's ½‖y_test‖² = n_test/2 for labels ±1) and ρ(A(k)) on a zoomed axis (top); L(k)/L(0)
    on both sets and the drift ρ(A(k)) − ρ(A(0)) (bottom); one curve per width m, one η for all."""
    from matplotlib.ticker import ScalarFormatter

    d = figure1.plotted_quantities(df)
    datasets = sorted(df["dataset"].unique())
    found = figure1.findings(df)
    fig = Figure(figsize=(13.5, 7.4 * len(datasets)), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(datasets), 1))
    for sub, name in zip(subs, datasets):
        g = d[d["dataset"] == name].copy()
        N, n_test = int(g["N"].iloc[0]), int(g["n_test"].iloc[0])
        order, palette = _levels(g, "m", lambda m: f"m = {m} (m/N = {m / N:g})")
        axes = sub.subplots(2, 3)
        for ax, panel in zip(axes.flat, ("train loss", "test loss", "ρ zoomed", "relative train loss",
                                         "relative test loss", "ρ drift")):
            _panel(ax, panel)
        _lines(axes[0, 0], g, "train_loss", order, palette, log=True, legend=True)
        axes[0, 0].legend(title="width", fontsize="small")
        _lines(axes[0, 1], g, "test_loss", order, palette, log=True)
        axes[0, 1].axhline(n_test / 2, color="grey", linestyle="--", linewidth=1)
        axes[0, 1].text(0.98, n_test / 2, "zero predictor ½‖y‖² = n_test/2", transform=axes[0, 1].get_yaxis_transform(),
                        ha="right", va="bottom", fontsize="small", color="grey")
        _lines(axes[0, 2], g, "rho", order, palette)
        axes[0, 2].yaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        axes[0, 2].set_title("zoomed axis (not from 0)", fontsize="small")
        _lines(axes[1, 0], g, "train_ratio", order, palette, log=True)
        _lines(axes[1, 1], g, "test_ratio", order, palette, log=True)
        _lines(axes[1, 2], g, "rho_drift", order, palette)
        axes[1, 2].axhline(0.0, color="grey", linewidth=0.8)
        rho0 = g[g["step"] == 0].groupby("m")["rho"].mean()
        axes[1, 2].set_title("drift from the start; ρ(A(0)):\n" + ", ".join(f"{v:.4f} (m = {m})" for m, v in rho0.items()),
                             fontsize="small")
        f = found[found["dataset"] == name].set_index("finding")["holds"]
        verdict = lambda k: {True: "yes", False: "no"}.get(f.get(k), "—")  # noqa: E731
        lr = g.drop_duplicates("run_id")["lr"]
        eta = f"η = {lr.iloc[0]:.4g}" if np.allclose(lr, lr.iloc[0], rtol=1e-12) else f"η = {lr.min():.4g}–{lr.max():.4g}"
        dtype = g["dtype"].iloc[0] if "dtype" in g else "float64"
        stopped = _stopped_note(df[df["dataset"] == name], "curves end early")
        head = (f"{name}: N = {N}, n_test = {n_test}, d = {int(g['d'].iloc[0])}, γ = {_one(g, 'gamma')}, {eta} for every m, "
                f"{dtype}, {g['seed'].nunique()} seed(s){stopped}")
        verdicts = (f"wider m: faster (L(K)/L(0) lower): {verdict('train-faster')};  lower L(K): {verdict('train-lower')};  "
                    f"lower test loss: {verdict('test-lower')};  ρ within {figure1.RHO_DRIFT:.0%} of its start: {verdict('rho-stays')}")
        sub.suptitle(head + "\n" + verdicts, fontsize="medium")
    fig.suptitle("The sibling paper's Figure 1 (arXiv:2110.05645): full-batch GD, one fixed step for every width", fontsize="large")
    return fig


#: the width families of ``invariants``: family → (colour, legend text of m at constant c)
_FAMILIES = {"sqrt": ("C3", "m = {c:g}·√(N·{N0})"), "linear": ("C0", "m = {c:g}·N"), "square": ("C2", "m = {c:g}·N²/{N0}")}


def plot_invariants(df: pd.DataFrame) -> Figure:
    """Each invariant of the convergence argument (:data:`replication.fits.INVARIANTS`) against
    N, log–log, one line per width family and constant c (median over seeds, dots: seeds), the
    fitted exponent of the linear and the slower family in the legend; and the loss reached,
    L(K)/L(0), so that the invariants compare runs trained equally far."""
    summ = fits.invariant_summaries(df)
    done = summ[summ["status"] == "completed"]
    slopes = fits.invariant_slopes(summ).set_index(["family", "invariant"])
    N0 = int(summ["N"].min())
    Ns = np.array(sorted(summ["N"].unique()), dtype=float)
    fig, axes = _figure(2, 3, width=4.6, height=3.7)
    panels = list(fits.INVARIANTS) + ["loss_ratio"]
    names = {"lambda_min_Hv": "λ_min of the feature Gram", "gram_change": "Gram change", "neuron_move": "neuron movement",
             "flip_fraction": "flipped signs", "rho_drift": "ρ drift", "loss_ratio": "loss reached"}
    labels = dict(fits.INVARIANT_LABELS, loss_ratio="L(K) / L(0) at the last step K")
    for ax, name in zip(axes.flat, panels):
        _panel(ax, names[name])
        for fam, (color, text) in _FAMILIES.items():
            f = done[done["family"] == fam]
            for i, (c, e) in enumerate(f.groupby("ratio", sort=True)):
                med = e.groupby("N")[name].median()
                label = text.format(c=c, N0=N0)
                if fam in ("linear", "sqrt") and name in fits.INVARIANTS and i == 0 and (fam, name) in slopes.index:
                    label += f" ({_fit_label(slopes.loc[(fam, name)].to_dict(), 'p')})"
                ax.plot(med.index, med.values, color=color, linestyle="-" if i == len(f["ratio"].unique()) - 1 else "--",
                        marker="o", markersize=3, linewidth=1.2, label=label)
                ax.scatter(e["N"], e[name], color=color, s=6, alpha=0.4)
        if name == "loss_ratio" and "stop_below" in df:
            ax.axhline(float(df["stop_below"].iloc[0]), color="black", linestyle="--", linewidth=0.8,
                       label=f"target: runs stop at L/L(0) ≤ {float(df['stop_below'].iloc[0]):g}")
        if name == "rho_drift":  # ρ comes from a power iteration accurate to rtol 1e-6
            floor = 1e-6 * float(_rho0(df))
            ax.axhline(floor, color="grey", linestyle=":", linewidth=1, label="ρ's own accuracy (1e-6·ρ(0))")
        ax.set(xscale="log", yscale="log", xlabel="N (samples)", ylabel=labels[name])
        _loglog_ticks(ax, Ns)
        ax.legend(fontsize="xx-small", loc="best")
        ax.set_title(labels[name], fontsize="medium")
    stopped = int((summ["status"] != "completed").sum())
    lam = df.groupby("N")["lambda0"].first()
    fig.suptitle(f"The proof's invariants against N: random labels on the sphere, d = {df['d'].iloc[0] / df['N'].iloc[0]:g}·N, "
                 f"λ0 = {lam.min():.3g}–{lam.max():.3g}, γ = {_one(df, 'gamma')}, GD with η = ½·2/λ_max(H(0)) "
                 f"to L/L(0) ≤ {_one(df, 'stop_below') if 'stop_below' in df else '—'} (at most {df['steps'].iloc[0]} steps), {summ['seed'].nunique()} seeds" + (f"; {stopped} runs stopped (not drawn)" if stopped else ""))
    return fig


def _rho0(df: pd.DataFrame) -> float:
    """The largest ρ(A(0)) over the runs of ``df`` (for the accuracy floor of ρ drifts)."""
    d = fits.good_rows(df)
    return float(d[d["step"] == 0]["rho"].max())


def plot_boundary(df: pd.DataFrame) -> Figure:
    """Per data set, near the well-posedness boundary (γ up to ρ(A(0)) ≈ 0.95, one η for every
    width): the largest drift max_k |ρ(A(k)) − ρ(A(0))| against m per γ on log–log axes with the
    pooled fit over m ≥ N (:func:`replication.fits.drift_exponent`, the claims' fit) and the
    m^(−1/2) (Weyl bound) and m^(−3/2) (first-order) reference slopes; the drift ρ(A(k)) − ρ(A(0))
    against k per width at the largest γ; the margin 1 − max_k ρ(A(k)) against m per γ; and
    L(k)/L(0) per width at the largest γ."""
    datasets = sorted(df["dataset"].unique())
    fig, axes = _figure(2 * len(datasets), 2, width=5.0, height=3.8)
    for i, name in enumerate(datasets):
        d = df[df["dataset"] == name].copy()
        ax_drift, ax_traj, ax_margin, ax_loss = axes[2 * i:2 * i + 2].ravel()
        for ax, panel in zip((ax_drift, ax_traj, ax_margin, ax_loss),
                             ("drift vs width", "drift trajectories", "margin to 1", "relative loss")):
            _panel(ax, panel)
        N = int(d["N"].iloc[0])
        drifts = fits.rho_drifts(d)
        done = drifts[drifts["status"] == "completed"]
        gammas = sorted(drifts["gamma"].unique())
        gpal = dict(zip(gammas, sns.color_palette("rocket", len(gammas) + 1)))
        widths = sorted(drifts["m"].unique())
        for g in gammas:
            r = done[(done["gamma"] == g) & (done["abs_drift"] > 0)]
            med = r.groupby("m")["abs_drift"].median()
            rho0 = drifts[drifts["gamma"] == g]["rho0"]
            ax_drift.scatter(r["m"], r["abs_drift"], s=12, color=gpal[g], alpha=0.6)
            ax_drift.plot(med.index, med.values, "o-", color=gpal[g],
                          label=f"γ = {g:g} (ρ(0) {rho0.min():.2f}–{rho0.max():.2f})")
        fit = fits.drift_exponent(drifts[drifts["m"] >= N])
        wide = done[(done["m"] >= N) & (done["abs_drift"] > 0)]
        if len(wide):  # reference slopes through the geometric mean of the m ≥ N points
            x0, y0 = np.exp(np.log(wide["m"]).mean()), np.exp(np.log(wide["abs_drift"]).mean())
            xs = np.array([min(widths), max(widths)], dtype=float)
            for s_, style in ((-0.5, "--"), (-1.5, ":")):
                ax_drift.plot(xs, y0 * (xs / x0) ** s_, style, color="grey", linewidth=1, label=f"∝ m^{s_:g}")
        ax_drift.axvline(N, color="black", linewidth=0.8)
        ax_drift.text(N, 0.02, " m = N", transform=ax_drift.get_xaxis_transform(), fontsize="x-small")
        ax_drift.set(yscale="log", xlabel="width m", ylabel="max_k |ρ(A(k)) − ρ(A(0))| [dimensionless]")
        _loglog_ticks(ax_drift, widths)
        ax_drift.legend(fontsize="x-small")
        ax_drift.set_title(f"{name}: N = {N}, d = {int(d['d'].iloc[0])}, η = {_one(d, 'lr')}, {d['seed'].nunique()} seeds\n"
                           f"pooled fit over m ≥ N: {_fit_label(fit, 's')}", fontsize="medium", loc="left")
        top = d[d["gamma"] == gammas[-1]].copy()
        order, palette = _levels(top, "m", lambda m: f"m = {m} (m/N = {m / N:g})")
        # one line per run: the sign of the drift differs between seeds, so a mean would hide it
        top["rho_drift"] = top["rho"] - top["run_id"].map(
            top[top["step"] == 0].drop_duplicates("run_id").set_index("run_id")["rho"])
        for run_id, r in fits.good_rows(top).groupby("run_id", sort=False):
            ax_traj.plot(r["step"], r["rho_drift"], color=palette[r["level"].iloc[0]], linewidth=1)
        _mark_failures(ax_traj, top.assign(rho=top["rho_drift"]), palette)
        ax_traj.set_yscale("symlog", linthresh=1e-5)
        ax_traj.axhline(0.0, color="grey", linewidth=0.8)
        ax_traj.set(xlabel=LABELS["step"], ylabel="ρ(A(k)) − ρ(A(0)) [dimensionless]")
        rho0 = top[top["step"] == 0]["rho"]
        ax_traj.set_title(f"γ = {gammas[-1]:g}, ρ(A(0)) = {rho0.min():.3f}–{rho0.max():.3f}: drift of each run\n"
                          "(symlog, linear within ±1e-5; colours: widths, bottom right)", fontsize="medium")
        for g in gammas:
            r = drifts[drifts["gamma"] == g]
            margin = (1.0 - r.groupby("m")["rho_max"].min(), 1.0 - r.groupby("m")["rho_max"].max())
            ax_margin.plot(margin[1].index, margin[1].values, "o-", color=gpal[g], label=f"γ = {g:g}")
            ax_margin.fill_between(margin[1].index, margin[1].values, margin[0].values, color=gpal[g], alpha=0.2)
        ax_margin.set(yscale="log", xlabel="width m", ylabel="1 − max_k ρ(A(k)) [dimensionless]")
        _loglog_ticks(ax_margin, widths)
        ax_margin.axvline(N, color="black", linewidth=0.8)
        crossed = int((drifts["rho_max"] >= 1).sum())
        ax_margin.set_title(f"distance of the largest ρ(A(k)) from 1\n(line: worst seed, band: seeds); {crossed} runs reached ρ ≥ 1",
                            fontsize="medium")
        ax_margin.legend(fontsize="x-small")
        top["train_loss_rel"] = top["train_loss"] / top["run_id"].map(
            top[top["step"] == 0].drop_duplicates("run_id").set_index("run_id")["train_loss"])
        _lines(ax_loss, top, "train_loss_rel", order, palette, log=True, legend=True)
        ax_loss.legend(fontsize="x-small", title="width")
        ax_loss.set_title(f"γ = {gammas[-1]:g}: training to convergence at one η{_stopped_note(d, 'marked ×')}",
                          fontsize="medium")
    fig.suptitle("Near the well-posedness boundary: ρ(A(k)) drift against width at one fixed step η")
    return fig


#: experiment id → plot function.
PLOTTERS = {
    "width": plot_width, "gamma": plot_gamma, "linear-width": plot_linear_width, "gram": plot_gram,
    "lazy": plot_lazy, "flow": plot_flow, "layers": plot_layers, "kernel": plot_kernel, "digits": plot_digits,
    "concentration": plot_concentration,
    "sibling-fig1": plot_sibling_fig1,
    "invariants": plot_invariants,
    "boundary": plot_boundary,
}


def plot_experiment(name: str, df: pd.DataFrame) -> Figure:
    """The figure of experiment ``name`` from its aggregated table."""
    if name not in PLOTTERS:
        raise ValueError(f"no plot function for experiment {name!r}; known: {sorted(PLOTTERS)}")
    return PLOTTERS[name](df)


def plot_file(experiment: str, csv_path) -> Figure:
    """Rule ``plot``: the figure of one experiment from its aggregated CSV."""
    from .integrity import verify

    return plot_experiment(experiment, pd.read_csv(verify(csv_path)))
