rule claims:
    """The claims table: each claim of the paper evaluated on the aggregated CSVs against the
    thresholds of the config's `claims` block (replication.claims.evaluate_claims). A failing
    claim is a row with pass = False, not a failing job. claims.html is its page in the report."""
    message:
        job_message(
            "claims: every claim on the aggregated CSVs against the thresholds of the config's claims block → {output.csv}, {output.md}, {output.html}"
        )
    input:
        csvs=expand("results/{experiment}.csv", experiment=EXPERIMENTS),
    output:
        csv=report("results/claims.csv", caption="../report/claims_csv.rst", category="Claims"),
        md="results/claims.md",
        html=report("results/claims.html", caption="../report/claims.rst", category="Claims"),
    params:
        thresholds=config.get("claims", {}),
        code=CLAIMS_HASH,
    log:
        "logs/claims.log",
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/claims.py"
