"""The sibling paper's Figure 1 (arXiv:2110.05645): its three findings, and float32 against float64.

The experiment ``sibling-fig1`` is a width sweep with one step η for every width
(:func:`replication.runs.expand_sibling_fig1`); its figure is
:func:`replication.plotting.plot_sibling_fig1`.  This module states the sibling's findings as
checks on the aggregated table (:func:`findings`) and compares the same runs in both
precisions (:func:`compare_precisions`, ``python -m replication.figure1 compare``).
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


def compare_precisions(config: dict, steps: int, *, experiment: str = "sibling-fig1", tol32: float | None = None,
                       log=print) -> dict:
    """The runs of ``experiment`` in ``config`` at ``steps`` steps, once in float64 (tol 1e-10) and
    once in float32 (the block's tol, or ``tol32``, at least 1e-7): the two aggregated tables,
    the deviations of every plotted quantity (:func:`deviations`), the findings in each precision
    and the wall seconds of each."""
    import time

    from . import runs
    from .fits import with_run_summaries
    from .jobs import make_data, run_gd

    rows = [r for r in runs.run_rows(config) if r["experiment"] == experiment]
    if not rows:
        raise ValueError(f"no runs of {experiment!r} in the configuration")
    entries = runs.all_datasets(config)
    data = {name: make_data(entries[name]) for name in dict.fromkeys(r["dataset"] for r in rows)}
    configured = [r["tol"] for r in rows if r["dtype"] == "float32"]
    tol32 = tol32 or max(configured[0] if configured else 1e-6, 1e-7)
    tables, seconds = {}, {}
    for dtype, tol in (("float64", 1e-10), ("float32", tol32)):
        parts, seconds[dtype] = [], {}
        for row in rows:
            run = row | {"steps": steps, "record_every": min(row["record_every"], steps), "dtype": dtype, "tol": tol}
            t0 = time.perf_counter()
            table, summary = run_gd(run, data[row["dataset"]])
            seconds[dtype][row["run_id"]] = time.perf_counter() - t0
            per_step = (summary["wall_seconds"] - summary["lr_seconds"]) / steps
            log(f"{dtype} {row['run_id']}: {summary['status']}, η = {summary['lr']:.6g}, {seconds[dtype][row['run_id']]:.1f} s "
                f"(choosing η {summary['lr_seconds']:.1f} s, then {per_step:.3f} s per step)")
            parts.append(table)
        tables[dtype] = with_run_summaries(pd.concat(parts, ignore_index=True))
    dev = deviations(tables["float64"], tables["float32"])
    found = {k: findings(v) for k, v in tables.items()}
    agree = found["float64"][["dataset", "finding", "holds"]].merge(
        found["float32"][["dataset", "finding", "holds"]], on=["dataset", "finding"], suffixes=("_64", "_32"))
    return {"tables": tables, "deviations": dev, "findings": found, "findings_agree": agree,
            "seconds": seconds, "tol32": tol32, "steps": steps}


def _markdown(result: dict) -> str:
    lines = [f"# sibling-fig1: float32 (tol {result['tol32']:g}) against float64 (tol 1e-10), {result['steps']} steps", "",
             "| quantity | measure | largest deviation | ÷ largest absolute value | at |", "|---|---|---|---|---|"]
    for r in result["deviations"].to_dict("records"):
        rel = "" if not np.isfinite(r["relative_to_range"]) else f"{r['relative_to_range']:.2e}"
        lines.append(f"| {r['quantity']} | {r['measure']} | {r['max_deviation']:.2e} | {rel} | {r['at']} |")
    lines += ["", "| data set | finding | float64 | float32 |", "|---|---|---|---|"]
    for r in result["findings_agree"].to_dict("records"):
        lines.append(f"| {r['dataset']} | {r['finding']} | {r['holds_64']} | {r['holds_32']} |")
    for dtype, secs in result["seconds"].items():
        lines.append(f"\n{dtype}: {sum(secs.values()):.0f} s in all ("
                     + ", ".join(f"{k}: {v:.0f} s" for k, v in secs.items()) + ")")
    for dtype, f in result["findings"].items():
        lines += ["", f"findings, {dtype}:", ""] + [f"- {r['dataset']} {r['finding']}: {r['holds']} — {r['measured']}"
                                                   for r in f.to_dict("records")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import argparse
    from pathlib import Path

    import yaml

    from .files import write_csv, write_text

    p = argparse.ArgumentParser(prog="python -m replication.figure1",
                                description="sibling-fig1 in float32 and float64 at reduced steps: largest deviation of every plotted quantity")
    p.add_argument("cmd", choices=["compare"])
    p.add_argument("--configfile", default="workflow/config/sibling-fig1.yaml")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--tol32", type=float)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="results/sibling-fig1-precision", help="prefix of the .md, .csv and figures written")
    args = p.parse_args(argv)
    import implicit

    implicit.set_threads(args.threads)
    config = yaml.safe_load(Path(args.configfile).read_text())
    result = compare_precisions(config, args.steps, tol32=args.tol32)
    write_text(_markdown(result), f"{args.out}.md")
    write_csv(result["deviations"], f"{args.out}.csv")
    from .files import save_figure
    from .plotting import plot_sibling_fig1

    for dtype, table in result["tables"].items():
        write_csv(table, f"{args.out}-{dtype}.table.csv")
        save_figure(plot_sibling_fig1(table), f"{args.out}-{dtype}.png")
    print(_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
