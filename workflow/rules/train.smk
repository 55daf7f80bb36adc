rule train:
    """One GD job of the run table (any GD experiment; its seeds one after the other): tidy CSV trace + JSON provenance."""
    message:
        job_message(
            "train {wildcards.experiment}/{wildcards.run_id}: GD on {params.run[dataset]} (N = {params.dataset[n_train]}), "
            "m = {params.run[m]}, γ = {params.run[gamma]}, {params.run[steps]} steps, lr = {params.run[lr]}, "
            "blocks {params.run[trainable]}, seeds {params.run[seeds]}"
            "; requests: {threads} threads, {resources.mem_mb} MB, {resources.runtime} min; progress: {log}"
        )
    input:
        data=lambda w: f"results/data/{run_row(w)['dataset']}.npz",
    output:
        csv="results/runs/{experiment}/{run_id}.csv",
        sha256="results/runs/{experiment}/{run_id}.csv.sha256.json",
        json="results/runs/{experiment}/{run_id}.json",
    params:
        run=job_params(run_row),
        dataset=lambda w: DATASET_ENTRIES[run_row(w)["dataset"]],
        engine=ENGINE_HASH,
    log:
        "logs/train/{experiment}/{run_id}.log",
    benchmark:
        BENCHMARK["train"]
    threads: lambda w: run_row(w)["threads"]
    resources:
        **requests(run_row, "train"),
    wildcard_constraints:
        experiment=alternatives(GD_EXPERIMENTS),
    conda:
        ENV
    script:
        "../scripts/train.py"
