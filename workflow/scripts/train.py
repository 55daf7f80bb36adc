"""Rule `train`: one job of the run table → a tidy CSV (every seed's trace) + JSON provenance."""

from replication import jobs
from replication.files import write_csv, write_json
from replication.integrity import write_checksum
from replication.logs import logged

with logged(snakemake, "train") as log:
    table, meta = jobs.train(
        snakemake.params.run, snakemake.input.data, dataset_entry=snakemake.params.dataset,
        engine_hash=snakemake.params.engine, threads=snakemake.threads, log=log,
    )
    write_csv(table, snakemake.output.csv)
    write_checksum(snakemake.output.csv)
    write_json(meta, snakemake.output.json)
