"""Rule `data`: one data set of the configuration → results/data/<name>.npz."""

from replication.datasets import save_npz
from replication.jobs import make_data
from replication.logs import logged

with logged(snakemake, "data") as log:
    ds = make_data(snakemake.params.entry)
    save_npz(snakemake.output.npz, ds)  # and its checksum sidecar
    log.info("%s: %r, notes: %s", snakemake.wildcards.dataset, ds, ds.info.get("notes"))
