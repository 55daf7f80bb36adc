"""Rule `benchmarks`: every benchmark file of the configuration → results/benchmarks.csv."""

from replication import jobs
from replication.files import write_csv

with jobs.logged(snakemake, "benchmarks") as log:
    write_csv(jobs.benchmarks(snakemake.params.jobs, log), snakemake.output.csv)
