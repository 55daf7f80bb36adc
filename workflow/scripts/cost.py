"""Cost model of one training job: peak memory and run time from (m, N, d, steps, dtype).

One function, :func:`estimate`, is the source of every resource figure of the workflow: the
``train`` rule's ``mem_mb`` and ``runtime`` requests (through :func:`request`, called by
``wfconfig.run_table``), the README's runtime table and ``results/benchmarks.csv``'s
``est_*`` columns.  ``tests/test_cluster.py`` runs real jobs at two sizes and checks the
estimate against their ``benchmark:`` files within a factor of 2.  Standard library only:
it is imported when Snakemake builds the DAG.

Memory (peak resident set, MB) — the arrays alive at the peak of a GD step
(``implicit.train``: θ(0) and θ, the gradient and the previous one, γ/√m·A for each solve;
the equilibrium Z, Φ, P, Q, the adjoint K and its work arrays, the warm-start history; the
test set's forward solve) plus the interpreter with NumPy, SciPy, Numba, pandas and the
Numba cache, measured at the smallest sizes::

    BASE_MB + itemsize · (ARRAYS_MM·m² + ARRAYS_NM·N·m + ARRAYS_TEST·n_test·m
                          + ARRAYS_NN·N² + 3·m·d + (N + n_test)·d) / 2**20

Time (seconds of one job with ``threads`` dedicated cores)::

    JOB_SECONDS + (steps + LR_STEPS) · (STEP_SECONDS + flops_per_step / (RATE · speedup(threads)))
    flops_per_step = 2m²·(WORK_TRAIN·N + WORK_TEST·n_test) + 4·N·m·d

``WORK_TRAIN`` counts full-batch fixed-point iterations per GD step (forward + adjoint
sample-iterations / N, the trace's ``fwd_work + adj_work``, plus one product for ∇A);
``WORK_TEST`` the test set's forward iterations.  ``LR_STEPS``: the one-off cost of
``lr: auto`` (cold forward and adjoint solves, N×N Gram matrix) and of the first, cold step.
``RATE`` is the DGEMM-bound rate of one core, fitted to the measured benchmark files (see
:func:`fit`); the CPU seconds count the product part once per thread.

Constants: measured on the 2-core AMD EPYC (OpenBLAS 0.3, float64) that produced the README
table; ``python workflow/scripts/cost.py fit results/benchmarks.csv`` refits them from any
run's benchmarks.
"""

from __future__ import annotations

import math

# -- memory ------------------------------------------------------------------------------
#: resident set of a train job at the smallest sizes (interpreter, libraries, Numba cache), MB
BASE_MB = 220.0
#: (m, m) arrays alive at the peak: A(0), A, ∇A (current and previous step), γ̃A of a solve
ARRAYS_MM = 5
#: (N, m) arrays of the training set: Z, Φ, P, Q, K, the adjoint's M, T and P copy, the
#: gradient's M and S, the warm-start history (Z, K, P of the last two steps), temporaries
ARRAYS_NM = 14
#: (n_test, m) arrays of the test set's warm-started forward solve
ARRAYS_TEST = 6
#: (N, N) arrays of the Gram matrix of lr: auto (twice as many with track_gram)
ARRAYS_NN = 4

# -- time ----------------------------------------------------------------------------------
#: interpreter start, imports, Numba cache, data loading and writing the outputs, s
JOB_SECONDS = 1.2
#: per-step work that does not scale with m² (Python, ρ power iteration, small kernels), s
STEP_SECONDS = 1.2e-3
#: one-off cost of lr: auto and of the cold first step, in GD steps
LR_STEPS = 2.0
#: full-batch iterations per GD step on the training set (forward + adjoint + ∇A)
WORK_TRAIN = 15.0
#: forward iterations per GD step on the test set
WORK_TEST = 7.0
#: sustained float64 rate of one core in a train job, flop/s: fitted to the paper-scale
#: width sweep (m = 2000, 4000; DGEMM alone reaches 52 Gflop/s on one core of that machine)
RATE = 4.4e10
#: speed-up of t threads over one: 1 + 0.9 (t − 1) (DGEMM: 2 threads 1.98×; the Numba
#: kernels between the products are serial)
THREAD_EFFICIENCY = 0.9
#: float32 runs about twice as fast and takes half the memory
DTYPE = {"float64": (8, 1.0), "float32": (4, 2.0)}

# -- scheduler requests (see :func:`request`) --------------------------------------------------
MEM_HEADROOM, MEM_FLOOR_MB = 1.3, 500
TIME_HEADROOM, TIME_FLOOR_MIN = 2.0, 10


def speedup(threads: int) -> float:
    """Throughput of ``threads`` cores relative to one."""
    return 1.0 + THREAD_EFFICIENCY * (max(int(threads), 1) - 1)


def estimate(
    m: int,
    N: int,
    d: int,
    steps: int,
    dtype: str = "float64",
    *,
    n_test: int = 0,
    threads: int = 1,
    record_every: int = 1,
    track_gram: bool = False,
) -> dict:
    """Peak memory and time of one training job (``gdrun.run_gd`` inside the ``train`` rule).

    Returns ``{"mem_mb", "seconds", "runtime_min", "cpu_seconds"}``: peak resident set in MB,
    wall seconds with ``threads`` dedicated cores, the same in minutes, and CPU seconds used
    (the benchmark files' ``cpu_time``; a cluster bills about seconds × threads).  ``track_gram`` adds, per recorded step, an
    adjoint solve to tolerance, the N×N Gram blocks and five symmetric eigenvalue problems.
    """
    if dtype not in DTYPE:
        raise ValueError(f"dtype must be one of {sorted(DTYPE)}, got {dtype!r}")
    itemsize, fast = DTYPE[dtype]
    m, N, d, n_test, steps = int(m), int(N), int(d or 0), int(n_test), int(steps)
    floats = (ARRAYS_MM * m * m + ARRAYS_NM * N * m + ARRAYS_TEST * n_test * m
              + ARRAYS_NN * N * N * (2 if track_gram else 1) + 3 * m * d + (N + n_test) * d)
    mem_mb = BASE_MB + itemsize * floats / 2**20

    threads = max(int(threads), 1)
    rate = RATE * fast * speedup(threads)  # flop/s of the job's cores together
    flops = (steps + LR_STEPS) * (2.0 * m * m * (WORK_TRAIN * N + WORK_TEST * n_test) + 4.0 * N * m * d)
    if track_gram:
        recorded = steps // max(int(record_every), 1) + 1
        flops += recorded * (2.0 * m * m * N * WORK_TRAIN / 2 + 8.0 * N * N * m + 5 * (4 / 3) * N**3)
    serial = JOB_SECONDS + (steps + LR_STEPS) * STEP_SECONDS
    seconds = serial + flops / rate
    return {
        "mem_mb": mem_mb,
        "seconds": seconds,
        "runtime_min": seconds / 60,
        "cpu_seconds": serial + flops * threads / rate,
    }


def estimate_row(row: dict) -> dict:
    """:func:`estimate` for one row of ``wfconfig.run_table`` (d unknown, e.g. an npz file: 784)."""
    return estimate(
        row["m"], row["N"], row.get("d") or 784, row["steps"], row.get("dtype", "float64"),
        n_test=row.get("n_test", 0), threads=row.get("threads", 1),
        record_every=row.get("record_every", 1), track_gram=row.get("track_gram", False),
    )


def request(row: dict, attempt: int = 1) -> dict:
    """Scheduler request of a train job: ``{"mem_mb", "runtime"}`` (MB, minutes).

    The estimate with headroom (×1.3 memory, ×2 time), at least 500 MB and 10 minutes, times
    ``attempt`` (Snakemake's retry counter, 1 on the first try): a job killed for memory or
    time is resubmitted with twice, then three times, as much.
    """
    est = estimate_row(row)
    attempt = max(int(attempt), 1)
    return {
        "mem_mb": attempt * max(MEM_FLOOR_MB, 100 * math.ceil(MEM_HEADROOM * est["mem_mb"] / 100)),
        "runtime": attempt * max(TIME_FLOOR_MIN, math.ceil(TIME_HEADROOM * est["runtime_min"])),
    }


# -- results/benchmarks.csv ---------------------------------------------------------------------
#: columns of results/benchmarks.csv (rule `benchmarks`): the job, the run's sizes, Snakemake's
#: measurements (s: wall seconds, cpu_time: CPU seconds, max_rss etc.: MB) and the estimate
BENCHMARK_COLUMNS = (
    "rule", "wildcards", "experiment", "run_id", "dataset", "N", "n_test", "d", "m", "steps", "threads",
    "s", "cpu_time", "max_rss", "max_uss", "max_pss", "max_vms", "mean_load", "io_in", "io_out",
    "est_seconds", "est_cpu_seconds", "est_mem_mb",
)
MEASURED = ("s", "cpu_time", "max_rss", "max_uss", "max_pss", "max_vms", "mean_load", "io_in", "io_out")
SIZES = ("experiment", "run_id", "dataset", "N", "n_test", "d", "m", "steps", "threads")


def benchmark_row(job: dict, measured: dict) -> dict:
    """One row of results/benchmarks.csv from a job {rule, wildcards, run} and its benchmark values."""
    run = job.get("run") or {}
    row = {"rule": job["rule"], "wildcards": ",".join(f"{k}={v}" for k, v in job["wildcards"].items())}
    row |= {k: run.get(k, job["wildcards"].get(k)) for k in SIZES}
    row |= {k: measured.get(k) for k in MEASURED}
    if job["rule"] == "train" and run:
        est = estimate_row(run)
        row |= {"est_seconds": est["seconds"], "est_cpu_seconds": est["cpu_seconds"], "est_mem_mb": est["mem_mb"]}
    return row


# -- fitting and extrapolating -------------------------------------------------------------------
def fit(records) -> dict:
    """Refit RATE, JOB_SECONDS and BASE_MB to measured train jobs (rows of benchmarks.csv).

    RATE: median over the jobs whose products dominate (≥ 50% of their CPU time) of the
    flops per CPU second, from ``cpu_time`` (CPU seconds are not inflated when other
    processes share the cores; wall time is); JOB_SECONDS and BASE_MB: medians of what the
    other terms leave over on the smallest jobs.  Returns the constants and, per job, the
    ratios estimate/measured with the current constants.
    """
    jobs = [r for r in records if r.get("rule", "train") == "train"]
    rates, overheads, bases, ratios = [], [], [], []
    for r in jobs:
        threads = int(r.get("threads") or 1)
        reps = int(r["steps"]) + LR_STEPS
        flops = reps * 2.0 * r["m"] ** 2 * (WORK_TRAIN * r["N"] + WORK_TEST * r["n_test"]) + reps * 4.0 * r["N"] * r["m"] * (r["d"] or 784)
        compute = float(r["cpu_time"]) - JOB_SECONDS - reps * STEP_SECONDS
        if compute > 0.5 * float(r["cpu_time"]):
            rates.append(flops * threads / speedup(threads) / compute)
        est = estimate(r["m"], r["N"], r["d"] or 784, r["steps"], n_test=r["n_test"], threads=threads)
        ratios.append({"run_id": r.get("run_id"), "m": r["m"], "N": r["N"], "steps": r["steps"],
                       "seconds": est["seconds"] / float(r["s"]), "cpu_seconds": est["cpu_seconds"] / float(r["cpu_time"]),
                       "mem_mb": est["mem_mb"] / float(r["max_rss"])})
        if est["mem_mb"] - BASE_MB < 0.1 * BASE_MB:  # memory of the arrays negligible
            bases.append(float(r["max_rss"]))
        if est["cpu_seconds"] - JOB_SECONDS < JOB_SECONDS:
            overheads.append(float(r["cpu_time"]) - (est["cpu_seconds"] - JOB_SECONDS))
    return {"RATE": _median(rates), "JOB_SECONDS": _median(overheads), "BASE_MB": _median(bases), "ratios": ratios}


def _median(xs):
    xs = sorted(xs)
    return None if not xs else (xs[len(xs) // 2] + xs[(len(xs) - 1) // 2]) / 2


def summary(rows, cores: int = 2) -> list[dict]:
    """Per experiment (and "total"): train jobs, CPU hours, wall hours on ``cores`` cores and
    the largest per-job peak memory and wall time, all estimated."""
    groups = {}
    for row in rows:
        groups.setdefault(row["experiment"], []).append(row)
    out = []
    for name, group in list(groups.items()) + [("total", list(rows))]:
        ests = [(row, estimate_row(row)) for row in group]
        out.append({
            "experiment": name, "jobs": len(group),
            "cpu_hours": sum(e["cpu_seconds"] for _, e in ests) / 3600,
            "wall_hours": sum(e["seconds"] * min(row.get("threads", 1), cores) for row, e in ests) / cores / 3600,
            "max_job_hours": max((e["seconds"] for _, e in ests), default=0) / 3600,
            "max_mem_mb": max((e["mem_mb"] for _, e in ests), default=0),
        })
    return out


def main(argv=None) -> None:
    """``cost.py estimate M N D STEPS [N_TEST] [THREADS]`` | ``cost.py fit results/benchmarks.csv``
    | ``cost.py summary workflow/config/paper.yaml [CORES]``."""
    import csv
    import sys
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    cmd = args.pop(0) if args else "help"
    if cmd == "estimate":
        m, N, d, steps, *rest = map(int, args)
        print(estimate(m, N, d, steps, n_test=rest[0] if rest else 0, threads=rest[1] if len(rest) > 1 else 1))
    elif cmd == "fit":
        with open(args[0]) as fh:
            records = [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(fh)]
        result = fit(records)
        for r in result.pop("ratios"):
            print("estimate/measured  {run_id}: seconds {seconds:.2f}, cpu {cpu_seconds:.2f}, memory {mem_mb:.2f}".format(**r))
        print("fitted:", {k: v for k, v in result.items()})
    elif cmd == "summary":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import wfconfig

        config = wfconfig.load_yaml(args[0])
        cores = int(args[1]) if len(args) > 1 else 2
        print(f"{'experiment':12} {'jobs':>5} {'CPU h':>8} {'wall h (' + str(cores) + ' cores)':>17} {'longest job h':>14} {'peak MB/job':>12}")
        for s in summary(list(wfconfig.run_table(config).values()), cores):
            print(f"{s['experiment']:12} {s['jobs']:5d} {s['cpu_hours']:8.2f} {s['wall_hours']:17.2f} {s['max_job_hours']:14.2f} {s['max_mem_mb']:12.0f}")
    else:
        print(main.__doc__)


def _number(value):
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


if __name__ == "__main__":
    main()
