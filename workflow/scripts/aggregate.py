"""Rule `aggregate`: the run CSVs of one experiment → results/<experiment>.csv."""

from replication import jobs
from replication.files import write_csv

with jobs.logged(snakemake, "aggregate") as log:
    table = jobs.aggregate(snakemake.wildcards.experiment, snakemake.input.runs, snakemake.params.settings, log)
    write_csv(table, snakemake.output.csv)
