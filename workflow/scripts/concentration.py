"""Rule `concentration`: the feature Gram at initialisation along the width for one N and seed → CSV + JSON."""

from replication import jobs
from replication.files import write_csv, write_json
from replication.integrity import write_checksum
from replication.logs import logged

with logged(snakemake, "concentration") as log:
    table, meta = jobs.concentration(snakemake.params.run, engine_hash=snakemake.params.engine,
                                     threads=snakemake.threads, log=log)
    write_csv(table, snakemake.output.csv)
    write_checksum(snakemake.output.csv)
    write_json(meta, snakemake.output.json)
