rule train:
    """One GD job of the run table (any GD experiment; its seeds one after the other): tidy CSV trace + JSON provenance."""
    input:
        data=lambda w: f"results/data/{run_row(w)['dataset']}.npz",
    output:
        csv="results/runs/{experiment}/{run_id}.csv",
        json="results/runs/{experiment}/{run_id}.json",
    params:
        run=run_params,
        dataset=lambda w: DATASET_ENTRIES[run_row(w)["dataset"]],
        engine=ENGINE_HASH,
    log:
        "logs/train/{experiment}/{run_id}.log",
    benchmark:
        "results/benchmarks/train/{experiment}/{run_id}.tsv"
    threads: lambda w: run_row(w)["threads"]
    resources:
        # cost model (workflow/scripts/cost.py) with headroom, × the attempt: a retried job
        # (profiles/slurm: retries) gets twice, then three times, the memory and time
        mem_mb=lambda w, attempt: run_row(w)["mem_mb"] * attempt,
        runtime=lambda w, attempt: run_row(w)["runtime"] * attempt,
    wildcard_constraints:
        experiment=alternatives(GD_EXPERIMENTS),
    conda:
        ENV
    script:
        "../scripts/train.py"
