# The ODE part of the `flow` experiment (its GD runs go through the generic `train` rule).


rule gradient_flow:
    """One job of the gradient-flow table: dθ/dt = −∇L(θ) from the GD runs' θ(0), at their record times."""
    message:
        job_message(
            "gradient_flow {wildcards.run_id}: ODE dθ/dt = −∇L(θ) on {params.run[dataset]} (N = {params.run[N]}), "
            "m = {params.run[m]}, γ = {params.run[gamma]}, {params.span}, "
            "rtol = {params.run[rtol]}, seeds {params.run[seeds]}"
            "; requests: {threads} threads, {resources.mem_mb} MB, {resources.runtime} min"
        )
    input:
        data=lambda w: "results/data/{dataset}.npz".format(**table_row(GF_RUNS, "flow/gf")(w)),
    output:
        csv="results/runs/flow/gf/{run_id}.csv",
        sha256="results/runs/flow/gf/{run_id}.csv.sha256.json",
        json="results/runs/flow/gf/{run_id}.json",
    params:
        run=job_params(table_row(GF_RUNS, "flow/gf")),
        # what the solve spans: the GD comparison's times, or a long solve's horizon and floor
        span=lambda w: (lambda r: f"{r['role']} solve to λ0·t = {r['horizon']:g} or L/L(0) ≤ {r['floor']:g}"
                        if r.get("role") else f"to t = {r['steps']}·η_max")(table_row(GF_RUNS, "flow/gf")(w)),
        engine=ENGINE_HASH,
    log:
        "logs/gradient_flow/{run_id}.log",
    benchmark:
        BENCHMARK["gradient_flow"]
    threads: lambda w: table_row(GF_RUNS, "flow/gf")(w)["threads"]
    resources:
        **requests(table_row(GF_RUNS, "flow/gf"), "gradient_flow"),
    conda:
        ENV
    script:
        "../scripts/gradient_flow.py"
