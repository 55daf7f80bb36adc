"""Checks of a workflow configuration, every problem reported with its JSON path.

:func:`validate` runs the JSON schema (workflow/schemas/config.schema.yaml) and then the
checks a schema cannot express: references between data sets and experiments, each data-set
kind's parameters, well-posed γ, widths the engine can run, and unique run ids.  It is
called by the Snakefile before any job runs and by the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from .datasets import DATASET_FIELDS, DIGITS_D, DIGITS_MAX_SAMPLES, KIND_PARAMS
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
    schema = load_yaml(schema_path)
    errors = schema_errors(config, schema)
    if not errors:
        errors = semantic_errors(config)
        if not errors:
            run_table(config), kernel_table(config), gf_table(config)  # unique run ids
    if errors:
        top = [k for k in schema.get("required", []) if k not in config]
        hint = f"\n(whole blocks are missing: {', '.join(top)}; {PARTIAL_HINT})" if top else ""
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors) + hint)
