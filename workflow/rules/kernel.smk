# The `kernel` experiment (not gradient descent): finite-width ΦΦᵀ and ZZᵀ at initialisation
# against the infinite-width kernels G∞ and K∞ of the same inputs.


rule kernel_limit:
    """G∞ and K∞ of one data set at one γ, computed once and shared by every width and seed."""
    message:
        job_message(
            "kernel_limit {wildcards.dataset}, γ = {wildcards.gamma}: the infinite-width kernels G∞ and K∞ of its training inputs → {output.npz}"
            "; requests: {threads} threads, {resources.mem_mb} MB, {resources.runtime} min"
        )
    input:
        data="results/data/{dataset}.npz",
    output:
        npz="results/kernels/{dataset}_g{gamma}.npz",
        sha256="results/kernels/{dataset}_g{gamma}.npz.sha256.json",
    params:
        engine=ENGINE_HASH,
    log:
        "logs/kernel_limit/{dataset}_g{gamma}.log",
    benchmark:
        BENCHMARK["kernel_limit"]
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    wildcard_constraints:
        gamma=r"[0-9.]+(e-?[0-9]+)?",
    conda:
        ENV
    script:
        "../scripts/kernel_limit.py"


rule kernel_errors:
    """One job of the kernel table: ‖ΦΦᵀ − G∞‖ and ‖ZZᵀ − K∞‖ for its seeds at one width m."""
    message:
        job_message(
            "kernel_errors {wildcards.run_id}: ‖ΦᵀΦ − G∞‖ and ‖ZᵀZ − K∞‖ at initialisation on {params.run[dataset]}, "
            "m = {params.run[m]}, γ = {params.run[gamma]}, seeds {params.run[seeds]}"
            "; requests: {threads} threads, {resources.mem_mb} MB, {resources.runtime} min"
        )
    input:
        data=lambda w: "results/data/{dataset}.npz".format(**table_row(KERNEL_RUNS, "kernel")(w)),
        limit=lambda w: "results/kernels/{dataset}_g{gamma:g}.npz".format(**table_row(KERNEL_RUNS, "kernel")(w)),
    output:
        csv="results/runs/kernel/{run_id}.csv",
        sha256="results/runs/kernel/{run_id}.csv.sha256.json",
        json="results/runs/kernel/{run_id}.json",
    params:
        run=job_params(table_row(KERNEL_RUNS, "kernel")),
        engine=ENGINE_HASH,
    log:
        "logs/kernel_errors/{run_id}.log",
    benchmark:
        BENCHMARK["kernel_errors"]
    threads: lambda w: table_row(KERNEL_RUNS, "kernel")(w)["threads"]
    resources:
        **requests(table_row(KERNEL_RUNS, "kernel"), "kernel_errors"),
    conda:
        ENV
    script:
        "../scripts/kernel_errors.py"
