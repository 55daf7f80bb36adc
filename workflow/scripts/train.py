"""Rule `train`: one GD run of the run table → tidy CSV trace + JSON provenance sidecar."""

from wfio import logged, write_csv, write_json

with logged(snakemake, "train") as log:
    import implicit
    from implicit.data import load_dataset
    from implicit.runtime import config_hash

    from gdrun import run_gd

    threads = implicit.set_threads(snakemake.threads)
    run = dict(snakemake.params.run)
    ds = load_dataset(snakemake.input.data)
    table, summary = run_gd(run, ds)
    log.info("%s/%s: %s", run["experiment"], run["run_id"], summary)
    write_csv(table, snakemake.output.csv)
    write_json(
        implicit.provenance(
            run=run, dataset=ds.info, seed=run["seed"], threads_requested=snakemake.threads, threads_used=threads,
            config_hash=config_hash({"run": run, "dataset": snakemake.params.dataset}),
            engine_hash=snakemake.params.engine, **summary,
        ),
        snakemake.output.json,
    )
