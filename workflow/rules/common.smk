# Shared state of the rules: the run table, wildcard patterns, engine-code hashes.
import re

import wfconfig

# Software of every rule for `--sdm conda` (the same pins as requirements.txt). Jobs import
# the `implicit` next to this Snakefile, whatever else is installed (see scripts/wfio.py).
ENV = "../../environment.yml"

# the configured data sets and the ones the experiments derive (linear-width's <template>-n<N>)
DATASET_ENTRIES = wfconfig.all_datasets(config)
DATASETS = list(DATASET_ENTRIES)
EXPERIMENTS = wfconfig.enabled_experiments(config)
RUNS = wfconfig.run_table(config)
GD_EXPERIMENTS = [e for e in EXPERIMENTS if e in wfconfig.EXPANDERS]
# the non-GD jobs: kernel errors against K∞/G∞, and the gradient-flow ODE solves of `flow`
KERNEL_RUNS = wfconfig.kernel_table(config)
GF_RUNS = wfconfig.gf_table(config)


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
# aggregation computes the per-run summaries with implicit/analysis.py; claims use it too
ANALYSIS_HASH = wfconfig.source_hash([REPO / "implicit" / "analysis.py"])


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
    """Every run CSV of one experiment: its GD jobs, and for `flow` the ODE solves, for
    `kernel` the error jobs."""
    exp = wildcards.experiment
    csvs = [f"results/runs/{e}/{r}.csv" for (e, r) in RUNS if e == exp]
    if exp == "flow":
        csvs += [f"results/runs/flow/gf/{r}.csv" for r in GF_RUNS]
    if exp == "kernel":
        csvs += [f"results/runs/kernel/{r}.csv" for r in KERNEL_RUNS]
    return csvs


def table_row(table, name):
    """Input function: the row of job ``{run_id}`` in ``table`` (a dict run_id → row)."""

    def row(wildcards):
        if wildcards.run_id not in table:
            raise ValueError(f"{name}/{wildcards.run_id} is not in the run table of this configuration")
        return table[wildcards.run_id]

    return row


def job_params(row_of):
    """Input function: the row without its scheduling fields (they do not trigger reruns)."""
    return lambda w: {k: v for k, v in row_of(w).items() if k not in ("threads", "mem_mb", "runtime")}


def caption(wildcards):
    """Per-experiment caption text of a figure (workflow/report/captions/<experiment>.rst)."""
    return (REPO / "workflow" / "report" / "captions" / f"{wildcards.experiment}.rst").read_text()
