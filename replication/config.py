"""Checks of a workflow configuration, every problem reported with its JSON path.

:func:`validate` runs the JSON schema (workflow/schemas/config.schema.yaml) and then the
checks a schema cannot express: references between data sets and experiments, each data-set
kind's parameters, well-posed γ, widths the engine can run, and unique run ids.  It is
called by the Snakefile before any job runs and by the tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from . import realdata
from .datasets import DATASET_FIELDS, DIGITS_D, DIGITS_MAX_SAMPLES, IMAGE_D, KIND_PARAMS
from .errors import ConfigError, json_path
from .runs import NAME_RE, derived_name, gf_table, kernel_table, run_table


#: γ at or above this value gives ρ(A(0)) ≈ 2γ ≥ 1 at initialisation (docs/model.md, "Well-posedness").
GAMMA_WELL_POSED = 0.5
#: experiments allowed to use an ill-posed γ (their non-converging runs are recorded as failures).
ILL_POSED_OK = frozenset({"gamma"})
#: why a γ ≥ GAMMA_WELL_POSED is refused outside ILL_POSED_OK
WELL_POSEDNESS = (
    "refused for well-posedness: at initialisation ‖A(0)‖₂ ≈ 2√m, so ρ(A) = γ‖A‖₂/√m ≈ 2γ ≥ 1 and the "
    "equilibrium z = σ(γ/√m·Az + φ) is no longer guaranteed to exist or be unique (the "
    "fixed-point map stops being a contraction; docs/model.md). Use 0 < γ < 0.5 here; ill-posed "
    "γ belong in the 'gamma' experiment, which records non-converging runs as failures"
)
#: the smallest fixed-point tolerance of a float32 run: float32 solves stall near 2e-8
#: (docs/performance.md, "float32 runs")
FLOAT32_MIN_TOL = 1e-7
#: experiments whose computations run in float64 only (gradient flow, kernel limits)
FLOAT64_ONLY = frozenset({"flow", "kernel"})


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
        errors += _precision_errors(config, exp, block, where)
    return errors


def _precision_errors(config, exp, block, where) -> list[str]:
    """``dtype: float32`` needs a tolerance float32 can meet, and a GD experiment that uses it."""
    training = config.get("training", {})
    dtype, tol = block.get("dtype", training.get("dtype", "float64")), block.get("tol", training.get("tol"))
    if dtype != "float32":
        return []
    if exp in FLOAT64_ONLY:
        return [f"{where}.dtype: {exp!r} runs in float64 only (its ODE or kernel computations); set dtype: float64 in its block"]
    if tol is not None and tol < FLOAT32_MIN_TOL:
        return [f"{where}.tol: {tol:g} is below what float32 solves reach; dtype float32 needs tol ≥ {FLOAT32_MIN_TOL:g} "
                "(e.g. 1e-6)"]
    return []


def _experiment_errors(config, exp, block, where) -> list[str]:
    """Each experiment's own constraints (the schema has checked every width is ≥ 1)."""
    errors = []
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
                    if abs(m - round(m)) > 1e-9:
                        errors.append(f"{where}.ratios[{j}]: m = (m/N)·N = {r:g}·{N} = {m:g} must be a whole number "
                                      f"for every N in n_train")
    if exp == "sibling-fig1" and block.get("lr", config.get("training", {}).get("lr")) != "auto":
        errors.append(f"{where}.lr: sibling-fig1 chooses its one step itself (η = lr_fraction·2/λ_max(H(0)) at lr_width); "
                      "use lr: auto")
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
        if d not in (None, DIGITS_D):
            errors.append(f"{where}.d: digits are 8×8 images, so d must be {DIGITS_D} or null, got {d}")
        if ds["n_train"] + ds["n_test"] > DIGITS_MAX_SAMPLES:
            errors.append(
                f"{where}.n_train: n_train + n_test = {ds['n_train'] + ds['n_test']} exceeds the "
                f"~{DIGITS_MAX_SAMPLES} images of two digit classes"
            )
    elif kind in realdata.IMAGE_KINDS:
        if d not in (None, IMAGE_D):
            errors.append(f"{where}.d: {kind} images are converted to grayscale 28×28, so d must be {IMAGE_D} or null, got {d}")
        problem = realdata.missing(kind)
        if problem:
            errors.append(f"{where}.kind: {problem}")
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
