"""Rule `claims`: the aggregated CSVs → results/claims.csv and results/claims.md."""

from replication import jobs
from replication.files import write_csv, write_text

with jobs.logged(snakemake, "claims") as log:
    table, markdown = jobs.claims(snakemake.input.csvs, snakemake.params.thresholds, log)
    write_csv(table, snakemake.output.csv)
    write_text(markdown, snakemake.output.md)
