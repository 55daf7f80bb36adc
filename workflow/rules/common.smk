# Shared state of the rules: the run tables, wildcard patterns, code hashes, resources.
import os
import re
from pathlib import Path

from replication import cost, realdata, runs
from replication.sources import local_imports, source_hash

# Software of every rule for `--sdm conda` (the same pins as requirements.txt).
ENV = "../../environment.yml"

# the configured data sets and the ones the experiments derive (linear-width's <template>-n<N>)
DATASET_ENTRIES = runs.all_datasets(config)
DATASETS = list(DATASET_ENTRIES)
EXPERIMENTS = runs.enabled_experiments(config)
RUNS = runs.run_table(config)
GD_EXPERIMENTS = [e for e in EXPERIMENTS if e in runs.EXPANDERS]
# the non-GD jobs: kernel errors against K∞/G∞, and the gradient-flow ODE solves of `flow`
KERNEL_RUNS = runs.kernel_table(config)
GF_RUNS = runs.gf_table(config)
# the concentration experiment's jobs: the feature Gram at initialisation along the width
CONCENTRATION_RUNS = runs.concentration_table(config)

# The benchmark file of each rule that has one (rule `benchmarks` collects them).
BENCHMARK = {
    "train": "results/benchmarks/train/{experiment}/{run_id}.tsv",
    "kernel_limit": "results/benchmarks/kernel_limit/{dataset}_g{gamma}.tsv",
    "kernel_errors": "results/benchmarks/kernel_errors/{run_id}.tsv",
    "gradient_flow": "results/benchmarks/gradient_flow/{run_id}.tsv",
    "concentration": "results/benchmarks/concentration/{run_id}.tsv",
}

# Each rule's `message:` says what a job does with its parameters; Snakemake prints it instead
# of the job's block (input, output, wildcards, resources). IMPLICIT_JOB_DETAILS=1 prints the
# blocks instead, e.g. to read every job's resources in a dry run (docs/cluster.md).
JOB_DETAILS = os.environ.get("IMPLICIT_JOB_DETAILS", "0") not in ("", "0")


def job_message(text):
    """A rule's message, or None (Snakemake's job block) when IMPLICIT_JOB_DETAILS is set."""
    return None if JOB_DETAILS else text


def alternatives(names):
    """Regex matching exactly one of ``names`` (never matches when empty)."""
    return "|".join(map(re.escape, names)) or "(?!)"


# Code dependencies as params: a job reruns when the code it runs changes (content, not
# mtime). Jobs that run the engine depend on the `implicit` package (what its __init__
# imports) and replication/jobs.py with what it imports (the data sets); data on the data-set
# code; aggregation on the fits; claims on the claims and the fits; plots on the plotting
# code and the fits.
# (Snakemake itself reruns a job whose `script:` file has a newer mtime.)
PACKAGES = Path(workflow.basedir)
DATA_HASH = source_hash(local_imports(PACKAGES / "replication" / "datasets.py"))
ENGINE_HASH = source_hash(local_imports(PACKAGES / "implicit" / "__init__.py", PACKAGES / "replication" / "jobs.py"))
FITS_HASH = source_hash(local_imports(PACKAGES / "replication" / "aggregate.py"))
CLAIMS_HASH = source_hash(local_imports(PACKAGES / "replication" / "claims.py"))
PLOT_HASH = source_hash(local_imports(PACKAGES / "replication" / "plotting.py"))


wildcard_constraints:
    dataset=alternatives(DATASETS),
    experiment=runs.NAME_RE,
    run_id=runs.RUN_ID_RE,


def table_row(table, name):
    """Input function: the row of job ``{run_id}`` in ``table`` (a dict run_id → row)."""

    def row(wildcards):
        if wildcards.run_id not in table:
            raise ValueError(f"{name}/{wildcards.run_id} is not in the run table of this configuration")
        return table[wildcards.run_id]

    return row


def run_row(wildcards):
    """The run-table row of a train job."""
    key = (wildcards.experiment, wildcards.run_id)
    if key not in RUNS:
        raise ValueError(f"{key[0]}/{key[1]} is not in the run table of this configuration")
    return RUNS[key]


def job_params(row_of):
    """Input function: the row without its thread count (it does not change the results)."""
    return lambda w: {k: v for k, v in row_of(w).items() if k != "threads"}


def requests(row_of, rule):
    """``resources:`` of a job: the cost model's memory and time for its row, × the attempt
    (a job retried after running out of memory or time gets twice, then three times, as much)."""
    return {
        "mem_mb": lambda w, attempt: cost.request(row_of(w), attempt, rule)["mem_mb"],
        "runtime": lambda w, attempt: cost.request(row_of(w), attempt, rule)["runtime"],
    }


def run_csvs(wildcards):
    """Every run CSV of one experiment: its GD jobs, and for `flow` the ODE solves, for
    `kernel` the error jobs."""
    exp = wildcards.experiment
    csvs = [f"results/runs/{e}/{r}.csv" for (e, r) in RUNS if e == exp]
    if exp == "flow":
        csvs += [f"results/runs/flow/gf/{r}.csv" for r in GF_RUNS]
    if exp == "kernel":
        csvs += [f"results/runs/kernel/{r}.csv" for r in KERNEL_RUNS]
    if exp == "concentration":
        csvs += [f"results/runs/concentration/{r}.csv" for r in CONCENTRATION_RUNS]
    return csvs


def data_files(wildcards):
    """The files a data set is made from: a user's MNIST-format file (kind npz) or the converted
    real images in the data cache (docs/data.md); replacing one regenerates the data set."""
    entry = DATASET_ENTRIES[wildcards.dataset]
    if entry["kind"] == "npz":
        return [entry["path"]]
    if entry["kind"] in realdata.IMAGE_KINDS:
        return [str(realdata.converted_path(entry["kind"]))]
    return []
