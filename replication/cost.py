"""Cost model of one training job: peak memory and run time from (m, N, d, steps, dtype).

One function, :func:`estimate`, is the source of every resource figure of the workflow: the
rules' ``mem_mb`` and ``runtime`` requests (through :func:`request`), the cost tables of
docs/cluster.md and ``results/benchmarks.csv``'s ``est_*`` columns.  The cluster tests run
real jobs at two sizes and check the estimate against their ``benchmark:`` files within a
factor of 2.  The rules call it when Snakemake schedules a job.

Memory (peak resident set, MB) — the arrays alive at the peak of a GD step
(``implicit.train``: θ(0) and θ, the gradient and the previous one, the float32 copy of A;
the equilibrium Z, Φ, P, Q, the adjoint K and its work arrays, the warm-start history; the
test set's forward solve) plus the interpreter with NumPy, SciPy, Numba, pandas and the
Numba cache::

    BASE_MB + itemsize · (ARRAYS_MM·m² + ARRAYS_NM·N·m + ARRAYS_TEST·n_test·m
                          + ARRAYS_NN·N² + 3·m·d + (N + n_test)·d) / 2**20

Time (seconds of one job with ``threads`` dedicated cores)::

    JOB_SECONDS + (steps + LR_STEPS) · (STEP_SECONDS + flops_per_step / (RATE · speedup(threads))
                                        + ELEMENT_SECONDS · elements_per_step)
    flops_per_step    = 2m²·(WORK_TRAIN·N + WORK_TEST·n_test) + 4·N·m·d
    elements_per_step = m·(WORK_TRAIN·N + WORK_TEST·n_test)

``WORK_TRAIN`` counts full-batch fixed-point iterations per GD step (forward + adjoint
sample-iterations / N, the trace's ``fwd_work + adj_work``, plus one product for ∇A);
``WORK_TEST`` the test set's forward iterations.  Each iteration is a product (flops, at
``RATE`` per core, threaded) and serial element-wise passes over the (N, m) arrays
(``ELEMENT_SECONDS`` per sample-unit), whose share grows as the products get cheaper.
``LR_STEPS``: the one-off cost of ``lr: auto`` and of the first, cold steps.  ``RATE`` is an
effective float64 rate: the solvers run most iterations as float32 increments.  The CPU
seconds count the product part once per thread.

The constants were fitted to measured jobs; docs/cluster.md says where and how.
``python -m replication.cost fit results/benchmarks.csv`` compares the estimates with any
run's benchmarks and refits RATE, JOB_SECONDS and BASE_MB.
"""

from __future__ import annotations

import math

from . import runs

# -- memory ------------------------------------------------------------------------------
#: resident set of a train job at the smallest sizes (interpreter, libraries, Numba cache), MB
BASE_MB = 220.0
#: (m, m) arrays alive at the peak: A(0), A, ∇A of the current and the previous step, and
#: the float32 copy of A (half of one)
ARRAYS_MM = 4.5
#: (N, m) arrays of the training set: Z, Φ, P, Q, K, the adjoint's M and T (and its bool
#: masks), the gradient's M and S, the warm-start history (Z, K and masks of the last
#: steps), the float32 buffers of the increments
ARRAYS_NM = 14
#: (n_test, m) arrays of the test set's warm-started forward solve
ARRAYS_TEST = 6
#: (N, N) arrays of the Gram matrix of lr: auto (twice as many with track_gram)
ARRAYS_NN = 4

# -- time ----------------------------------------------------------------------------------
#: interpreter start, imports, Numba cache, data loading and writing the outputs, s
JOB_SECONDS = 1.7
#: per-step work that does not scale with m² (Python, ρ power iteration, small kernels), s
STEP_SECONDS = 1.2e-3
#: one-off cost of lr: auto and of the first steps, in GD steps (the cold step does ≈ 21
#: training iterations, the next three 15, 13, 10.5, then ≈ 9; lr: auto solves both equations
#: cold once more)
LR_STEPS = 5.0
#: full-batch iterations per GD step on the training set (forward + adjoint + ∇A)
WORK_TRAIN = 10.0
#: forward iterations per GD step on the test set
WORK_TEST = 4.0
#: sustained effective rate of one core in the products of a train job, float64 flop/s
#: (above plain DGEMM's: most iterations are float32 increments)
RATE = 6.0e10
#: serial seconds per sample-unit (one row element of an (N, m) array) per iteration: the
#: element-wise passes, row moves and warm starts
ELEMENT_SECONDS = 5.5e-9
#: speed-up of t threads over one: 1 + 0.9 (t − 1) (the Numba kernels between the products
#: are serial)
THREAD_EFFICIENCY = 0.9
#: float32 runs about twice as fast and takes half the memory
DTYPE = {"float64": (8, 1.0), "float32": (4, 2.0)}

# -- scheduler requests (see :func:`request`) --------------------------------------------------
MEM_HEADROOM, MEM_FLOOR_MB = 1.3, 500
TIME_HEADROOM, TIME_FLOOR_MIN = 2.0, 10


def speedup(threads: int) -> float:
    """Throughput of ``threads`` cores relative to one."""
    return 1.0 + THREAD_EFFICIENCY * (max(int(threads), 1) - 1)


def work_factor(gamma: float) -> float:
    """Fixed-point iterations per solve at γ relative to γ = 0.1 (where WORK_* were measured).

    A warm-started solve needs about log(start error / tol) / log(1/ρ_eff) iterations; with
    ρ_eff ≈ γ (ρ(A(0)) ≈ 2γ bounds it; the ReLU masks about halve it) this is
    log(10)/log(1/γ): 0.77 at γ = 0.05, 2.5 at 0.4, 10 at 0.8 (docs/performance.md compares it
    with measured runs).  Larger γ counts as 0.8: ρ(A(0)) ≈ 2γ > 1.6, the runs usually stop
    within a few steps, so their estimate is an upper bound.
    """
    g = min(max(float(gamma), 1e-3), 0.8)
    return math.log(10.0) / math.log(1.0 / g)


def elements(m, N, steps, *, n_test=0, gamma=0.1) -> float:
    """Sample-units passed over by the serial element-wise work of one training job."""
    w = work_factor(gamma)
    return (steps + LR_STEPS) * float(m) * (w * WORK_TRAIN * N + w * WORK_TEST * n_test)


def serial_seconds(m, N, steps, *, n_test=0, gamma=0.1, fast=1.0) -> float:
    """The job's serial seconds: start-up, per-step overhead and the element-wise passes
    (``fast``: the dtype's speed-up, 1 for float64)."""
    return (JOB_SECONDS + (steps + LR_STEPS) * STEP_SECONDS
            + ELEMENT_SECONDS * elements(m, N, steps, n_test=n_test, gamma=gamma) / fast)


def flops(m, N, d, steps, *, n_test=0, gamma=0.1, record_every=1, track_gram=False) -> float:
    """Floating-point operations of one training job (the model's m²-scaling part)."""
    w = work_factor(gamma)
    per_step = 2.0 * m * m * (w * WORK_TRAIN * N + w * WORK_TEST * n_test) + 4.0 * N * m * d
    total = (steps + LR_STEPS) * per_step
    if track_gram:  # per recorded step: adjoint to tol, Gram blocks, five eigenvalue problems
        recorded = steps // max(int(record_every), 1) + 1
        total += recorded * (2.0 * m * m * N * w * WORK_TRAIN / 2 + 8.0 * N * N * m + 5 * (4 / 3) * N**3)
    return total


def memory_terms(m, N, d, *, n_test=0, track_gram=False) -> dict:
    """The array elements alive at a job's peak, by what they scale with (the terms of the
    memory formula, in its order): ``{"m·m", "N·m", "n_test·m", "N·N", "m·d", "(N+n_test)·d"}``."""
    m, N, d, n_test = int(m), int(N), int(d or 0), int(n_test)
    return {
        "m·m": ARRAYS_MM * m * m, "N·m": ARRAYS_NM * N * m, "n_test·m": ARRAYS_TEST * n_test * m,
        "N·N": ARRAYS_NN * N * N * (2 if track_gram else 1), "m·d": 3 * m * d, "(N+n_test)·d": (N + n_test) * d,
    }


def estimate(
    m: int,
    N: int,
    d: int,
    steps: int,
    dtype: str = "float64",
    *,
    n_test: int = 0,
    threads: int = 1,
    gamma: float = 0.1,
    record_every: int = 1,
    track_gram: bool = False,
) -> dict:
    """Peak memory and time of one training job (:func:`replication.jobs.run_gd` inside the ``train`` rule).

    Returns ``{"mem_mb", "seconds", "runtime_min", "cpu_seconds"}``: peak resident set in MB,
    wall seconds with ``threads`` dedicated cores, the same in minutes, and CPU seconds used
    (the benchmark files' ``cpu_time``; a cluster bills about seconds × threads).
    ``gamma`` scales the solver iterations (:func:`work_factor`); ``track_gram`` adds, per
    recorded step, an adjoint solve to tolerance, the N×N Gram blocks and their eigenvalues.
    """
    if dtype not in DTYPE:
        raise ValueError(f"dtype must be one of {sorted(DTYPE)}, got {dtype!r}")
    itemsize, fast = DTYPE[dtype]
    m, N, d, n_test, steps, threads = int(m), int(N), int(d or 0), int(n_test), int(steps), max(int(threads), 1)
    floats = sum(memory_terms(m, N, d, n_test=n_test, track_gram=track_gram).values())
    mem_mb = BASE_MB + itemsize * floats / 2**20

    rate = RATE * fast * speedup(threads)  # flop/s of the job's cores together
    work = flops(m, N, d, steps, n_test=n_test, gamma=gamma, record_every=record_every, track_gram=track_gram)
    serial = serial_seconds(m, N, steps, n_test=n_test, gamma=gamma, fast=fast)
    seconds = serial + work / rate
    return {
        "mem_mb": mem_mb,
        "seconds": seconds,
        "runtime_min": seconds / 60,
        "cpu_seconds": serial + work * threads / rate,
    }


def estimate_row(row: dict, **override) -> dict:
    """:func:`estimate` for one row of :func:`replication.runs.run_table` (d unknown, e.g. an npz file: 784).

    A row that runs several seeds one after the other (``seeds``: a list) costs the job
    overhead once and the training once per seed; its peak memory is one seed's.
    """
    row = {**row, **override}
    est = estimate(
        row["m"], row["N"], row.get("d") or 784, row["steps"], row.get("dtype", "float64"),
        n_test=row.get("n_test", 0), threads=row.get("threads", 1), gamma=row.get("gamma", 0.1),
        record_every=row.get("record_every", 1), track_gram=row.get("track_gram", False),
    )
    k = len(row.get("seeds") or [None])
    for key in ("seconds", "cpu_seconds"):
        est[key] = JOB_SECONDS + k * (est[key] - JOB_SECONDS)
    est["runtime_min"] = est["seconds"] / 60
    return est


#: how a job of each rule counts in the model: a kernel job solves the forward equation once
#: at initialisation (memory of a GD job of one step); an adaptive RK45 step of the gradient
#: flow costs six gradients (a GD job of six times the steps)
JOB_KINDS = {
    "train": lambda row: row,
    "kernel_errors": lambda row: {**row, "n_test": 0, "steps": 1},
    "gradient_flow": lambda row: {**row, "steps": 6 * row["steps"]},
}


def concentration_estimate(row: dict) -> dict:
    """Peak memory (MB) and wall seconds of one ``concentration`` job: the neurons' features in
    chunks of 2048 and three N×N arrays; the products N·m·(d + N) at RATE and an eigenvalue
    problem (≈ 10N³ flops) per width of the grid and criterion."""
    N, d = int(row["N"]), int(row["d"])
    widths = runs.concentration_widths(row)
    mem_mb = BASE_MB + 8.0 * (N * 2048 + N * d + 3 * N * N) / 2**20
    per_seed = (2.0 * N * widths[-1] * (d + N) + 2 * len(widths) * 10.0 * N**3) / RATE
    seconds = JOB_SECONDS + len(row.get("seeds") or [None]) * per_seed
    return {"mem_mb": mem_mb, "seconds": seconds, "runtime_min": seconds / 60, "cpu_seconds": seconds}


def request(row: dict, attempt: int = 1, rule: str = "train") -> dict:
    """Scheduler request of one job: ``{"mem_mb", "runtime"}`` (MB, minutes).

    Parameters
    ----------
    row : dict
        The job's row of its run table (:mod:`replication.runs`): sizes and ``seeds``.
    attempt : int
        Snakemake's retry counter, 1 on the first try: a job killed for memory or time is
        resubmitted with twice, then three times, as much.
    rule : str
        One of :data:`JOB_KINDS`, or "concentration" (:func:`concentration_estimate`).

    Returns
    -------
    dict
        The estimate with headroom (×1.3 memory, ×2 time), at least 500 MB and 10 minutes,
        times ``attempt``.
    """
    est = concentration_estimate(row) if rule == "concentration" else estimate_row(JOB_KINDS[rule](row))
    attempt = max(int(attempt), 1)
    return {
        "mem_mb": attempt * max(MEM_FLOOR_MB, 100 * math.ceil(MEM_HEADROOM * est["mem_mb"] / 100)),
        "runtime": attempt * max(TIME_FLOOR_MIN, math.ceil(TIME_HEADROOM * est["runtime_min"])),
    }


# -- results/benchmarks.csv ---------------------------------------------------------------------
#: columns of results/benchmarks.csv (rule `benchmarks`): the job, the run's sizes, Snakemake's
#: measurements (s: wall seconds, cpu_time: CPU seconds, max_rss etc.: MB) and the estimate
SIZES = ("experiment", "run_id", "dataset", "N", "n_test", "d", "m", "gamma", "steps", "threads")
MEASURED = ("s", "cpu_time", "max_rss", "max_uss", "max_pss", "max_vms", "mean_load", "io_in", "io_out")
BENCHMARK_COLUMNS = ("rule", "wildcards", *SIZES, *MEASURED, "est_seconds", "est_cpu_seconds", "est_mem_mb")


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


def benchmarks_table(jobs, log) -> pd.DataFrame:
    """Rule ``benchmarks``: one row per job with Snakemake's measurements (the mean over a
    benchmark file's repeats) next to the cost model's estimate."""
    import pandas as pd

    rows = []
    for job in jobs:
        measured = pd.read_csv(job["path"], sep="\t").mean(numeric_only=True).to_dict()
        rows.append(benchmark_row(job, measured))
    table = pd.DataFrame(rows, columns=BENCHMARK_COLUMNS)
    log.info("%d benchmark files, %.1f CPU seconds in all", len(table), table["cpu_time"].sum())
    return table


# -- fitting and extrapolating -------------------------------------------------------------------
def fit(records) -> dict:
    """Refit RATE, JOB_SECONDS and BASE_MB to measured train jobs (rows of benchmarks.csv).

    RATE: median, over the jobs whose products take ≥ 50% of their CPU time, of flops per
    CPU second left after the serial terms (ELEMENT_SECONDS kept; ``cpu_time``: unlike wall
    time it does not grow when other processes share the cores); JOB_SECONDS and BASE_MB:
    medians of what the other terms leave over on the jobs where they dominate (None without
    such jobs).  Also returns, per job, the ratios
    estimate/measured with the current constants.
    """
    rates, overheads, bases, ratios = [], [], [], []
    for r in (r for r in records if r.get("rule", "train") == "train"):
        threads, d, gamma = int(r.get("threads") or 1), r.get("d") or 784, r.get("gamma", 0.1)
        est = estimate(r["m"], r["N"], d, r["steps"], n_test=r["n_test"], threads=threads, gamma=gamma)
        serial = serial_seconds(r["m"], r["N"], r["steps"], n_test=r["n_test"], gamma=gamma)
        compute = float(r["cpu_time"]) - serial
        if compute > 0.5 * float(r["cpu_time"]):
            rates.append(flops(r["m"], r["N"], d, r["steps"], n_test=r["n_test"], gamma=gamma) * threads / speedup(threads) / compute)
        if est["cpu_seconds"] < 2 * JOB_SECONDS:
            overheads.append(float(r["cpu_time"]) - (est["cpu_seconds"] - JOB_SECONDS))
        if est["mem_mb"] < 1.1 * BASE_MB:
            bases.append(float(r["max_rss"]))
        ratios.append({"run_id": r.get("run_id"), "seconds": est["seconds"] / float(r["s"]),
                       "cpu_seconds": est["cpu_seconds"] / float(r["cpu_time"]), "mem_mb": est["mem_mb"] / float(r["max_rss"])})
    return {"RATE": _median(rates), "JOB_SECONDS": _median(overheads), "BASE_MB": _median(bases), "ratios": ratios}


def _median(xs):
    xs = sorted(xs)
    return None if not xs else (xs[len(xs) // 2] + xs[(len(xs) - 1) // 2]) / 2


def extrapolate(record: dict, steps: int) -> dict:
    """A measured job (row of benchmarks.csv) scaled to ``steps`` GD steps: its CPU seconds
    times the model's ratio estimate(steps)/estimate(measured steps), i.e. linear in the
    steps beyond the one-off part; peak memory does not depend on the steps."""
    run = {k: record[k] for k in ("m", "N", "d", "n_test", "threads", "gamma", "steps") if k in record}
    ratio = estimate_row(run, steps=steps)["cpu_seconds"] / estimate_row(run)["cpu_seconds"]
    return {"cpu_seconds": float(record["cpu_time"]) * ratio, "max_rss": float(record["max_rss"])}


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
    """Usage (from the repository root)::

        python -m replication.cost estimate M N D STEPS [N_TEST [THREADS]]
            one job's estimate
        python -m replication.cost fit results/benchmarks.csv [STEPS]
            estimate/measured per job and refitted constants; with STEPS, each measured job
            extrapolated to STEPS GD steps
        python -m replication.cost summary CONFIG [CONFIG ...] [--cores C]
            a configuration's estimated cost per experiment (later files update earlier)
    """
    import csv
    import sys

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
            print("estimate/measured  {run_id}: wall {seconds:.2f}, CPU {cpu_seconds:.2f}, memory {mem_mb:.2f}".format(**r))
        print("fitted constants:", result)
        if len(args) > 1:
            total = 0.0
            for r in records:
                x = extrapolate(r, int(args[1]))
                total += x["cpu_seconds"]
                print(f"{r['run_id']}: {r['cpu_time']:.0f} CPU s measured over {r['steps']} steps -> "
                      f"{x['cpu_seconds'] / 3600:.2f} CPU h over {args[1]}, peak {x['max_rss']:.0f} MB")
            print(f"all: {total / 3600:.2f} CPU h")
    elif cmd == "summary":
        from .config import load_yaml
        from .runs import run_table

        cores = 2
        if "--cores" in args:
            i = args.index("--cores")
            cores = int(args[i + 1])
            del args[i : i + 2]
        config = {}
        for path in args:
            _update(config, load_yaml(path))
        print(f"{'experiment':12} {'jobs':>5} {'CPU h':>8} {'wall h (' + str(cores) + ' cores)':>17} {'longest job h':>14} {'peak MB/job':>12}")
        for s in summary(list(run_table(config).values()), cores):
            print(f"{s['experiment']:12} {s['jobs']:5d} {s['cpu_hours']:8.2f} {s['wall_hours']:17.2f} {s['max_job_hours']:14.2f} {s['max_mem_mb']:12.0f}")
    else:
        print(main.__doc__)


def _update(config: dict, other: dict) -> dict:
    """Recursive dict update, as Snakemake merges several --configfile files."""
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _update(config[key], value)
        else:
            config[key] = value
    return config


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
