"""Checks of a workflow configuration, every problem reported with its JSON path.

:func:`validate` runs the JSON schema (workflow/schemas/config.schema.yaml) and then the
checks a schema cannot express: references between data sets and experiments, each data-set
kind's parameters, well-posed γ, widths the engine can run, and unique run ids.  It is
called by the Snakefile before any job runs and by the tests.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from . import realdata
from .datasets import DATASET_FIELDS, DIGITS_D, DIGITS_MAX_SAMPLES, IMAGE_D, KIND_PARAMS, inspect_npz
from .errors import ConfigError, InputError, json_path
from .runs import NAME_RE, derived_name, gf_table, invariant_widths, invariants_name, kernel_table, run_table


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


#: the default configuration, which a partial configuration file is layered over
DEFAULT_CONFIG = "workflow/config/default.yaml"
#: what to do when a configuration file lacks whole blocks
PARTIAL_HINT = (
    "a --configfile replaces the default configuration; to change only some keys, pass the default "
    f"first and your changes after it: --configfile {DEFAULT_CONFIG} my-changes.yaml (later files "
    "update earlier ones key by key), or use --config (docs/configuration.md)"
)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def typed_overrides(values):
    """``--config`` values typed as in a YAML file: ``{steps: 50}`` gives 50, not "50".

    Snakemake reads a nested ``--config key={...}`` with YAML's base loader, which leaves every
    scalar a string; each string is read again with YAML's safe loader, and one that still
    looks like a number (YAML 1.1 wants a dot in ``1.0e-10``) becomes a float.
    """
    if isinstance(values, Mapping):
        return {k: typed_overrides(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [typed_overrides(v) for v in values]
    if not isinstance(values, str):
        return values
    try:
        value = yaml.safe_load(values)
    except yaml.YAMLError:
        return values
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return value if isinstance(value, (str, int, float, bool)) or value is None else values


#: the largest count or size a configuration may hold (widths, sample sizes, steps, ...): the
#: schema's ``count``; larger values overflow the cost model and could never run anyway.
MAX_COUNT = 10**9
#: the folders the workflow writes; an input file inside them would be a workflow output
OUTPUT_DIRS = ("results", "figures", "logs")


def load_yaml(path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def schema_errors(config, schema) -> list[str]:
    """Every JSON-schema violation as "<json path>: <message> [(allowed: ...)]"."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        if err.validator == "required":  # one error per missing key: name it and what it is for
            key = re.match(r"'(.*)' is a required property", err.message)
            use = _property_description(schema, err.schema, key[1]) if key else None
            out.append(f"{err.json_path}: {err.message}" + (f" ({key[1]}: {use})" if use else ""))
            continue
        hint = err.schema.get("description") if isinstance(err.schema, dict) else None
        out.append(f"{err.json_path}: {err.message}" + (f" (allowed: {hint})" if hint else ""))
    return out


def _property_description(root: dict, schema, key: str, depth: int = 0) -> str | None:
    """The description of property ``key`` of ``schema`` (following local ``$ref`` and ``allOf``)."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    prop = schema.get("properties", {}).get(key)
    if isinstance(prop, dict):
        if prop.get("description"):
            return " ".join(prop["description"].split())
        found = _property_description(root, {"properties": {key: _resolve(root, prop["$ref"])}}, key, depth + 1) \
            if "$ref" in prop else None
        if found:
            return found
    for sub in ([_resolve(root, schema["$ref"])] if "$ref" in schema else []) + list(schema.get("allOf", [])):
        found = _property_description(root, sub, key, depth + 1)
        if found:
            return found
    return None


def _resolve(root: dict, ref: str):
    """A local JSON pointer ``#/a/b`` of ``root``."""
    node = root
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def nonfinite_errors(config, schema) -> tuple[list[str], set[str]]:
    """Every NaN or ±inf in ``config`` as "<json path>: nan is not a finite number (allowed: ...)".

    JSON schemas compare NaN as neither below nor above any bound, so NaN passes every range
    check; this finds each non-finite float wherever it is and states the range the schema
    allows there.  Returns the messages and the JSON paths they concern.
    """
    found = list(_nonfinite(config, "$", ()))
    if not found:
        return [], set()
    marked = copy.deepcopy(config)
    for _, keys, _ in found:
        _set(marked, keys, "\0")  # a string: the schema reports the number it expected there
    from jsonschema import Draft202012Validator

    expected = {e.json_path: e for e in Draft202012Validator(schema).iter_errors(marked)}
    out = []
    for path, _, value in found:
        allowed = _allowed(expected[path]) if path in expected else "a finite number"
        out.append(f"{path}: {value} is not a finite number (allowed: {allowed})")
    return out, {path for path, _, _ in found}


def _nonfinite(node, path, keys):
    """(json path, key sequence, value) of every non-finite float under ``node``."""
    if isinstance(node, float) and not math.isfinite(node):
        yield path, keys, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _nonfinite(v, json_path(path, str(k)), keys + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _nonfinite(v, f"{path}[{i}]", keys + (i,))


def _set(node, keys, value) -> None:
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


def _allowed(err) -> str:
    """The range a schema error's (sub)schema allows: "a number > 0 and < 1; <description>"."""
    schemas = [err.schema] + [c.schema for c in err.context]
    numeric = next((s for s in schemas if isinstance(s, dict) and s.get("type") in ("number", "integer")), {})
    kind = "an integer" if numeric.get("type") == "integer" else "a finite number"
    bounds = [f"{op} {numeric[key]}" for key, op in (("minimum", "≥"), ("exclusiveMinimum", ">"),
                                                    ("maximum", "≤"), ("exclusiveMaximum", "<")) if key in numeric]
    text = kind + (" " + " and ".join(bounds) if bounds else "")
    described = err.schema.get("description") if isinstance(err.schema, dict) else None
    return text + (f"; {described}" if described else "")


def semantic_errors(config, workdir=".") -> list[str]:
    """Checks a JSON schema cannot express: references, kind parameters and data files, well-posed γ."""
    errors = []
    datasets = config.get("datasets", {})
    for name, ds in datasets.items():
        errors += _dataset_errors(json_path("$.datasets", name), ds, workdir)
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
    errors += claims_errors(config)
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
                for j, arm in enumerate(block["arms"]):
                    m = arm["ratio_max"] * N
                    if m > MAX_COUNT:
                        errors.append(f"{where}.arms[{j}].ratio_max: m = (m/N)·N = {arm['ratio_max']:g}·{N} = {m:g} "
                                      f"exceeds the largest width, {MAX_COUNT:g}")
        arms = [tuple(sorted(a["trainable"])) for a in block["arms"]]
        for j, arm in enumerate(block["arms"]):
            if arm["ratio_min"] > arm["ratio_max"]:
                errors.append(f"{where}.arms[{j}]: ratio_min = {arm['ratio_min']:g} exceeds ratio_max = {arm['ratio_max']:g}")
            if arms.index(arms[j]) != j:
                errors.append(f"{where}.arms[{j}].trainable: the subset {arm['trainable']} appears twice; one arm per subset")
        if "steps" in block:
            errors.append(f"{where}.steps: linear-width sets each run's steps itself (budget_factor, max_steps)")
        if block.get("lr", "auto") != "auto":
            errors.append(f"{where}.lr: linear-width chooses η = lr_fraction·2/λ_max(H(0)) per run; use lr: auto")
    if exp == "invariants":
        errors += _invariants_errors(config, block, where)
    lr = block.get("lr", config.get("training", {}).get("lr"))
    if lr != "auto" and ("lr_width" in block or "lr_fraction" in block):
        errors.append(f"{where}.lr: lr_width and lr_fraction choose η from a network at initialisation; they need lr: auto "
                      f"(or leave them out to use lr: {lr})")
    elif exp == "sibling-fig1" and lr != "auto":
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
        if "gf_horizon" in block:
            floor, window = block["gf_floor"], block["gf_window"]
            if not floor < window:
                errors.append(f"{where}.gf_window: {window:g} must exceed gf_floor {floor:g} (the rate is fitted between them)")
            if floor > math.exp(-block["gf_horizon"]):
                errors.append(f"{where}.gf_floor: {floor:g} must be ≤ e^(−gf_horizon) = {math.exp(-block['gf_horizon']):.3g}, "
                              "so that a solve stopped at the floor still establishes L(t) ≤ e^(−λ0 t)L(0) up to the "
                              "horizon (the loss is non-increasing along the flow)")
            if block.get("gf_control_m") == block["m"]:
                errors.append(f"{where}.gf_control_m: the control width must differ from m = {block['m']}")
            extra = sorted(set(block.get("gf_control_seeds", [])) - set(block["seeds"]))
            if extra:
                errors.append(f"{where}.gf_control_seeds: {extra} are not among the experiment's seeds {block['seeds']}")
    if exp == "boundary" and lr == "auto" and "lr_width" not in block:
        errors.append(f"{where}.lr: the boundary experiment compares widths at one step η; a per-run lr: auto would "
                      "differ between widths. Give a number, or lr: auto with lr_width (η of that width's network)")
    return errors


def claims_errors(config) -> list[str]:
    """Cross-checks of the ``claims`` block that the schema cannot express: the boundary
    prediction's interval drift_exponent ± tolerance must lie under its own bound
    (drift_exponent + tolerance ≤ bound_exponent), or the two rows would contradict each other."""
    errors = []
    b = config.get("claims", {}).get("boundary")
    if b and b["drift_exponent"] + b["tolerance"] > b["bound_exponent"]:
        errors.append(f"$.claims.boundary.drift_exponent: the predicted interval {b['drift_exponent']:g} ± {b['tolerance']:g} "
                      f"reaches above the bound_exponent {b['bound_exponent']:g}; the prediction must lie within the bound")
    return errors


def _invariants_errors(config, block, where) -> list[str]:
    """``invariants``: every family's width a whole number in [1, MAX_COUNT] (rounded), at least two N
    in the faster family (a line to draw), and no configured data set under a derived name."""
    errors = []
    if sum(N <= block["square_max_n"] for N in block["n_train"]) < 2:
        errors.append(f"{where}.square_max_n: {block['square_max_n']} leaves fewer than two N of n_train "
                      f"{sorted(block['n_train'])} for the family m = c·N²/N0; raise it to at least the second smallest N")
    for fam, c, N, m in invariant_widths(block):
        if not 1 <= m <= MAX_COUNT:
            key = "ratios" if fam == "linear" else "control_ratio"
            errors.append(f"{where}.{key}: the {fam} family gives m = {m} at N = {N} (c = {c:g}); it must be in "
                          f"[1, {MAX_COUNT:g}]")
    for N in block["n_train"]:
        name = invariants_name(N)
        if name in config.get("datasets", {}):
            errors.append(f"{where}.n_train: the experiment derives the data set {name!r}, which clashes with the "
                          "configured data set of that name; rename that one")
    return errors


def _dataset_errors(where, ds, workdir=".") -> list[str]:
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
        else:
            errors += _npz_errors(where, ds, Path(workdir))
    elif d is None or d < 2:
        errors.append(f"{where}.d: kind {kind!r} needs an input dimension d ≥ 2, got {d}")
    return errors


def _npz_errors(where, ds, workdir: Path) -> list[str]:
    """A user's data file: it exists, is readable, is not a workflow output, holds the four
    arrays, and has the samples and dimension the entry asks for.  Reported by the path as
    written; a relative path is relative to the working directory (the repository root)."""
    raw = ds["path"]
    path = workdir / Path(raw)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        tilde = "; a leading ~ is not expanded, write the full path" if raw.startswith("~") else ""
        return [f"{where}.path: {raw!r} {what} (looked for {path.resolve()}{tilde})"]
    inside = [top for top in OUTPUT_DIRS if path.resolve().is_relative_to((workdir / top).resolve())]
    if inside:
        return [f"{where}.path: {raw!r} is inside {inside[0]}/, which the workflow writes; keep input files "
                f"elsewhere (e.g. resources/)"]
    if not os.access(path, os.R_OK):
        return [f"{where}.path: {raw!r} is not readable (file permissions)"]
    try:
        found = inspect_npz(path, classes=ds.get("classes"))
    except InputError as exc:
        return [f"{where}.path: {raw!r} cannot be used: {str(exc).removeprefix(f'{path}: ')}"]
    errors = []
    if ds.get("d") is not None and ds["d"] != found["d"]:
        errors.append(f"{where}.d: the file {raw!r} has d = {found['d']} features per sample, got {ds['d']} "
                      f"(or write d: null)")
    for split in ("n_train", "n_test"):
        if ds[split] > found[split]:
            of = f" of classes {list(ds['classes'])}" if ds.get("classes") is not None else ""
            errors.append(f"{where}.{split}: {ds[split]} samples requested, the file {raw!r} has {found[split]}{of}")
    return errors


def validate(config, schema_path, workdir=".") -> None:
    """Check a configuration before any job runs.

    Parameters
    ----------
    config : dict
        The configuration (as Snakemake read it).
    schema_path : str or Path
        workflow/schemas/config.schema.yaml.
    workdir : str or Path
        The directory relative paths in the configuration (``npz`` data files) are relative to.

    Raises
    ------
    ConfigError
        Listing every problem with its JSON path, the bad value and the allowed range: first
        non-finite numbers and the schema, then the checks a schema cannot express (data files
        included), then unique run ids.
    """
    schema = load_yaml(schema_path)
    errors, nonfinite = nonfinite_errors(config, schema)
    errors += [e for e in schema_errors(config, schema) if e.split(":", 1)[0] not in nonfinite]
    if not errors:
        errors = semantic_errors(config, workdir)
        if not errors:
            run_table(config), kernel_table(config), gf_table(config)  # unique run ids
    if errors:
        top = [k for k in schema.get("required", []) if k not in config]
        hint = f"\n(whole blocks are missing: {', '.join(top)}; {PARTIAL_HINT})" if top else ""
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors) + hint)
