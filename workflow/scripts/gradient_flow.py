"""Rule `gradient_flow`: the gradient-flow ODE of ``flow`` for one job → CSV + JSON provenance."""

from replication import jobs
from replication.files import write_csv, write_json
from replication.integrity import write_checksum
from replication.logs import logged

with logged(snakemake, "gradient_flow") as log:
    table, meta = jobs.gradient_flow(
        snakemake.params.run, snakemake.input.data, engine_hash=snakemake.params.engine,
        threads=snakemake.threads, log=log,
    )
    write_csv(table, snakemake.output.csv)
    write_checksum(snakemake.output.csv)
    write_json(meta, snakemake.output.json)
