"""Rule `claims`: the aggregated CSVs → results/claims.csv, results/claims.md and results/claims.html."""

from replication.claims import claims_job
from replication.files import write_csv, write_text
from replication.logs import logged

with logged(snakemake, "claims") as log:
    table, markdown, html = claims_job(snakemake.input.csvs, snakemake.params.thresholds, log)
    write_csv(table, snakemake.output.csv)
    write_text(markdown, snakemake.output.md)
    write_text(html, snakemake.output.html)
