rule data:
    """One data set of the config: train/test split, unit-norm rows, no parallel pairs."""
    output:
        npz="results/data/{dataset}.npz",
    params:
        entry=lambda w: config["datasets"][w.dataset],
        code=DATA_HASH,
    log:
        "logs/data/{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/make_data.py"
