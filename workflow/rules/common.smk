# Shared state of the rules: the run table, wildcard patterns, engine-code hashes.
import re

import wfconfig

# Software of every rule for `--sdm conda` (the same pins as requirements.txt). Jobs import
# the `implicit` next to this Snakefile, whatever else is installed (see scripts/wfio.py).
ENV = "../../environment.yml"

DATASETS = list(config["datasets"])
EXPERIMENTS = wfconfig.enabled_experiments(config)
RUNS = wfconfig.run_table(config)
GD_EXPERIMENTS = [e for e in EXPERIMENTS if e in wfconfig.EXPANDERS]


def alternatives(names):
    """Regex matching exactly one of ``names`` (never matches when empty)."""
    return "|".join(map(re.escape, names)) or "(?!)"


# Code dependencies as params: a job reruns when a module it imports changes (content, not
# mtime). Training imports the package (__init__.py and what it imports), data.py and
# scripts/gdrun.py; plotting.py, analysis.py and kernels.py (unless __init__ starts
# importing them) are not among them. (Snakemake itself reruns a job whose `script:` file
# has a newer mtime.)
ENGINE_SOURCES = wfconfig.local_imports(REPO / "implicit" / "__init__.py", REPO / "implicit" / "data.py")
ENGINE_HASH = wfconfig.source_hash(ENGINE_SOURCES + [REPO / "workflow" / "scripts" / "gdrun.py"])
DATA_HASH = wfconfig.source_hash(wfconfig.local_imports(REPO / "implicit" / "data.py"))


wildcard_constraints:
    dataset=alternatives(DATASETS),
    experiment=wfconfig.NAME_RE,
    run_id=wfconfig.RUN_ID_RE,


def run_row(wildcards):
    """The run-table row of a train job."""
    key = (wildcards.experiment, wildcards.run_id)
    if key not in RUNS:
        raise ValueError(f"{key[0]}/{key[1]} is not in the run table of this configuration")
    return RUNS[key]


def run_params(wildcards):
    """What the run's result depends on (scheduling fields left out, so they do not trigger reruns)."""
    return {k: v for k, v in run_row(wildcards).items() if k not in ("threads", "mem_mb", "runtime")}


def run_csvs(wildcards):
    """Every run CSV of one experiment."""
    return [f"results/runs/{e}/{r}.csv" for (e, r) in RUNS if e == wildcards.experiment]


def caption(wildcards):
    """Per-experiment caption text of a figure (workflow/report/captions/<experiment>.rst)."""
    return (REPO / "workflow" / "report" / "captions" / f"{wildcards.experiment}.rst").read_text()
