"""Configuration checks and the run table of the workflow.

Imported by ``workflow/rules/common.smk`` when the DAG is built and by the tests; it needs
only the standard library, PyYAML and jsonschema (no NumPy), so ``snakemake -n`` stays fast.

The run table maps every gradient-descent experiment in the config to rows, one per
(experiment, data set, swept value, seed), each with a unique file-name-safe ``run_id`` and
every parameter the generic ``train`` rule needs.  Adding an experiment means adding a
schema block, an expansion function registered in :data:`EXPANDERS` and a plot function.
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


def semantic_errors(config) -> list[str]:
    """Checks a JSON schema cannot express: references, kind parameters, well-posed γ."""
    errors = []
    datasets = config.get("datasets", {})
    for name, ds in datasets.items():
        errors += _dataset_errors(f"$.datasets.{name}", ds)
    for exp, block in config.get("experiments", {}).items():
        where = f"$.experiments.{exp}"
        for i, name in enumerate(block.get("datasets", [])):
            if name not in datasets:
                errors.append(f"{where}.datasets[{i}]: unknown data set {name!r}; defined: {sorted(datasets)}")
        if exp not in ILL_POSED_OK:
            for key, gammas in (("gamma", [block.get("gamma")]), ("gammas", block.get("gammas", []))):
                for g in gammas:
                    if g is not None and g >= GAMMA_WELL_POSED:
                        errors.append(f"{where}.{key}: γ = {g} ≥ {GAMMA_WELL_POSED} is {WELL_POSEDNESS}")
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
            run_table(config)  # unique run ids
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


def _row(config, experiment, dataset, m, gamma, seed, settings, **extra) -> dict:
    ds = config["datasets"][dataset]
    d = ds.get("d") or (64 if ds["kind"] == "digits" else None)
    trainable = "+".join(b for b in "AWuv" if b in settings["trainable"])
    row = {
        "experiment": experiment, "dataset": dataset, "N": ds["n_train"], "n_test": ds["n_test"],
        "d": d, "m": m, "gamma": gamma, "seed": seed, **settings, "trainable": trainable,
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


#: experiment id -> expansion function (config, name, block) -> rows; all run by the generic train rule.
EXPANDERS = {"width": expand_width, "gamma": expand_gamma}


def enabled_experiments(config) -> list[str]:
    return [e for e, b in config.get("experiments", {}).items() if b.get("enabled", True)]


def run_table(config) -> dict[tuple[str, str], dict]:
    """{(experiment, run_id): row} over the enabled GD experiments; run ids are unique per experiment."""
    table = {}
    for exp in enabled_experiments(config):
        if exp not in EXPANDERS:
            continue
        for row in EXPANDERS[exp](config, exp, config["experiments"][exp]):
            key = (exp, row["run_id"])
            if key in table:
                raise ConfigError(f"$.experiments.{exp}: two runs share the id {row['run_id']!r}")
            table[key] = row
    return table


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
