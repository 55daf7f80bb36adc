"""Configuration checks and the run table of the workflow.

Imported by ``workflow/rules/common.smk`` when the DAG is built and by the tests; it needs
only the standard library, PyYAML and jsonschema (no NumPy), so ``snakemake -n`` stays fast.

The run table maps every gradient-descent experiment in the config to rows, one per
(experiment, data set, swept value, seed), each with a unique file-name-safe ``run_id`` and
every parameter the generic ``train`` rule needs.  Adding an experiment means adding a
schema block, an expansion function registered in :data:`EXPANDERS` and a plot function.

A *job* (one row of :func:`run_table`, one ``train`` job, one CSV) runs up to
``seeds_per_job`` seeds of the same parameters one after the other (``seeds``, ``run_ids``):
with many small runs this saves the ~1.5 s of interpreter and import start-up per seed.
Expanders still yield one row per seed (:func:`run_rows`); :func:`batch_seeds` groups them.
The non-GD computations have tables of the same shape: :func:`kernel_table` (finite-width
Gram matrices against K∞/G∞) and :func:`gf_table` (gradient-flow ODE solves of ``flow``).
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import yaml

import cost

#: data-set names: they become file names and wildcards, so no "/", "..", spaces or shell syntax.
NAME_RE = r"[a-z0-9][a-z0-9-]{0,39}"
#: run ids: NAME_RE plus "_"-separated "<key><value>" parts (see :func:`make_run_id`).
RUN_ID_RE = r"[a-z0-9][A-Za-z0-9._+-]{0,159}"

#: smallest width a run may use: implicit.train's ρ(A) estimate (scipy ``svds``, k = 1) needs
#: min(A.shape) ≥ 2, so m = 1 crashes the run instead of recording it.
MIN_WIDTH = 2
#: ``lr: auto`` is this fraction of the stable range 2/λ_max(H(0)) (implicit.training.AUTO_LR_FRACTION).
AUTO_LR_FRACTION = 0.5

#: γ at or above this value gives ρ(A(0)) ≈ 2γ ≥ 1 at initialisation (SPEC §2).
GAMMA_WELL_POSED = 0.5
#: experiments allowed to use an ill-posed γ (their non-converging runs are recorded as failures).
ILL_POSED_OK = frozenset({"gamma"})

#: training settings: ``training`` holds the defaults, an experiment block may override any.
TRAINING_KEYS = ("lr", "steps", "tol", "max_iter", "record_every", "method", "trainable", "threads")

#: parameters each data-set kind accepts besides kind, n_train, n_test, d, seed, min_angle_deg
#: (mirrors implicit.data.make_dataset, which refuses anything else).
KIND_PARAMS = {
    "sphere-linear": {"noise"},
    "sphere-relu": {"teacher_width"},
    "random-labels": set(),
    "gaussian-mixture": {"separation"},
    "digits": {"classes"},
    "npz": {"path", "classes"},
}
DATASET_FIELDS = ("kind", "n_train", "n_test", "d", "seed", "min_angle_deg")
#: two classes of scikit-learn's 8×8 digits hold about 360 images.
DIGITS_MAX_SAMPLES = 360

WELL_POSEDNESS = (
    "refused for well-posedness: at initialisation ‖A(0)‖₂ ≈ 2√m, so ρ(A) = γ‖A‖₂/√m ≈ 2γ ≥ 1 and the "
    "equilibrium z = σ(γ/√m·Az + φ) is no longer guaranteed to exist or be unique (the "
    "fixed-point map stops being a contraction; SPEC §2). Use 0 < γ < 0.5 here; ill-posed "
    "γ belong in the 'gamma' experiment, which records non-converging runs as failures"
)


class ConfigError(ValueError):
    """An invalid configuration; the message lists every problem with its JSON path."""


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def load_yaml(path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def schema_errors(config, schema) -> list[str]:
    """Every JSON-schema violation as "<json path>: <message> [(allowed: ...)]"."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        hint = err.schema.get("description") if isinstance(err.schema, dict) else None
        out.append(f"{err.json_path}: {err.message}" + (f" (allowed: {hint})" if hint else ""))
    return out


def json_path(parent: str, key: str) -> str:
    """``parent.key``, or ``parent['key']`` when the key is not an identifier (as jsonschema writes paths)."""
    return f"{parent}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{parent}['{key}']"


def semantic_errors(config) -> list[str]:
    """Checks a JSON schema cannot express: references, kind parameters, well-posed γ."""
    errors = []
    datasets = config.get("datasets", {})
    for name, ds in datasets.items():
        errors += _dataset_errors(json_path("$.datasets", name), ds)
    for exp, block in config.get("experiments", {}).items():
        where = json_path("$.experiments", exp)
        for i, name in enumerate(block.get("datasets", [])):
            if name not in datasets:
                errors.append(f"{where}.datasets[{i}]: unknown data set {name!r}; defined: {sorted(datasets)}")
        if exp not in ILL_POSED_OK:
            for key, gammas in (("gamma", [block.get("gamma")]), ("gammas", block.get("gammas", []))):
                for g in gammas:
                    if g is not None and g >= GAMMA_WELL_POSED:
                        errors.append(f"{where}.{key}: γ = {g} ≥ {GAMMA_WELL_POSED} is {WELL_POSEDNESS}")
        if not any(name not in datasets for name in block.get("datasets", [])):
            errors += _experiment_errors(config, exp, block, where)
    return errors


def _experiment_errors(config, exp, block, where) -> list[str]:
    """Widths the engine can run, and each experiment's own constraints."""
    errors = []
    widths = [("m", block["m"])] if "m" in block else []
    widths += [(f"widths[{i}]", m) for i, m in enumerate(block.get("widths", []))]
    errors += [f"{where}.{key}: m = {m} is below {MIN_WIDTH}: implicit.train estimates ρ(A) with scipy's "
               f"svds, which needs an m×m matrix with m ≥ {MIN_WIDTH}" for key, m in widths if m < MIN_WIDTH]
    if exp == "linear-width":
        for tpl in block["datasets"]:
            for N in block["n_train"]:
                name = derived_name(config, tpl, N)
                if not re.fullmatch(NAME_RE, name):
                    errors.append(f"{where}.datasets: derived data-set name {name!r} (template {tpl!r}, N = {N}) "
                                  f"is not a valid name ({NAME_RE}); use a shorter template name")
                elif name in config["datasets"] and config["datasets"][name] != {**config["datasets"][tpl], "n_train": N}:
                    errors.append(f"{where}.datasets: derived data set {name!r} clashes with the configured data set of that name")
                for j, r in enumerate(block["ratios"]):
                    m = r * N
                    if abs(m - round(m)) > 1e-9 or round(m) < MIN_WIDTH:
                        errors.append(f"{where}.ratios[{j}]: m = (m/N)·N = {r:g}·{N} = {m:g} must be a whole number "
                                      f"≥ {MIN_WIDTH} for every N in n_train")
    if exp == "flow":
        if "lr" in block:
            errors.append(f"{where}.lr: the flow experiment sets its step sizes with lr_fractions (η = f·2/λ_max(H(0)))")
        fmax = max(block["lr_fractions"])
        for j, f in enumerate(block["lr_fractions"]):
            k = fmax / f
            if abs(k - round(k)) > 1e-9:
                errors.append(f"{where}.lr_fractions[{j}]: {f:g} must divide the largest fraction {fmax:g} a whole number "
                              f"of times, so that every step size reaches the same times t = kη")
    return errors


def _dataset_errors(where, ds) -> list[str]:
    kind = ds["kind"]
    errors = [
        f"{where}.{key}: parameter {key!r} does not apply to kind {kind!r} (it takes {sorted(KIND_PARAMS[kind]) or 'none'})"
        for key in ds if key not in DATASET_FIELDS and key not in KIND_PARAMS[kind]
    ]
    d = ds.get("d")
    if kind == "digits":
        if d not in (None, 64):
            errors.append(f"{where}.d: digits are 8×8 images, so d must be 64 or null, got {d}")
        if ds["n_train"] + ds["n_test"] > DIGITS_MAX_SAMPLES:
            errors.append(
                f"{where}.n_train: n_train + n_test = {ds['n_train'] + ds['n_test']} exceeds the "
                f"~{DIGITS_MAX_SAMPLES} images of two digit classes"
            )
    elif kind == "npz":
        if "path" not in ds:
            errors.append(f"{where}.path: kind 'npz' needs the path of a .npz file")
        elif not Path(ds["path"]).is_file():
            errors.append(f"{where}.path: no such file {ds['path']!r}")
    elif d is None or d < 2:
        errors.append(f"{where}.d: kind {kind!r} needs an input dimension d ≥ 2, got {d}")
    return errors


def validate(config, schema_path) -> None:
    """Raise :class:`ConfigError` listing every problem; schema first, then the semantic checks."""
    errors = schema_errors(config, load_yaml(schema_path))
    if not errors:
        errors = semantic_errors(config)
        if not errors:
            run_table(config), kernel_table(config), gf_table(config)  # unique run ids
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))


# --------------------------------------------------------------------------------------
# run table
# --------------------------------------------------------------------------------------
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


def mem_mb(m: int, N: int, d: int | None) -> int:
    """Memory request in MB of one GD job on N samples: the cost model's estimate with
    headroom (workflow/scripts/cost.py; run_table rows get cost.request's mem_mb and runtime)."""
    return cost.request({"m": m, "N": N, "d": d, "steps": 1})["mem_mb"]


def _settings(config, block) -> dict:
    return {k: block.get(k, config["training"][k]) for k in TRAINING_KEYS}


#: analysis settings of an experiment block (not run parameters): the aggregation rule writes
#: them as columns of results/<experiment>.csv, so that the figure reads them from its CSV.
ANALYSIS_KEYS = {"linear-width": ("target", "min_fraction")}


def analysis_settings(config, experiment) -> dict:
    block = config.get("experiments", {}).get(experiment, {})
    return {k: block[k] for k in ANALYSIS_KEYS.get(experiment, ()) if k in block}


def _row(config, experiment, dataset, m, gamma, seed, settings, **extra) -> dict:
    ds = all_datasets(config)[dataset]
    d = ds.get("d") or (64 if ds["kind"] == "digits" else None)
    trainable = "+".join(b for b in "AWuv" if b in settings["trainable"])
    row = {
        "experiment": experiment, "dataset": dataset, "N": ds["n_train"], "n_test": ds["n_test"],
        "d": d, "m": m, "gamma": gamma, "seed": seed, **settings, "trainable": trainable,
        "lr_fraction": AUTO_LR_FRACTION if settings["lr"] == "auto" else None,
        "track_gram": False, "max_rho": 1.0, **extra,
    }
    # scheduler requests (not run parameters): mem_mb (MB) and runtime (min) from the cost model
    return row | cost.request(row)


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


def expand_gram(config, name, block) -> list[dict]:
    """The width runs with the Gram matrix's extreme eigenvalues recorded at every recorded step."""
    return [row | {"track_gram": True} for row in expand_width(config, name, block)]


def expand_layers(config, name, block) -> list[dict]:
    """One run per (data set, trained subset, width m, seed), Gram blocks recorded; ids "_t<subset>"."""
    rows = []
    for subset in block["subsets"]:
        s = _settings(config, block) | {"trainable": subset}
        tag = "".join(b for b in "AWuv" if b in subset)
        rows += [
            _row(config, name, ds, m, block["gamma"], seed, s, track_gram=True,
                 run_id=make_run_id(ds, m=m, g=float(block["gamma"]), t=tag, s=seed))
            for ds in block["datasets"] for m in block["widths"] for seed in block["seeds"]
        ]
    return rows


def expand_linear_width(config, name, block) -> list[dict]:
    """One run per (template data set, N, m/N, seed) on the derived data set "<template>-n<N>"
    (the template with n_train = N; :func:`derived_datasets`), m = (m/N)·N."""
    s = _settings(config, block)
    return [
        _row(config, name, derived_name(config, tpl, N), round(r * N), block["gamma"], seed, s,
             run_id=make_run_id(derived_name(config, tpl, N), m=round(r * N), g=float(block["gamma"]), s=seed))
        for tpl in block["datasets"] for N in block["n_train"] for r in block["ratios"] for seed in block["seeds"]
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
    "lazy": expand_width, "flow": expand_flow, "layers": expand_layers, "digits": expand_width,
}
#: experiments that are not (only) gradient descent: their own rules make their run CSVs
OTHER_EXPERIMENTS = ("kernel",)


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
#: scheduler requests: not run parameters
REQUESTS = ("mem_mb", "runtime")


def batch_seeds(rows, per_job: int) -> list[dict]:
    """Group per-seed rows that differ only in ``seed``/``run_id`` into jobs of at most
    ``per_job`` seeds (in the order given).  A job row has ``seeds`` and ``run_ids`` (aligned)
    instead of ``seed``, ``run_id`` = the seeds' common id with "_s<seed>+<seed>..." and the
    runtime request of its seeds together; with one seed it equals the per-seed row."""
    groups = {}
    for row in rows:
        key = repr(sorted((k, v) for k, v in row.items() if k not in PER_SEED + REQUESTS))
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
            if "runtime" in job:
                job["runtime"] = sum(r["runtime"] for r in chunk)
            jobs.append(job)
    return jobs


def _table(rows_by_experiment, config) -> dict[tuple[str, str], dict]:
    table = {}
    for exp, rows in rows_by_experiment.items():
        for row in batch_seeds(rows, seeds_per_job(config, exp)):
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
        d = entry.get("d") or (64 if entry["kind"] == "digits" else None)
        for m in block["widths"]:
            for seed in block["seeds"]:
                row = {"experiment": "kernel", "dataset": ds, "N": entry["n_train"], "d": d, "m": m,
                       "gamma": block["gamma"], "seed": seed, **_solver(config, block),
                       "run_id": make_run_id(ds, m=m, g=float(block["gamma"]), s=seed)}
                # forward solves at initialisation only: memory of a GD job of one step
                rows.append(row | cost.request({**row, "n_test": 0, "steps": 1}))
    return {r["run_id"]: r for r in _table({"kernel": rows}, config).values()}


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
    trainable = "+".join(b for b in "AWuv" if b in s["trainable"])
    rows = []
    for ds in block["datasets"]:
        entry = all_datasets(config)[ds]
        d = entry.get("d") or (64 if entry["kind"] == "digits" else None)
        for seed in block["seeds"]:
            row = {"experiment": "flow", "dataset": ds, "N": entry["n_train"], "n_test": entry["n_test"], "d": d,
                   "m": block["m"], "gamma": block["gamma"], "seed": seed, "trainable": trainable,
                   "lr_fraction": float(max(block["lr_fractions"])), "steps": s["steps"],
                   "record_every": s["record_every"], "rtol": block["gf_rtol"], "atol": block["gf_atol"],
                   **_solver(config, block), "run_id": make_run_id(ds, m=block["m"], g=float(block["gamma"]), gf="", s=seed)}
            # an adaptive RK45 step costs six gradients; budget as a GD run of 6× the steps
            rows.append(row | cost.request({**row, "steps": 6 * s["steps"]}))
    return {r["run_id"]: r for r in _table({"flow": rows}, config).values()}


# --------------------------------------------------------------------------------------
# data sets derived from a template (linear-width's grid over N)
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
    return {**config.get("datasets", {}), **derived_datasets(config)}


# --------------------------------------------------------------------------------------
# code dependencies
# --------------------------------------------------------------------------------------
def local_imports(*roots) -> list[Path]:
    """``roots`` plus every module of their package they import, transitively (relative
    imports ``from .x import ...`` / ``from . import x``), found by parsing, not importing."""
    import ast

    seen, todo = set(), [Path(r) for r in roots]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                todo += [path.parent / f"{n.split('.')[0]}.py" for n in names]
    return sorted(seen)


def source_hash(paths) -> str:
    """SHA-256 (16 hex digits) over the names and contents of ``paths`` (sorted)."""
    h = hashlib.sha256()
    for p in sorted(map(Path, paths)):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]
