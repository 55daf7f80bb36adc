"""Cluster execution (docs/cluster.md), in temporary copies of the repository.

* the workflow's test configuration through ``snakemake --executor cluster-generic`` with
  the SLURM profile and a fake batch system (tests/fake_submit.sh): every non-local job runs
  from its own job script, in a separate process, as on a cluster node;
* one experiment through the SLURM profile as it is, on a real one-node SLURM cluster
  (``.ci/slurm-up`` starts one as root; CI does, and sets ``IMPLICIT_REQUIRE_SLURM=1``, which turns
  the skip without a cluster into a failure);
* ``snakemake -n --workflow-profile profiles/slurm --configfile workflow/config/paper.yaml``
  plans the whole paper-scale DAG, with the cost model's requests, growing with the attempt;
* the cost model (replication/cost.py): its documented formula, and its estimates against
  the benchmark files of real train jobs at two sizes, memory and CPU time within a factor of 2.

Marked ``workflow`` (they run Snakemake); about three minutes of a quiet 2-core machine in all.
"""

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
FAKE_SUBMIT = ROOT / "tests" / "workflow" / "fake_submit.sh"
TEST_CONFIG = "workflow/config/test.yaml"
PAPER_CONFIG = "workflow/config/paper.yaml"
from replication import config as cfg, cost, runs


#: rules that must run in the main process (Snakefile `localrules`), never as cluster jobs
LOCAL_RULES = {"all", "aggregate", "plot", "claims", "benchmarks"}


def slurm_reachable() -> bool:
    """A SLURM controller answers ``sinfo`` with at least one usable node."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return False
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(re.search(r"^(idle|mix|alloc)", proc.stdout, re.M))


REQUIRE_SLURM = os.environ.get("IMPLICIT_REQUIRE_SLURM") == "1"


def snakemake(cwd, *args, env=None, timeout=1500):
    """Run snakemake in ``cwd``; fail with the end of its output if it fails. The tests read
    each job's block (wildcards, resources), which IMPLICIT_JOB_DETAILS=1 prints instead of the
    rules' messages (workflow/rules/common.smk)."""
    proc = subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "IMPLICIT_JOB_DETAILS": "1", **(env or {})})
    proc.out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.out[-5000:]}")
    return proc


@pytest.fixture(scope="module")
def numba_cache():
    """Compile the engine's Numba kernels into implicit/__pycache__ once, before the copies are
    made: in a fresh clone every job would otherwise compile them (seconds, not the cost model's)."""
    code = ("import numpy as np, implicit; p = implicit.init_params(3, 4, 0); "
            "implicit.train(p, np.eye(3), np.ones(3), 0.1, lr=0.01, steps=2, X_test=np.eye(3), y_test=np.ones(3))")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)


def copy_repo(dest: Path) -> Path:
    """The files the workflow needs (mtimes kept, so Numba's on-disk cache stays valid)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "environment.yml", "implicit", "replication", "workflow", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest


def dry_run_jobs(out: str) -> list[dict]:
    """[{rule, jobid, wildcards, resources}] of every job a Snakemake output lists (`-n` or a run)."""
    jobs, fields = [], None
    for line in out.splitlines():
        head = re.fullmatch(r"(?:local)?rule (\w+):", line)
        if head:
            fields = {"rule": head[1]}
            jobs.append(fields)
        elif fields is not None and (item := re.fullmatch(r"    (\w+): (.*)", line)):
            fields[item[1]] = item[2]
        else:
            fields = None
    return [{"rule": job["rule"], "jobid": job.get("jobid"),
             "wildcards": dict(re.findall(r"(\w+)=([^,\s]+)", job.get("wildcards", ""))),
             "resources": dict(re.findall(r"(\w+)=([^,\s]+)", job.get("resources", "")))} for job in jobs]


# --------------------------------------------------------------------------------------
#: the experiments of the test configuration that test_jobs_run_from_their_job_scripts runs: one
#: of each computing rule (train, kernel_errors, kernel_limit, gradient_flow, concentration);
#: each job is a separate Snakemake process there, so the whole configuration would take minutes
#: (trimmed to the fewest jobs that still run every rule: width with one seed, its two train jobs
#: standing for every train job; see the test)
CLUSTER_EXPERIMENTS = ("width", "kernel", "flow", "concentration")


def test_jobs_run_from_their_job_scripts(tmp_path, numba_cache):
    """The test configuration's experiments with one of each computing rule, end to end through
    cluster-generic + tests/fake_submit.sh."""
    repo = copy_repo(tmp_path / "repo")
    config = yaml.safe_load((ROOT / TEST_CONFIG).read_text())
    config["experiments"] = {k: v for k, v in config["experiments"].items() if k in CLUSTER_EXPERIMENTS}
    config["experiments"]["width"]["seeds"] = [0]
    config["experiments"]["kernel"]["widths"] = [8, 32]  # two kernel_errors jobs
    config["experiments"]["concentration"]["seeds"] = [0]  # one concentration job per N
    for key in ("gf_control_m", "gf_control_horizon"):  # the long solve at m = 16 stands for the control's
        config["experiments"]["flow"].pop(key, None)
    used = {d for block in config["experiments"].values() for d in block.get("datasets", [])}
    config["datasets"] = {k: v for k, v in config["datasets"].items() if k in used}
    (repo / "cluster-test.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    spool = tmp_path / "spool"
    submit = f"{FAKE_SUBMIT} --cpus-per-task={{threads}} --mem={{resources.mem_mb}} --time={{resources.runtime}} --job-name={{rule}}"
    proc = snakemake(
        repo, "--workflow-profile", "profiles/slurm", "--executor", "cluster-generic",
        "--cluster-generic-submit-cmd", submit, "--jobs", "4", "--latency-wait", "5",
        "--seconds-between-status-checks", "1", "--configfile", "cluster-test.yaml",
        env={"FAKE_SUBMIT_SPOOL": str(spool)},
    )
    table = runs.run_table(config)

    # every data and train job went through the fake batch system, no local rule did
    submissions = [line.split("\t") for line in (spool / "submissions.tsv").read_text().splitlines()]
    options = {job_id: dict(re.findall(r"--([\w-]+)=(\S+)", opts)) for job_id, opts in submissions}
    rules = [o["job-name"] for o in options.values()]
    assert rules.count("train") == len(table) and rules.count("data") >= len(config["datasets"])
    assert not LOCAL_RULES & set(rules)
    for rule in LOCAL_RULES - {"all"}:
        assert re.search(rf"localrule {rule}:", proc.out), rule

    # each ran its own job script, a separate `python -m snakemake` for that one job, with the
    # requests of the cost model in its submission
    for job_id, opts in options.items():
        script = (spool / f"{job_id}.sh").read_text()
        target = re.search(r"--target-jobs '(\w+):([^']*)'", script)
        assert target and target[1] == opts["job-name"] and "-m snakemake" in script
        output = (spool / f"{job_id}.out").read_text()
        assert "1 of 1 steps (100%) done" in output, output[-2000:]
        if target[1] == "train":
            wildcards = dict(kv.split("=", 1) for kv in target[2].split(","))
            row = table[(wildcards["experiment"], wildcards["run_id"])]
            req = cost.request(row)
            assert (int(opts["mem"]), int(opts["time"])) == (req["mem_mb"], req["runtime"])
            assert int(opts["cpus-per-task"]) == row["threads"]

    # the outputs are complete, benchmarks.csv included
    for exp in CLUSTER_EXPERIMENTS:
        assert (repo / f"figures/{exp}.png").stat().st_size > 0
    bench = pd.read_csv(repo / "results/benchmarks.csv")
    assert list(bench.columns) == list(cost.BENCHMARK_COLUMNS)
    train = bench[bench["rule"] == "train"]
    assert sorted(train["run_id"]) == sorted(r for _, r in table)
    assert train["est_seconds"].notna().all()  # the cost model covers the train jobs
    # every job with a benchmark: file is a row, the non-GD rules of kernel and flow too
    others = bench[bench["rule"] != "train"]["rule"].value_counts().to_dict()
    assert others == {"kernel_errors": len(runs.kernel_table(config)),
                      "kernel_limit": len(runs.kernel_limits(config)),
                      "gradient_flow": len(runs.gf_table(config)),
                      "concentration": len(runs.concentration_table(config))}
    assert all(others.values())
    assert (bench["s"] > 0).all() and (bench["max_rss"] > 0).all()


def scontrol_job(slurm_id: str) -> dict:
    """The fields of ``scontrol -o show job <id>`` (known to the controller for MinJobAge)."""
    out = subprocess.run(["scontrol", "-o", "show", "job", slurm_id], capture_output=True, text=True,
                         timeout=20, check=True).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


def minutes(limit: str) -> int:
    """SLURM's [D-]HH:MM:SS time limit in minutes."""
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def megabytes(mem: str) -> int:
    """SLURM's memory field (``500M``, ``2G``) in MB."""
    return int(float(mem[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[mem[-1]])


def test_jobs_run_as_slurm_jobs(tmp_path, numba_cache):
    """One experiment of the test configuration through profiles/slurm as it is, on a real
    SLURM cluster: its data and train jobs are sbatch jobs with the cost model's requests
    (memory, time limit, CPUs), they complete, and the local rules stay in this process."""
    if not slurm_reachable():  # asked here, not at collection: sinfo can wait for its timeout
        assert not REQUIRE_SLURM, "IMPLICIT_REQUIRE_SLURM=1, but no SLURM controller answers sinfo"
        pytest.skip("no SLURM cluster answers sinfo (start one as root: .ci/slurm-up)")
    repo = copy_repo(tmp_path / "repo")
    config = yaml.safe_load((ROOT / TEST_CONFIG).read_text())
    config["training"]["threads"] = 2  # so that the CPUs asked for differ from sbatch's default
    config["experiments"]["width"]["seeds"] = [0]  # two train jobs (m = 8, 24) and their data job
    (repo / "slurm-test.yaml").write_text(yaml.safe_dump(config))
    # .ci/slurm-up's cluster has no accounting database, so sacct cannot tell job states;
    # squeue can (finished jobs stay listed for MinJobAge). First status check after 2 s.
    proc = snakemake(repo, "results/width.csv", "--workflow-profile", "profiles/slurm",
                     "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
                     "--latency-wait", "5", "--configfile", "slurm-test.yaml")
    width = {run_id: row for (exp, run_id), row in runs.run_table(config).items() if exp == "width"}
    datasets = set(config["experiments"]["width"]["datasets"])

    jobs = {job["jobid"]: job for job in dry_run_jobs(proc.out)}
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", proc.out)
    seen = {"data": [], "train": []}
    for job_id, slurm_id in submitted:
        job, info = jobs[job_id], scontrol_job(slurm_id)
        assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), info
        request = (megabytes(info["MinMemoryNode"]), minutes(info["TimeLimit"]), int(info["CPUs/Task"]))
        if job["rule"] == "train":
            row = width[job["wildcards"]["run_id"]]
            req = cost.request(row)
            assert request == (req["mem_mb"], req["runtime"], row["threads"]), (job, info)
            seen["train"].append(job["wildcards"]["run_id"])
        else:  # profiles/slurm: set-resources data
            assert job["rule"] == "data" and request == (1000, 10, 1), (job, info)
            seen["data"].append(job["wildcards"]["dataset"])
    assert sorted(seen["train"]) == sorted(width) and set(seen["data"]) == datasets
    assert re.search(r"localrule aggregate:", proc.out)
    assert len(pd.read_csv(repo / "results/width.csv")) > 0


def test_paper_sweep_overlay_plans_the_width_sweep_only(tmp_path):
    """docs/cluster.md's measurement of the paper-scale cost: benchmarks/paper_sweep.yaml on top of
    paper.yaml is the width experiment's four train jobs (m = 500 … 4000), nothing else."""
    repo = copy_repo(tmp_path / "repo")
    overlay = str(ROOT / "benchmarks" / "paper_sweep.yaml")
    jobs = dry_run_jobs(snakemake(repo, "-n", "results/benchmarks.csv", "--configfile", PAPER_CONFIG, overlay).out)
    train = [j for j in jobs if j["rule"] == "train"]
    assert sorted(j["rule"] for j in jobs) == sorted(["benchmarks", "data"] + ["train"] * 4)
    assert {j["wildcards"]["experiment"] for j in train} == {"width"}


def test_slurm_profile_plans_the_paper_dag(tmp_path):
    """`snakemake -n --workflow-profile profiles/slurm --configfile workflow/config/paper.yaml`."""
    repo = copy_repo(tmp_path / "repo")
    env = {"IMPLICIT_SLURM_ACCOUNT": "proj-42", "IMPLICIT_SLURM_PARTITION": "cpu-long"}
    args = ("-n", "--workflow-profile", "profiles/slurm", "--configfile", PAPER_CONFIG)
    jobs = dry_run_jobs(snakemake(repo, *args, env=env).out)
    config = yaml.safe_load((ROOT / PAPER_CONFIG).read_text())
    table = runs.run_table(config)

    counts = {}
    for job in jobs:
        counts[job["rule"]] = counts.get(job["rule"], 0) + 1
    # the full paper-scale DAG, every rule's job count exactly (test_workflow's test_dry_run
    # does this for the other configurations; the paper DAG takes half a minute to plan)
    assert len(table) >= 100
    from tests.workflow.test_workflow import job_counts

    for rule, n in job_counts(config).items():
        assert counts.get(rule, 0) == n, rule
    experiments = runs.enabled_experiments(config)
    assert counts["data"] == len(runs.all_datasets(config))
    assert counts["aggregate"] == counts["plot"] == len(experiments)
    assert counts["claims"] == counts["benchmarks"] == counts["all"] == 1

    for job in jobs:
        res = job["resources"]
        if job["rule"] == "all":
            continue
        # account and partition from the environment, on every job
        assert (res.get("slurm_account"), res.get("slurm_partition")) == ("proj-42", "cpu-long"), job
        if job["rule"] == "train":
            row = table[(job["wildcards"]["experiment"], job["wildcards"]["run_id"])]
            req = cost.request(row)
            assert (int(res["mem_mb"]), int(res["runtime"])) == (req["mem_mb"], req["runtime"])
        else:
            assert "runtime" in res and "mem_mb" in res

    # a retry asks for more: attempt 2 doubles the train jobs' memory and time; without the
    # variables no account or partition is passed (the plugin then picks its defaults); planned
    # on the test configuration, whose DAG is quick to build
    unset = {"IMPLICIT_SLURM_ACCOUNT": "", "IMPLICIT_SLURM_PARTITION": ""}
    args = ("-n", "--workflow-profile", "profiles/slurm", "--configfile", TEST_CONFIG)
    test_table = runs.run_table(yaml.safe_load((ROOT / TEST_CONFIG).read_text()))
    retry = dry_run_jobs(snakemake(repo, *args, "--attempt", "2", env=unset).out)
    assert not any("slurm_account" in j["resources"] or "slurm_partition" in j["resources"] for j in retry)
    retry = {(j["wildcards"]["experiment"], j["wildcards"]["run_id"]): j["resources"] for j in retry if j["rule"] == "train"}
    assert len(retry) == len(test_table)
    for key, row in test_table.items():
        req = cost.request(row)
        assert (int(retry[key]["mem_mb"]), int(retry[key]["runtime"])) == (2 * req["mem_mb"], 2 * req["runtime"])
    row = max(table.values(), key=lambda r: r["m"])  # the paper's widest train job
    req = cost.request(row)
    assert cost.request(row, attempt=3) == {"mem_mb": 3 * req["mem_mb"], "runtime": 3 * req["runtime"]}
    assert req["mem_mb"] > cost.MEM_FLOOR_MB and req["runtime"] > cost.TIME_FLOOR_MIN  # sized by the model, not floors


def test_cost_estimate_is_the_documented_formula():
    """estimate() is cost.py's formula: products at RATE·speedup, serial element passes, the
    one-off LR_STEPS; float32 halves the time-dependent part (γ = 0.1: work factor 1)."""
    m, N, d, steps, n_test, threads = 1000, 300, 50, 40, 100, 2
    flops = 2 * m * m * (cost.WORK_TRAIN * N + cost.WORK_TEST * n_test) + 4 * N * m * d
    units = m * (cost.WORK_TRAIN * N + cost.WORK_TEST * n_test)
    n = steps + cost.LR_STEPS
    rate = cost.RATE * cost.speedup(threads)
    for dtype, fast in (("float64", 1), ("float32", 2)):
        est = cost.estimate(m, N, d, steps, dtype, n_test=n_test, threads=threads)
        serial = cost.JOB_SECONDS + n * cost.STEP_SECONDS + n * cost.ELEMENT_SECONDS * units / fast
        assert est["seconds"] == pytest.approx(serial + n * flops / (fast * rate))
        assert est["cpu_seconds"] == pytest.approx(serial + n * flops * threads / (fast * rate))


#: two sizes for the cost model: overhead-dominated (m = 64) and product-dominated (m = 1500,
#: where the arrays are about half of the peak memory); 1 thread, 5 GD steps
COST_CONFIG = {
    "datasets": {"cost": {"kind": "sphere-linear", "n_train": 400, "n_test": 200, "d": 100, "seed": 1}},
    "training": {"lr": "auto", "steps": 5, "tol": 1.0e-10, "max_iter": 1000, "record_every": 1,
                 "method": "fixed-point", "trainable": ["A", "W", "u", "v"], "threads": 1},
    "experiments": {"width": {"datasets": ["cost"], "gamma": 0.1, "widths": [64, 1500], "seeds": [0]}},
    "claims": {},
}


def test_cost_model_matches_measured_benchmarks(tmp_path, numba_cache):
    """Estimated peak memory and CPU time of two real train jobs within a factor of 2 (wall time: a
    warning only)."""
    repo = copy_repo(tmp_path / "repo")
    (repo / "cost.yaml").write_text(yaml.safe_dump(COST_CONFIG))
    snakemake(repo, "results/benchmarks.csv", "--cores", "1", "--configfile", "cost.yaml")  # target first:
    # --configfile takes every argument after it
    bench = pd.read_csv(repo / "results/benchmarks.csv").set_index("m")
    assert sorted(bench.index) == [64, 1500]
    for m, job in bench.iterrows():
        est = cost.estimate(m, job["N"], job["d"], job["steps"], n_test=job["n_test"], threads=job["threads"])
        assert est["mem_mb"] == pytest.approx(job["est_mem_mb"]) and est["seconds"] == pytest.approx(job["est_seconds"])
        ratios = {"max_rss": est["mem_mb"] / job["max_rss"], "cpu_time": est["cpu_seconds"] / job["cpu_time"],
                  "s": est["seconds"] / job["s"]}
        report = f"m={m}: estimate/measured {ratios} (measured s={job['s']}, cpu_time={job['cpu_time']}, max_rss={job['max_rss']})"
        assert 0.5 <= ratios["max_rss"] <= 2 and 0.5 <= ratios["cpu_time"] <= 2, report
        # wall time is not asserted: it depends on what else the machine runs (make test runs
        # two pytest workers side by side); the estimate's wall time is the CPU estimate over the
        # thread speed-up, checked by test_cost_estimate_is_the_documented_formula
        if not 0.5 <= ratios["s"] <= 2:
            warnings.warn(f"wall time off by more than 2× (a busy machine?): {report}")
