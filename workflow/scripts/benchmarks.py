"""Rule `benchmarks`: every benchmark file of the configuration → results/benchmarks.csv.

One row per job: rule, wildcards, the run's sizes, Snakemake's measurements (s: wall
seconds; max_rss: peak resident set in MB; cpu_time: CPU seconds; ...) and the cost
model's estimate (est_seconds, est_mem_mb, est_cpu_seconds; workflow/scripts/cost.py).
"""

from wfio import logged, write_csv

with logged(snakemake, "benchmarks") as log:
    import pandas as pd

    import cost

    rows = []
    for job in snakemake.params.jobs:  # a file has one row per repeat: their mean
        measured = pd.read_csv(job["path"], sep="\t").mean(numeric_only=True).to_dict()
        rows.append(cost.benchmark_row(job, measured))
    table = pd.DataFrame(rows, columns=cost.BENCHMARK_COLUMNS)
    write_csv(table, snakemake.output.csv)
    log.info("%d benchmark files, %.1f CPU seconds in all", len(table), table["cpu_time"].sum())
