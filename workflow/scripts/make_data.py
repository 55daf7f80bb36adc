"""Rule `data`: generate one data set of the config and save it to results/data/<name>.npz."""

from wfio import logged

with logged(snakemake, "data") as log:
    from implicit.data import make_dataset, save_npz

    entry = dict(snakemake.params.entry)
    kind = entry.pop("kind")
    ds = make_dataset(kind, **entry)
    save_npz(snakemake.output.npz, ds)  # atomic (temporary file + os.replace)
    log.info("%s: %r, notes: %s", snakemake.wildcards.dataset, ds, ds.info.get("notes"))
