"""The same runs in float64 and float32: the largest deviation of every plotted quantity.

``python -m replication.precision compare --configfile workflow/config/sibling-fig1.yaml --steps 100``
runs every run of the configuration's ``sibling-fig1`` experiment at the given number of steps,
once in float64 (tol 1e-10) and once in float32, and writes ``<out>.md`` and ``<out>.csv`` (the
deviations, :func:`replication.figure1.deviations`; the findings in each precision) and, per
precision, the aggregated table and the figure (docs/performance.md, "float32 runs").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .figure1 import deviations, findings
from .fits import with_run_summaries


def compare_precisions(config: dict, steps: int, *, experiment: str = "sibling-fig1", tol32: float | None = None,
                       log=print) -> dict:
    """The runs of ``experiment`` in ``config`` at ``steps`` steps, once in float64 (tol 1e-10) and
    once in float32 (the block's tol, or ``tol32``, at least 1e-7): the two aggregated tables,
    the deviations of every plotted quantity (:func:`deviations`), the findings in each precision
    and the wall seconds of each."""
    import time

    from . import runs
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

    p = argparse.ArgumentParser(prog="python -m replication.precision",
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
