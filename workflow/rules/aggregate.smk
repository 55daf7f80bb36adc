rule aggregate:
    """All runs of one GD experiment → results/<experiment>.csv (one row per run × step)."""
    input:
        runs=run_csvs,
    output:
        csv="results/{experiment}.csv",
    log:
        "logs/aggregate/{experiment}.log",
    threads: 1
    resources:
        mem_mb=1000,
    wildcard_constraints:
        experiment=alternatives(GD_EXPERIMENTS),
    conda:
        ENV
    script:
        "../scripts/aggregate.py"
