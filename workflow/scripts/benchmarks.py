"""Rule `benchmarks`: every benchmark file of the configuration → results/benchmarks.csv."""

from replication.cost import benchmarks_table
from replication.files import write_csv
from replication.logs import logged

with logged(snakemake, "benchmarks") as log:
    write_csv(benchmarks_table(snakemake.params.jobs, log), snakemake.output.csv)
