rule claims:
    """Claims table from the aggregated CSVs (placeholder: every claim 'not yet evaluated')."""
    input:
        csvs=expand("results/{experiment}.csv", experiment=EXPERIMENTS),
    output:
        csv="results/claims.csv",
        md="results/claims.md",
    log:
        "logs/claims.log",
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/claims.py"
