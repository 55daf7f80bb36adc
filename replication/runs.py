"""The expansion of a configuration's experiments into runs: the run tables of the workflow.

The run table maps every gradient-descent experiment in the config to rows, one per
(experiment, data set, swept value, seed), each with a unique file-name-safe ``run_id`` and
every parameter the generic ``train`` rule needs.  Adding an experiment means adding a
schema block, an expansion function registered in :data:`EXPANDERS` and a plot function
(docs/development.md).

A *job* (one row of :func:`run_table`, one ``train`` job, one CSV) runs up to
``seeds_per_job`` seeds of the same parameters one after the other (``seeds``, ``run_ids``),
which saves the interpreter and import start-up per seed when runs are small.  Expanders
yield one row per seed (:func:`run_rows`); :func:`batch_seeds` groups them.  The non-GD
computations have tables of the same shape: :func:`kernel_table` (finite-width Gram matrices
against K∞/G∞) and :func:`gf_table` (gradient-flow ODE solves of ``flow``).  Rows hold run
parameters only; scheduler requests are computed from them by the rules
(:func:`replication.cost.request`).
"""

from __future__ import annotations

import math
import re

from implicit.model import BLOCKS
from implicit.training import AUTO_LR_FRACTION

from .datasets import input_dim
from .errors import ConfigError, json_path


#: data-set names: they become file names and wildcards, so no "/", "..", spaces or shell syntax.
NAME_RE = r"[a-z0-9][a-z0-9-]{0,39}"
#: run ids: NAME_RE plus "_"-separated "<key><value>" parts (see :func:`make_run_id`).
RUN_ID_RE = r"[a-z0-9][A-Za-z0-9._+-]{0,159}"
#: training settings: ``training`` holds the defaults, an experiment block may override any.
TRAINING_KEYS = ("lr", "steps", "tol", "max_iter", "record_every", "method", "trainable", "threads", "dtype")
#: values of training keys that a configuration may leave out
TRAINING_DEFAULTS = {"dtype": "float64"}


def make_run_id(dataset: str, **parts) -> str:
    """"<dataset>_<key><value>_..." e.g. ``sphere-linear_m64_g0.1_s0``."""
    def fmt(v):
        if isinstance(v, (list, tuple)):
            return "".join(map(str, v))
        return format(v, "g") if isinstance(v, float) else str(v)

    run_id = "_".join([dataset] + [f"{k}{fmt(v)}" for k, v in parts.items()])
    if not re.fullmatch(RUN_ID_RE, run_id):
        raise ConfigError(f"run id {run_id!r} is not file-name safe (pattern {RUN_ID_RE})")
    return run_id


def _settings(config, block) -> dict:
    training = {**TRAINING_DEFAULTS, **config["training"]}
    return {k: block.get(k, training[k]) for k in TRAINING_KEYS}


#: analysis settings of an experiment block (not run parameters): the aggregation rule writes
#: them as columns of results/<experiment>.csv, so that the figure reads them from its CSV.


ANALYSIS_KEYS = {"linear-width": ("target", "min_fraction", "singular_tol"), "concentration": ("level", "confirm")}


def analysis_settings(config, experiment) -> dict:
    block = config.get("experiments", {}).get(experiment, {})
    return {k: block[k] for k in ANALYSIS_KEYS.get(experiment, ()) if k in block}


def _row(config, experiment, dataset, m, gamma, seed, settings, **extra) -> dict:
    ds = all_datasets(config)[dataset]
    d = input_dim(ds)
    trainable = "+".join(b for b in BLOCKS if b in settings["trainable"])
    row = {
        "experiment": experiment, "dataset": dataset, "N": ds["n_train"], "n_test": ds["n_test"],
        "d": d, "m": m, "gamma": gamma, "seed": seed, **settings, "trainable": trainable,
        "lr_fraction": AUTO_LR_FRACTION if settings["lr"] == "auto" else None,
        "track_gram": False, "max_rho": 1.0, **extra,
    }
    return row


def expand_width(config, name, block) -> list[dict]:
    """One run per (data set, width m, seed) at the block's γ."""
    s = _settings(config, block)
    return [
        _row(config, name, ds, m, block["gamma"], seed, s, run_id=make_run_id(ds, m=m, g=float(block["gamma"]), s=seed))
        for ds in block["datasets"] for m in block["widths"] for seed in block["seeds"]
    ]


def expand_gamma(config, name, block) -> list[dict]:
    """One run per (data set, γ, seed) at width m; ρ is not capped so only a failing solve stops a run."""
    s = _settings(config, block)
    return [
        _row(config, name, ds, block["m"], g, seed, s, max_rho=math.inf,
             run_id=make_run_id(ds, m=block["m"], g=float(g), s=seed))
        for ds in block["datasets"] for g in block["gammas"] for seed in block["seeds"]
    ]


def expand_boundary(config, name, block) -> list[dict]:
    """Runs near the well-posedness boundary: one run per (data set, γ, width m, seed), ρ not
    capped (``max_rho`` = ∞), so that a run stops only if a solve fails and ρ(A(k)) is recorded
    past 1 if it gets there.

    The step η is one number for every width of a γ (never a per-run ``lr: auto``, which would
    differ between widths and confound the drift-against-m comparison): ``lr`` itself, or with
    ``lr: auto`` and ``lr_width`` the step of that width's network at seed ``seeds[0]`` and that
    γ (:func:`expand_one_step`'s rows ``lr_width``, ``lr_seed``, ``lr_fraction``; the
    configuration check refuses ``lr: auto`` without ``lr_width``).  Ids
    "<data set>_m<m>_g<γ>_s<seed>".
    """
    s = _settings(config, block)
    extra = {}
    if s["lr"] == "auto":
        extra = {"lr_width": int(block["lr_width"]), "lr_seed": int(block["seeds"][0]),
                 "lr_fraction": float(block.get("lr_fraction", AUTO_LR_FRACTION))}
    return [
        _row(config, name, ds, m, g, seed, s, max_rho=math.inf, **extra,
             run_id=make_run_id(ds, m=m, g=float(g), s=seed))
        for ds in block["datasets"] for g in block["gammas"] for m in block["widths"] for seed in block["seeds"]
    ]


def expand_one_step(config, name, block) -> list[dict]:
    """The width runs with one step η for every width of a data set (``digits``, ``sibling-fig1``).

    With a number as ``lr``, that number (:func:`expand_width`).  With ``lr: auto``,
    η = lr_fraction·2/λ_max(H(0)) of the network of width ``lr_width`` (default: the smallest
    width) and the experiment's first seed, in float64 whatever the run's dtype (rows
    ``lr_width``, ``lr_seed``): one η per data set, computed from that data set, so that data
    sets of different conditioning (8×8 digits, MNIST) each get a stable step.  Per-run auto
    steps would differ between widths and confound the comparison the figure makes."""
    if _settings(config, block)["lr"] != "auto":
        return expand_width(config, name, block)
    extra = {"lr_width": int(block.get("lr_width", min(block["widths"]))), "lr_seed": int(block["seeds"][0]),
             "lr_fraction": float(block.get("lr_fraction", AUTO_LR_FRACTION))}
    return [row | extra for row in expand_width(config, name, block)]


def expand_gram(config, name, block) -> list[dict]:
    """The width runs with the Gram matrix's extreme eigenvalues recorded at every recorded step."""
    return [row | {"track_gram": True} for row in expand_width(config, name, block)]


def expand_layers(config, name, block) -> list[dict]:
    """One run per (data set, trained subset, width m, seed), Gram blocks recorded; ids "_t<subset>"."""
    rows = []
    for subset in block["subsets"]:
        s = _settings(config, block) | {"trainable": subset}
        tag = "".join(b for b in BLOCKS if b in subset)
        rows += [
            _row(config, name, ds, m, block["gamma"], seed, s, track_gram=True,
                 run_id=make_run_id(ds, m=m, g=float(block["gamma"]), t=tag, s=seed))
            for ds in block["datasets"] for m in block["widths"] for seed in block["seeds"]
        ]
    return rows


def width_grid(N: int, ratio_min: float, ratio_max: float, step: float) -> list[int]:
    """The widths of one arm of ``linear-width`` at sample size N: the distinct
    m = max(2, round(ratio_min·N·(1 + step)^k)), k = 0, 1, …, up to ratio_max·N.

    A geometric grid with relative steps of ``step`` (e.g. 0.1: brackets of ≤ 10%), in m/N so
    that the same ratios are tried at every N; rounding to whole widths merges neighbours at
    small N (whole widths are then the resolution)."""
    widths, k = [], 0
    while (x := ratio_min * N * (1 + step) ** k) <= ratio_max * N * (1 + 1e-12):
        m = max(2, round(x))
        while widths and m > widths[-1] + 1 and m > widths[-1] * (1 + step):  # rounding skipped a width
            widths.append(widths[-1] + 1)
        if not widths or m > widths[-1]:
            widths.append(m)
        k += 1
    return widths


def expand_linear_width(config, name, block) -> list[dict]:
    """One run per (template data set, N, arm, width, seed) on the derived data set
    "<template>-n<N>" (the template with n_train = N; :func:`derived_datasets`).

    Each arm trains one subset of the blocks over its own grid of widths
    (:func:`width_grid`).  The step budget is not fixed: the job computes it per run from
    H(0) (:func:`replication.jobs.step_budget`) from ``budget_factor``, ``max_steps`` and
    ``target`` and stops a run when it reaches the target (and, for the u,v arm, GD's exact step
    count with ``singular_tol``); ids "_t<subset>"."""
    s = _settings(config, block)
    extra = {"target": float(block["target"]), "budget_factor": float(block["budget_factor"]),
             "max_steps": int(block["max_steps"]), "records": int(block["records"]),
             "lr_fraction": float(block.get("lr_fraction", AUTO_LR_FRACTION)),
             # also an analysis setting (a column of the aggregated CSV): the job needs it for
             # the u,v arm's exact step count (replication.jobs.steps_exact)
             "singular_tol": float(block["singular_tol"])}
    rows = []
    for tpl in block["datasets"]:
        for N in block["n_train"]:
            ds = derived_name(config, tpl, N)
            for arm in block["arms"]:
                sa = s | {"trainable": arm["trainable"], "steps": int(block["max_steps"])}
                tag = "".join(b for b in BLOCKS if b in arm["trainable"])
                for m in width_grid(N, arm["ratio_min"], arm["ratio_max"], block["grid_step"]):
                    rows += [_row(config, name, ds, m, block["gamma"], seed, sa, **extra,
                                  run_id=make_run_id(ds, m=m, g=float(block["gamma"]), t=tag, s=seed))
                             for seed in block["seeds"]]
    return rows


#: the width families of the ``invariants`` experiment: family → m(c, N, N0), N0 the smallest N;
#: each equals c·N0 at N = N0, so the lines of the figure start together
INVARIANT_FAMILIES = {
    "sqrt": lambda c, N, N0: c * math.sqrt(N * N0),   # slower than N (control)
    "linear": lambda c, N, N0: c * N,                 # the linear-width regime
    "square": lambda c, N, N0: c * N * N / N0,        # faster than N (control)
}


def invariants_name(N: int) -> str:
    """The data set of the ``invariants`` experiment at N: "invariants-n<N>"."""
    return f"invariants-n{N}"


def invariants_datasets(config) -> dict[str, dict]:
    """{name: entry} of the ``invariants`` experiment's data sets: per N of its ``n_train``,
    N points uniform on the sphere in d = d_per_n·N dimensions with random ±1 labels (any
    labels: what the convergence theorems cover), seed ``data_seed``, no test set.  d grows
    with N so that λ0 = λ_min(G∞) stays roughly constant (as in ``concentration``)."""
    block = config.get("experiments", {}).get("invariants")
    if not block or not block.get("enabled", True):
        return {}
    return {invariants_name(N): {"kind": "random-labels", "n_train": N, "n_test": 0,
                                 "d": max(2, round(block["d_per_n"] * N)), "seed": block["data_seed"]}
            for N in block.get("n_train", [])}


def invariant_widths(block) -> list[tuple[str, float, int, int]]:
    """(family, c, N, m) of every setting of an ``invariants`` block: the linear family at each
    of ``ratios``, the controls at ``control_ratio`` (the faster one only for N ≤
    ``square_max_n``); m = round(family(c, N, N0)), N0 = min(n_train)."""
    Ns = sorted(block["n_train"])
    N0 = Ns[0]
    out = [("linear", float(c), N, round(c * N)) for c in block["ratios"] for N in Ns]
    c = float(block["control_ratio"])
    out += [("sqrt", c, N, round(INVARIANT_FAMILIES["sqrt"](c, N, N0))) for N in Ns]
    out += [("square", c, N, round(INVARIANT_FAMILIES["square"](c, N, N0))) for N in Ns if N <= block["square_max_n"]]
    return out


def expand_invariants(config, name, block) -> list[dict]:
    """One run per (family, c, N, seed) of :func:`invariant_widths` on "invariants-n<N>", with
    the invariants tracked (``track_invariants``: the Gram blocks and ‖H(k) − H(0)‖₂, per-neuron
    movement, flipped signs) and every run stopped once L(k)/L(0) ≤ ``stop_below`` (``steps`` is
    the cap); rows carry ``family``, ``ratio`` = c and ``stop_below``, ids "_f<family>_c<c>"."""
    s = _settings(config, block)
    return [
        _row(config, name, invariants_name(N), m, block["gamma"], seed, s, track_gram=True, track_invariants=True,
             family=fam, ratio=c, stop_below=float(block["stop_below"]),
             run_id=make_run_id(invariants_name(N), f=fam, c=c, m=m, g=float(block["gamma"]), s=seed))
        for fam, c, N, m in invariant_widths(block) for seed in block["seeds"]
    ]


def flow_steps(block, fraction) -> int:
    """Steps and record interval of the step size ``fraction`` scale by (largest fraction)/fraction,
    so that every step size covers the same times t = kη."""
    return round(max(block["lr_fractions"]) / fraction)


def expand_flow(config, name, block) -> list[dict]:
    """GD part of ``flow``: one run per (data set, step-size fraction f, seed) with
    η = f·2/λ_max(H(0)); the smaller steps run proportionally longer (:func:`flow_steps`)."""
    s = _settings(config, block) | {"lr": "auto"}
    rows = []
    for f in block["lr_fractions"]:
        k = flow_steps(block, f)
        sf = s | {"steps": s["steps"] * k, "record_every": s["record_every"] * k}
        rows += [
            _row(config, name, ds, block["m"], block["gamma"], seed, sf, lr_fraction=float(f),
                 run_id=make_run_id(ds, m=block["m"], g=float(block["gamma"]), f=float(f), s=seed))
            for ds in block["datasets"] for seed in block["seeds"]
        ]
    return rows


#: experiment id -> expansion function (config, name, block) -> rows; all run by the generic train rule.
#: (``digits`` and ``lazy`` are width sweeps; ``kernel`` and the ODE part of ``flow`` are not GD:


#: see :func:`kernel_table` and :func:`gf_table`.)
EXPANDERS = {
    "width": expand_width, "gamma": expand_gamma, "linear-width": expand_linear_width, "gram": expand_gram,
    "lazy": expand_width, "flow": expand_flow, "layers": expand_layers, "digits": expand_one_step,
    "sibling-fig1": expand_one_step,
    "invariants": expand_invariants,
    "boundary": expand_boundary,
}
#: experiments that are not (only) gradient descent: their own rules make their run CSVs
OTHER_EXPERIMENTS = ("kernel", "concentration")


def enabled_experiments(config) -> list[str]:
    return [e for e, b in config.get("experiments", {}).items() if b.get("enabled", True)]


def run_rows(config) -> list[dict]:
    """Every GD run of the enabled experiments, one row per seed (``seed``, ``run_id``)."""
    rows = []
    for exp in enabled_experiments(config):
        if exp in EXPANDERS:
            rows += EXPANDERS[exp](config, exp, config["experiments"][exp])
    return rows


def seeds_per_job(config, experiment) -> int:
    """Seeds one job runs (the experiment's ``seeds_per_job``, else ``training.seeds_per_job``, else 1)."""
    block = config.get("experiments", {}).get(experiment, {})
    return int(block.get("seeds_per_job", config.get("training", {}).get("seeds_per_job", 1)))


#: row fields that differ between the seeds of one job
PER_SEED = ("seed", "run_id")
#: experiments whose jobs also batch runs of different widths (``ms``): linear-width's fine
#: width grids have many small runs, each not worth an interpreter start-up of its own
BATCH_WIDTHS = ("linear-width",)


def batch_seeds(rows, per_job: int, widths: bool = False) -> list[dict]:
    """Group per-seed rows that differ only in ``seed``/``run_id`` into jobs of at most
    ``per_job`` seeds (in the order given).  A job row has ``seeds`` and ``run_ids`` (aligned)
    instead of ``seed``, and ``run_id`` = the seeds' common id with "_s<seed>+<seed>...".
    With ``widths``, rows that also differ in ``m`` share jobs: the job row has ``ms``
    (aligned with ``seeds``) and ``m`` = the largest (what its resource requests assume)."""
    per = PER_SEED + (("m",) if widths else ())
    groups = {}
    for row in rows:
        key = repr(sorted((k, v) for k, v in row.items() if k not in per))
        groups.setdefault(key, []).append(row)
    jobs = []
    for group in groups.values():
        for i in range(0, len(group), per_job):
            chunk = group[i:i + per_job]
            head, tail = chunk[0]["run_id"].rsplit("_s", 1)
            if tail != str(chunk[0]["seed"]):
                raise ConfigError(f"run id {chunk[0]['run_id']!r} does not end in _s<seed>")
            job = {k: v for k, v in chunk[0].items() if k not in PER_SEED}
            job.update(seeds=[r["seed"] for r in chunk], run_ids=[r["run_id"] for r in chunk],
                       run_id=head + "_s" + "+".join(str(r["seed"]) for r in chunk))
            if widths:
                job.update(ms=[r["m"] for r in chunk], m=max(r["m"] for r in chunk))
                job["run_id"] = f"{chunk[0]['run_id']}_n{len(chunk)}"
            jobs.append(job)
    return jobs


def _table(rows_by_experiment, config) -> dict[tuple[str, str], dict]:
    table = {}
    for exp, rows in rows_by_experiment.items():
        for row in batch_seeds(rows, seeds_per_job(config, exp), widths=exp in BATCH_WIDTHS):
            key = (exp, row["run_id"])
            if key in table:
                raise ConfigError(f"{json_path('$.experiments', exp)}: two runs share the id {row['run_id']!r}")
            table[key] = row
    return table


def run_table(config) -> dict[tuple[str, str], dict]:
    """{(experiment, run_id): job row} over the enabled GD experiments (one ``train`` job each,
    its seeds batched by :func:`batch_seeds`); job ids are unique per experiment."""
    by_exp = {}
    for row in run_rows(config):
        by_exp.setdefault(row["experiment"], []).append(row)
    return _table(by_exp, config)


def _solver(config, block) -> dict:
    s = _settings(config, block)
    return {k: s[k] for k in ("tol", "max_iter", "method", "threads")}


def kernel_table(config) -> dict[str, dict]:
    """{run_id: job row} of the ``kernel`` experiment: per (data set, width m) the seeds whose
    ΦᵀΦ and ZᵀZ at initialisation are compared with G∞ and K∞ (rule ``kernel_errors``)."""
    if "kernel" not in enabled_experiments(config):
        return {}
    block = config["experiments"]["kernel"]
    rows = []
    for ds in block["datasets"]:
        entry = all_datasets(config)[ds]
        d = input_dim(entry)
        for m in block["widths"]:
            for seed in block["seeds"]:
                row = {"experiment": "kernel", "dataset": ds, "N": entry["n_train"], "d": d, "m": m,
                       "gamma": block["gamma"], "seed": seed, **_solver(config, block),
                       "run_id": make_run_id(ds, m=m, g=float(block["gamma"]), s=seed)}
                rows.append(row)
    return {r["run_id"]: r for r in _table({"kernel": rows}, config).values()}


def concentration_table(config) -> dict[str, dict]:
    """{run_id: job row} of the ``concentration`` experiment: per N and seed, the feature Gram
    ΦΦᵀ at initialisation along a growing width, on N points of the sphere in d = d_per_n·N
    dimensions (rule ``concentration``; no training)."""
    if "concentration" not in enabled_experiments(config):
        return {}
    block = config["experiments"]["concentration"]
    rows = []
    for N in block["n_train"]:
        for seed in block["seeds"]:
            rows.append({
                "experiment": "concentration", "N": N, "d": round(block["d_per_n"] * N), "seed": seed,
                "data_seed": block["data_seed"], "grid_step": block["grid_step"],
                "lambda_max_ratio": block["lambda_max_ratio"],
                "spectral_max_ratio": block["spectral_max_ratio"] if N <= block["spectral_max_n"] else None,
                "threads": block.get("threads", config["training"]["threads"]),
                "run_id": make_run_id("sphere", n=N, s=seed),
            })
    return {r["run_id"]: r for r in _table({"concentration": rows}, config).values()}


def concentration_widths(job: dict) -> list[int]:
    """The grid of widths of a ``concentration`` job: round(N/2·2^(k·grid_step)), distinct, up
    to the larger of its two routes' caps (lambda_max_ratio·N and spectral_max_ratio·N²)."""
    N, step = job["N"], job["grid_step"]
    cap = job["lambda_max_ratio"] * N
    if job.get("spectral_max_ratio"):
        cap = max(cap, job["spectral_max_ratio"] * N * N)
    widths, k = [], 0
    while (m := round(N / 2 * 2.0 ** (k * step))) <= cap:
        if not widths or m > widths[-1]:
            widths.append(m)
        k += 1
    return widths


def kernel_limits(config) -> list[tuple[str, float]]:
    """(data set, γ) pairs whose infinite-width kernels K∞, G∞ the kernel experiment needs."""
    return sorted({(r["dataset"], r["gamma"]) for r in kernel_table(config).values()})


def gf_table(config) -> dict[str, dict]:
    """{run_id: job row} of the gradient-flow ODE solves of ``flow`` (rule ``gradient_flow``):
    per (data set, seed) the same θ(0) as the GD runs, integrated to the time the GD runs reach,
    t_max = steps · η_max with η_max = f_max·2/λ_max(H(0)), reported at the GD record times."""
    if "flow" not in enabled_experiments(config):
        return {}
    block = config["experiments"]["flow"]
    s = _settings(config, block)
    trainable = "+".join(b for b in BLOCKS if b in s["trainable"])
    rows = []
    for ds in block["datasets"]:
        entry = all_datasets(config)[ds]
        d = input_dim(entry)
        for seed in block["seeds"]:
            row = {"experiment": "flow", "dataset": ds, "N": entry["n_train"], "n_test": entry["n_test"], "d": d,
                   "m": block["m"], "gamma": block["gamma"], "seed": seed, "trainable": trainable,
                   "lr_fraction": float(max(block["lr_fractions"])), "steps": s["steps"],
                   "record_every": s["record_every"], "rtol": block["gf_rtol"], "atol": block["gf_atol"],
                   **_solver(config, block), "run_id": make_run_id(ds, m=block["m"], g=float(block["gamma"]), gf="", s=seed)}
            rows.append(row)
            rows += gf_long_rows(block, row)
    return {r["run_id"]: r for r in _table({"flow": rows}, config).values()}


def gf_long_rows(block, row) -> list[dict]:
    """The long gradient-flow solves of ``flow`` for one (data set, seed), when the block has
    ``gf_horizon``: from θ(0) = init_params(d, m, seed) to λ0·t = gf_horizon (or until
    L(t)/L(0) ≤ gf_floor), at the experiment's width m (role "prediction"), and at the control
    width gf_control_m (role "control") to λ0·t = gf_control_horizon (its loss need not reach
    the floor, and an explicit solver's cost grows with t) for the seeds gf_control_seeds (default
    all), each reported at gf_points evenly spaced times.  They
    are separate from the GD comparison, whose horizon stays that of the GD runs: GD at a small
    η over λ0·t of a few would take far too many steps."""
    if block.get("gf_horizon") is None:
        return []
    out = []
    for role, m, horizon in (("prediction", block["m"], block["gf_horizon"]),
                             ("control", block.get("gf_control_m"), block.get("gf_control_horizon", block["gf_horizon"]))):
        if m is None or (role == "control" and row["seed"] not in block.get("gf_control_seeds", [row["seed"]])):
            continue
        out.append(row | {"m": m, "role": role, "horizon": float(horizon), "floor": float(block["gf_floor"]),
                          "window": float(block["gf_window"]), "steps": int(block["gf_points"]) - 1, "record_every": 1,
                          "run_id": make_run_id(row["dataset"], m=m, g=float(block["gamma"]), gfl="", s=row["seed"])})
    return out

# --------------------------------------------------------------------------------------


def derived_name(config, template: str, N: int) -> str:
    """"<template>-n<N>", or the template's own name when its n_train is N."""
    return template if config["datasets"][template]["n_train"] == N else f"{template}-n{N}"


def derived_datasets(config) -> dict[str, dict]:
    """{name: entry} of the data sets the enabled experiments derive: for ``linear-width``, each
    template of its ``datasets`` with n_train = N for every N of ``n_train`` (same kind, d, seed
    and parameters, so the draws are nested: the first N points are shared)."""
    out = {}
    block = config.get("experiments", {}).get("linear-width")
    if block and block.get("enabled", True):
        for tpl in block.get("datasets", []):
            if tpl not in config.get("datasets", {}):
                continue
            for N in block.get("n_train", []):
                name = derived_name(config, tpl, N)
                if name not in config["datasets"]:
                    out[name] = {**config["datasets"][tpl], "n_train": N}
    return out


def all_datasets(config) -> dict[str, dict]:
    """The configured data sets and the derived ones (:func:`derived_datasets`)."""
    return {**config.get("datasets", {}), **derived_datasets(config), **invariants_datasets(config)}
