# results/benchmarks.csv: the benchmark file of every job of this configuration in one table,
# next to the cost model's estimate of each train job (replication/cost.py).

# {path, rule, wildcards, run} of every job with a `benchmark:` file: the train jobs, the
# kernel experiment's kernel_limit and kernel_errors jobs and flow's gradient_flow jobs (a
# rule that gains a `benchmark:` directive belongs here too).
BENCHMARK_JOBS = (
    [
        {
            "path": BENCHMARK["train"].format(experiment=e, run_id=r),
            "rule": "train",
            "wildcards": {"experiment": e, "run_id": r},
            "run": row,
        }
        for (e, r), row in RUNS.items()
    ]
    + [
        {
            "path": BENCHMARK["kernel_limit"].format(dataset=ds, gamma=f"{g:g}"),
            "rule": "kernel_limit",
            "wildcards": {"dataset": ds, "gamma": f"{g:g}"},
            "run": {"dataset": ds, "gamma": g},
        }
        for ds, g in runs.kernel_limits(config)
    ]
    + [
        {
            "path": BENCHMARK["kernel_errors"].format(run_id=r),
            "rule": "kernel_errors",
            "wildcards": {"run_id": r},
            "run": row,
        }
        for r, row in KERNEL_RUNS.items()
    ]
    + [
        {
            "path": BENCHMARK["gradient_flow"].format(run_id=r),
            "rule": "gradient_flow",
            "wildcards": {"run_id": r},
            "run": row,
        }
        for r, row in GF_RUNS.items()
    ]
    + [
        {
            "path": BENCHMARK["concentration"].format(run_id=r),
            "rule": "concentration",
            "wildcards": {"run_id": r},
            "run": row,
        }
        for r, row in CONCENTRATION_RUNS.items()
    ]
)


rule benchmarks:
    """Every benchmark file of the configuration (time, peak memory) + the cost model's estimate."""
    message:
        job_message(
            "benchmarks: time and memory of every job of this configuration next to the cost model's estimate → {output.csv}"
        )
    input:
        # benchmark files count as outputs of their jobs: this rule runs after all of them
        tsv=[job["path"] for job in BENCHMARK_JOBS],
    output:
        csv="results/benchmarks.csv",
    params:
        jobs=BENCHMARK_JOBS,
    log:
        "logs/benchmarks.log",
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/benchmarks.py"
