"""The aggregated table of one experiment: its run CSVs in one tidy CSV with per-run summaries."""

from __future__ import annotations

import pandas as pd

from . import fits
from .integrity import verify


def aggregate(experiment: str, run_paths, settings: dict, log) -> pd.DataFrame:
    """Rule ``aggregate``: the run CSVs of one experiment → results/<experiment>.csv.

    GD experiments: the traces, one row per run × recorded step, plus per-run summary columns
    (:func:`replication.fits.with_run_summaries`; NaN for runs that did not complete).
    ``flow`` adds the gradient-flow solves (method "GF", continuous time ``t``; GD rows get
    method "GD" and t = step·η).  ``kernel``: the error rows of every width and seed;
    ``concentration``: the rows of every N, seed and width.  The
    experiment's analysis ``settings`` (e.g. linear-width's target) become constant columns,
    so that its figure needs nothing but this CSV.
    """
    parts = [pd.read_csv(verify(p), keep_default_na=True) for p in run_paths]
    is_gd = [("step" in p) and ("method" not in p) for p in parts]  # GF parts have a "method" column
    gd = pd.concat([p for p, g in zip(parts, is_gd) if g], ignore_index=True) if any(is_gd) else None
    if gd is not None:
        gd = fits.with_run_summaries(gd)
    if experiment == "flow":
        gf = pd.concat([p for p in parts if "method" in p], ignore_index=True)
        gd.insert(gd.columns.get_loc("step"), "method", "GD")
        gd.insert(gd.columns.get_loc("step") + 1, "t", gd["step"] * gd["lr"])
        extra = [c for c in gf.columns if c not in gd.columns]  # the long solves' columns (role, lambda_min_H0, ...)
        df = pd.concat([gd, gf], ignore_index=True)[list(gd.columns) + extra]
        df["step"] = df["step"].astype("Int64")
        keys = ["dataset", "method", "m", "lr_fraction", "seed", "t"]
    elif gd is not None:
        df, keys = gd, ["dataset", "m", "gamma", "trainable", "seed", "step"]
    elif experiment == "concentration":
        df, keys = pd.concat(parts, ignore_index=True), ["N", "seed", "m"]
    else:
        df, keys = pd.concat(parts, ignore_index=True), ["dataset", "m", "seed", "quantity", "norm"]
    for key, value in settings.items():
        df[key] = value
    df = df.sort_values(keys, kind="stable", ignore_index=True)
    runs = df.drop_duplicates("run_id")
    stopped = int((runs["status"] != "completed").sum()) if "status" in runs else 0
    log.info("%s: %d runs, %d rows, %d stopped runs", experiment, len(runs), len(df), stopped)
    return df
