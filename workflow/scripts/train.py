"""Rule `train`: one job of the run table — its seeds one after the other — → one tidy CSV
(every seed's trace, ``run_id`` per seed) + a JSON provenance sidecar (a ``runs`` entry per seed)."""

from wfio import logged, write_csv, write_json

with logged(snakemake, "train") as log:
    import pandas as pd

    import implicit
    from implicit.data import load_dataset
    from implicit.runtime import config_hash

    from gdrun import run_gd

    threads = implicit.set_threads(snakemake.threads)
    job = dict(snakemake.params.run)
    ds = load_dataset(snakemake.input.data)
    tables, runs = [], []
    for seed, run_id in zip(job["seeds"], job["run_ids"]):
        run = {k: v for k, v in job.items() if k not in ("seeds", "run_ids")} | {"seed": seed, "run_id": run_id}
        table, summary = run_gd(run, ds)
        log.info("%s/%s: %s", run["experiment"], run_id, summary)
        tables.append(table)
        runs.append({"seed": seed, "run_id": run_id, **summary})
    write_csv(pd.concat(tables, ignore_index=True), snakemake.output.csv)
    write_json(
        implicit.provenance(
            run=job, dataset=ds.info, seeds=job["seeds"], runs=runs, threads_requested=snakemake.threads,
            threads_used=threads, config_hash=config_hash({"run": job, "dataset": snakemake.params.dataset}),
            engine_hash=snakemake.params.engine, wall_seconds=sum(r["wall_seconds"] for r in runs),
            status="completed" if all(r["status"] == "completed" for r in runs) else "stopped",
        ),
        snakemake.output.json,
    )
