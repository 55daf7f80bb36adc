# Workflow of the implicit-relu replication (Gao & Gao, arXiv:2205.07463).
# This file only loads and validates the configuration, includes the stages and names the
# default target. Stages: workflow/rules/*.smk; job code: the `replication` package.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version, update_config, validate

from replication import config as configuration, report as reporting, resources as job_resources

min_version("8.0")

SCHEMA = "workflow/schemas/config.schema.yaml"

# A --configfile replaces the default configuration; several --configfile files are merged,
# later ones updating earlier ones key by key, so a file holding only the keys to change is
# passed after the default: --configfile workflow/config/default.yaml my-changes.yaml.
# --config key=value overrides single entries of whichever file is in use.
if not workflow.overwrite_configfiles:

    configfile: "workflow/config/default.yaml"


# Snakemake leaves the scalars of a nested --config value strings ('training={steps: 50}'
# gives "50"): type them as a YAML file would.
update_config(config, configuration.typed_overrides(workflow.config_settings.config))

try:
    configuration.validate(config, Path(workflow.basedir) / SCHEMA)
except configuration.ConfigError as err:
    raise WorkflowError(str(err)) from None
validate(config, SCHEMA)  # snakemake's own check; fills schema defaults

# Every job's estimated peak memory against the memory one job may use (replication/resources.py),
# once, in the main process: a cluster job or a job step on a node does not check again.
if workflow.is_main_process:
    try:
        provided = {name: res.value for name, res in workflow.global_resources.items()}
        for line in job_resources.check_memory(config, provided):
            print(line, file=sys.stderr)
    except configuration.ConfigError as err:
        raise WorkflowError(str(err)) from None


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/kernel.smk"
include: "workflow/rules/flow.smk"
include: "workflow/rules/concentration.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/plot.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/benchmarks.smk"


# With a cluster executor (profiles/slurm) these run in the main Snakemake process rather
# than as cluster jobs: they only read CSVs and draw figures.
localrules:
    all,
    aggregate,
    plot,
    claims,
    benchmarks,


# After every run that executed jobs (any targets), rebuild results/report.html from the
# outputs on disk, with this run's configuration (replication/report.py); `--no-hooks` skips it.
onsuccess:
    reporting.refresh(config, EXPERIMENTS, snakefile=workflow.main_snakefile, log=logger.info)


onerror:
    reporting.refresh(config, EXPERIMENTS, snakefile=workflow.main_snakefile, failed=True, log=logger.warning)


rule all:
    """Default target: every data set, every figure of the enabled experiments, the claims table, the benchmarks table."""
    default_target: True
    input:
        expand("results/data/{dataset}.npz", dataset=DATASETS),
        expand("figures/{experiment}.{ext}", experiment=EXPERIMENTS, ext=("png", "pdf")),
        "results/claims.csv",
        "results/claims.md",
        "results/claims.html",
        "results/benchmarks.csv",
