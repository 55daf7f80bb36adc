"""Rule `kernel_errors`: finite-width Gram matrices at initialisation against G∞, K∞ → CSV + JSON."""

from replication import jobs
from replication.files import write_csv, write_json
from replication.integrity import write_checksum
from replication.logs import logged

with logged(snakemake, "kernel_errors") as log:
    table, meta = jobs.kernel_errors(
        snakemake.params.run, snakemake.input.data, snakemake.input.limit, engine_hash=snakemake.params.engine,
        threads=snakemake.threads, log=log,
    )
    write_csv(table, snakemake.output.csv)
    write_checksum(snakemake.output.csv)
    write_json(meta, snakemake.output.json)
