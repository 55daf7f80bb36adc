"""Bad configurations and damaged files, through Snakemake, in temporary copies of the repository:

* a non-finite number, a job too large for one job's memory and a missing data file stop
  ``snakemake -n`` before any job, with the validator's message;
* after a complete run of the test configuration every intermediate file has a matching
  checksum sidecar; a damaged intermediate file stops the jobs that read it with one line (no
  traceback), nothing is written from it, and regenerating it with the command the message
  gives reproduces every result byte for byte;
* a configuration reading a data file from outside the repository writes nothing outside
  results/, figures/, logs/ and the documented caches.
"""

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from replication import integrity, runs
from tests.workflow.conftest import copy_finished
from tests.workflow.test_workflow import SNAKEMAKE, TEST_CONFIG, copy_repo, planned, snakemake, tiny_config


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("reliability"))


def run(cwd, *args, check=True):
    """snakemake in ``cwd`` with room for a complete run on a busy machine (test_workflow's helper
    allows 5 minutes)."""
    proc = subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=1200)
    proc.out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.out[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def done(finished, tmp_path_factory):
    """The tiny configuration run to completion (this module's copy of the session's run,
    tests/workflow/conftest.py: the tests below damage its files)."""
    return copy_finished(finished, tmp_path_factory.mktemp("reliability-done"))


def write_config(path: Path, config: dict) -> str:
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return str(path)


def with_width(config, widths):
    config["experiments"]["width"]["widths"] = widths
    return config


# -- refused before any job -------------------------------------------------------------------
BAD = [
    ("nan-gamma", lambda c: c["experiments"]["width"].update(gamma=math.nan) or c, [],
     ["$.experiments.width.gamma: nan is not a finite number (allowed: a finite number > 0"]),
    ("oversize-width", lambda c: with_width(c, [8, 10**6]), [],
     ["train job width/tiny_m1000000_g0.1_s0: estimated peak memory", "lower $.experiments.width.widths (m = 1000000)",
      "allow_oversize"]),
    ("oversize-declared-limit", lambda c: with_width(c, [8, 20000]), ["--resources", "max_job_mem_mb=4000"],
     ["4,000 MB (max_job_mem_mb", "train job width/tiny_m20000_g0.1_s0"]),
    ("missing-data-file", lambda c: c["datasets"].update(
        user={"kind": "npz", "path": "resources/mnist.npz", "n_train": 4, "n_test": 2, "d": None, "seed": 0}) or c, [],
     ["$.datasets.user.path: 'resources/mnist.npz' does not exist"]),
]


@pytest.mark.parametrize("change,args,expected", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_configuration_stops_the_dry_run(repo, tmp_path, change, args, expected):
    config = write_config(tmp_path / "bad.yaml", change(tiny_config()))
    proc = snakemake(repo, "-n", "--configfile", config, *args, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.out
    for text in expected:
        assert text in proc.out, proc.out[-3000:]
    assert "Job stats" not in proc.out  # no job was planned


def test_allow_oversize_plans_with_a_warning(repo, tmp_path):
    config = write_config(tmp_path / "big.yaml", with_width(tiny_config(), [8, 10**6]))
    jobs = planned(repo, "--configfile", config, "--config", "allow_oversize=true")
    assert jobs["train"] > 0
    out = snakemake(repo, "-n", "--configfile", config, "--config", "allow_oversize=true").out
    assert "warning: 2 job(s) would need more memory" in out and "width/tiny_m1000000_g0.1_s1" in out


# -- integrity of the intermediate files ------------------------------------------------------
def checked_files(repo: Path) -> list[Path]:
    """Every data set, kernel, run table and aggregated table of a run."""
    results = repo / "results"
    aggregated = [results / f"{e}.csv" for e in runs.enabled_experiments(tiny_config())]
    return sorted([*results.glob("data/*.npz"), *results.glob("kernels/*.npz"), *results.glob("runs/**/*.csv"),
                   *aggregated])


def result_bytes(repo: Path) -> dict:
    """The bytes of every result that must be reproducible: the data sets, run tables and
    aggregated tables with their sidecars, and the claims table (a kernel file also stores the
    seconds its computation took, so it differs from run to run)."""
    files = [p for p in checked_files(repo) if p.parent.name != "kernels"]
    files += [integrity.sidecar(p) for p in files] + [repo / "results" / "claims.csv", repo / "results" / "claims.md"]
    return {str(p.relative_to(repo)): p.read_bytes() for p in files}


def test_every_intermediate_file_has_a_matching_checksum(done):
    files = checked_files(done)
    # one per data set, kernel limit, job of each job table (train, kernel_errors, gradient_flow,
    # concentration) and aggregated CSV, counted from the configuration the run used
    cfg = tiny_config()
    expected = (len(runs.all_datasets(cfg)) + len(runs.kernel_limits(cfg)) + len(runs.run_table(cfg))
                + len(runs.kernel_table(cfg)) + len(runs.gf_table(cfg)) + len(runs.concentration_table(cfg))
                + len(runs.enabled_experiments(cfg)))
    assert len(files) == expected > 40
    for path in files:
        assert integrity.verify(path) == path
    sidecars = sorted((done / "results").rglob("*" + integrity.SUFFIX))
    assert sidecars == sorted(integrity.sidecar(p) for p in files)  # one per checked file, no other


def truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def flip(path: Path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


#: (case id, damaged file, damage, a job that reads it (log), an output that job would write)
DAMAGED = [
    ("truncated-data-set", "results/data/tiny-digits.npz", truncate, "logs/train/digits/tiny-digits_m8_g0.1_s0.log",
     "results/runs/digits/tiny-digits_m8_g0.1_s0.csv"),
    ("changed-kernel", "results/kernels/tiny_g0.1.npz", flip, "logs/kernel_errors/tiny_m8_g0.1_s0+1.log",
     "results/runs/kernel/tiny_m8_g0.1_s0+1.csv"),
    ("truncated-run-table", "results/runs/lazy/tiny_m16_g0.1_s0.csv", truncate, "logs/aggregate/lazy.log",
     "results/lazy.csv"),
]


@pytest.mark.parametrize("name,damage,log,output", [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_damaged_file_is_named_and_regenerated_identically(done, name, damage, log, output):
    before = result_bytes(done)
    damage(done / name)
    proc = run(done, "--cores", "2", "--configfile", TEST_CONFIG, check=False)
    assert proc.returncode != 0
    line = f"{name} is damaged"
    assert line in proc.out and f"snakemake --cores all --forcerun {name}" in proc.out
    text = (done / log).read_text()
    assert line in text and "Traceback" not in text and text.count("\n") == 1  # one line, nothing else
    assert not (done / output).exists()  # nothing was written from the damaged file
    run(done, "--cores", "2", "--forcerun", name, "--configfile", TEST_CONFIG)
    after = result_bytes(done)
    assert after.keys() == before.keys()
    assert [k for k in before if before[k] != after[k]] == []  # byte-identical results


# -- nothing is written outside results/, figures/, logs/ --------------------------------------
#: what a run may create or change in the repository: its outputs, Snakemake's metadata and the
#: Python and Numba caches of the packages (docs/configuration.md, "Where the workflow writes")
ALLOWED = ("results", "figures", "logs", ".snakemake")


def snapshot(root: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_nothing_is_written_outside_the_output_folders(tmp_path):
    """A configuration whose data file lives outside the repository: the file is only read."""
    (tmp_path / "repo").mkdir()
    repo = copy_repo(tmp_path / "repo")
    elsewhere = tmp_path / "data"
    elsewhere.mkdir()
    rng = np.random.default_rng(0)
    np.savez(elsewhere / "mnist.npz", x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
             y_train=np.arange(40) % 10, x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             y_test=np.arange(20) % 10)
    config = tiny_config()
    config["datasets"] = {"mnist": {"kind": "npz", "path": str(elsewhere / "mnist.npz"), "classes": [0, 1],
                                    "n_train": 6, "n_test": 2, "d": None, "seed": 0}}
    config["experiments"] = {"digits": {"datasets": ["mnist"], "gamma": 0.1, "widths": [8], "seeds": [0]}}
    config_file = write_config(tmp_path / "outside.yaml", config)
    before = snapshot(tmp_path)
    run(repo, "--cores", "2", "--configfile", config_file)
    after = snapshot(tmp_path)
    changed = [p.relative_to(tmp_path) for p in after if before.get(p) != after[p]]
    assert changed and [p for p in before if p not in after] == []  # nothing deleted
    stray = [p for p in changed
             if not (p.parts[0] == "repo" and (p.parts[1] in ALLOWED or "__pycache__" in p.parts))]
    assert stray == []
    assert (repo / "results" / "data" / "mnist.npz").is_file() and (repo / "figures" / "digits.png").is_file()
    assert os.listdir(elsewhere) == ["mnist.npz"]
