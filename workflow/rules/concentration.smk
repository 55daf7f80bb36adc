# The `concentration` experiment (no training): the feature Gram ΦΦᵀ at initialisation along
# a growing width, against λ0 and G∞, for each N and seed.


rule concentration:
    """One job of the concentration table: λ_min(ΦΦᵀ)/λ0 and ‖ΦΦᵀ − G∞‖₂/λ0 along the width grid."""
    output:
        csv="results/runs/concentration/{run_id}.csv",
        sha256="results/runs/concentration/{run_id}.csv.sha256.json",
        json="results/runs/concentration/{run_id}.json",
    params:
        run=job_params(table_row(CONCENTRATION_RUNS, "concentration")),
        engine=ENGINE_HASH,
    log:
        "logs/concentration/{run_id}.log",
    benchmark:
        BENCHMARK["concentration"]
    message:
        job_message(
            "concentration {wildcards.run_id}: λ_min(ΦΦᵀ)/λ0 and ‖ΦΦᵀ − G∞‖/λ0 at initialisation along the width grid "
            "for N = {params.run[N]}, d = {params.run[d]} → {output.csv}"
        )
    threads: lambda w: table_row(CONCENTRATION_RUNS, "concentration")(w)["threads"]
    resources:
        **requests(table_row(CONCENTRATION_RUNS, "concentration"), "concentration"),
    conda:
        ENV
    script:
        "../scripts/concentration.py"
