rule aggregate:
    """All run CSVs of one experiment → results/<experiment>.csv (GD: one row per run × recorded
    step with per-run summaries; flow: GD and gradient-flow rows; kernel: one row per error)."""
    message:
        job_message(
            "aggregate {wildcards.experiment}: its run CSVs under results/runs/{wildcards.experiment}/ → {output.csv}"
        )
    input:
        runs=run_csvs,
    output:
        csv="results/{experiment}.csv",
        sha256="results/{experiment}.csv.sha256.json",
    params:
        # analysis settings of the experiment block (e.g. linear-width's target): CSV columns
        settings=lambda w: runs.analysis_settings(config, w.experiment),
        code=FITS_HASH,
    log:
        "logs/aggregate/{experiment}.log",
    threads: 1
    resources:
        mem_mb=1000,
    wildcard_constraints:
        experiment=alternatives(EXPERIMENTS),
    conda:
        ENV
    script:
        "../scripts/aggregate.py"
