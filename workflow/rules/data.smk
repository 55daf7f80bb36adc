rule data:
    """One data set of the config (or derived from one): train/test split, unit-norm rows, no parallel pairs."""
    message:
        job_message(
            "data {wildcards.dataset}: {params.entry[kind]}, n_train = {params.entry[n_train]}, n_test = {params.entry[n_test]}, seed {params.entry[seed]}"
        )
    input:
        user=data_files,
    output:
        npz="results/data/{dataset}.npz",
        sha256="results/data/{dataset}.npz.sha256.json",
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
