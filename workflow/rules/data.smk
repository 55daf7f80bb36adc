rule data:
    """One data set of the config (or derived from one): train/test split, unit-norm rows, no parallel pairs."""
    input:
        user=data_files,
    output:
        npz="results/data/{dataset}.npz",
    params:
        entry=lambda w: DATASET_ENTRIES[w.dataset],
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
