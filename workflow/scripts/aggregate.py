"""Rule `aggregate`: the run CSVs of one experiment → results/<experiment>.csv."""

from replication.aggregate import aggregate
from replication.files import write_csv
from replication.integrity import write_checksum
from replication.logs import logged

with logged(snakemake, "aggregate") as log:
    table = aggregate(snakemake.wildcards.experiment, snakemake.input.runs, snakemake.params.settings, log)
    write_csv(table, snakemake.output.csv)
    write_checksum(snakemake.output.csv)
