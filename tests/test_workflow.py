"""The Snakemake workflow, end to end on the tiny configuration, in a temporary copy of the repository.

Marked ``workflow``: ``pytest -m workflow`` runs only these, ``-m "not workflow"`` skips them.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TEST_CONFIG = "workflow/config/test.yaml"
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
import wfconfig  # noqa: E402

pytestmark = pytest.mark.workflow


def snakemake(cwd, *args, check=True):
    """Run snakemake in ``cwd``; returns the CompletedProcess with stdout+stderr in ``.out``."""
    proc = subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    proc.out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.out[-4000:]}")
    return proc


def planned(cwd, *args) -> dict:
    """{rule: job count} that `snakemake -n` would run ({} when nothing is to be done)."""
    out = snakemake(cwd, "-n", *args).out
    if "Nothing to be done" in out:
        return {}
    jobs = {}
    for line in out.split("Job stats:", 1)[1].splitlines()[3:]:  # after "job count" and "---"
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        jobs[match[1]] = int(match[2])
    jobs.pop("total")
    return jobs


def copy_repo(dest: Path) -> Path:
    """The files the workflow needs (mtimes kept, so Numba's on-disk cache stays valid)."""
    for name in ("Snakefile", "environment.yml", "implicit", "workflow", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def done(repo):
    """The tiny configuration run to completion once (shared by the tests below)."""
    snakemake(repo, "--cores", "2", "--configfile", TEST_CONFIG)
    return repo


def run_table():
    return wfconfig.run_table(yaml.safe_load((ROOT / TEST_CONFIG).read_text()))


# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", ["workflow/config/default.yaml", "workflow/config/paper.yaml", TEST_CONFIG])
def test_dry_run(repo, config):
    jobs = planned(repo, "--configfile", config)
    table = wfconfig.run_table(yaml.safe_load((ROOT / config).read_text()))
    assert jobs["train"] == len(table)
    assert jobs["plot"] == 2 and jobs["claims"] == 1


def test_lint_is_clean(repo):
    assert "Congratulations, your workflow is in a good condition" in snakemake(repo, "--lint").out


def test_every_output_exists(done):
    ds_names = yaml.safe_load((ROOT / TEST_CONFIG).read_text())["datasets"]
    expected = [f"results/data/{n}.npz" for n in ds_names]
    for exp, run_id in run_table():
        expected += [f"results/runs/{exp}/{run_id}.csv", f"results/runs/{exp}/{run_id}.json",
                     f"results/benchmarks/train/{exp}/{run_id}.tsv", f"logs/train/{exp}/{run_id}.log"]
    for exp in ("width", "gamma"):
        expected += [f"results/{exp}.csv", f"figures/{exp}.png", f"figures/{exp}.pdf"]
    expected += ["results/claims.csv", "results/claims.md"]
    missing = [p for p in expected if not (done / p).is_file() or (done / p).stat().st_size == 0]
    assert not missing
    leftovers = [p for p in done.rglob("*.tmp")]
    assert not leftovers  # atomic writes leave no temporary files


def documented_columns():
    """Column names in the README's "Reading the CSVs" tables (first cell, in backticks)."""
    text = (ROOT / "README.md").read_text().split("## Reading the CSVs", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z_0-9]+)`", text, flags=re.M))


def test_csvs_have_the_documented_columns(done):
    import implicit
    from gdrun import RUN_COLUMNS

    documented = documented_columns()
    for exp in ("width", "gamma"):
        agg = pd.read_csv(done / f"results/{exp}.csv")
        assert list(agg.columns[: len(RUN_COLUMNS)]) == list(RUN_COLUMNS)
        assert set(implicit.TRACE_COLUMNS) - {"seconds"} <= set(agg.columns)
        assert "seconds" not in agg.columns  # wall time lives in the JSON sidecar
        assert set(agg.columns) <= documented, set(agg.columns) - documented
        runs = [k for k in run_table() if k[0] == exp]
        assert sorted(agg["run_id"].unique()) == sorted(r for _, r in runs)
        for _, run_id in runs:
            one = pd.read_csv(done / f"results/runs/{exp}/{run_id}.csv")
            assert list(one.columns) == list(agg.columns)
    claims = pd.read_csv(done / "results/claims.csv")
    assert list(claims.columns) == ["claim", "experiment", "measured", "threshold", "pass", "status", "note"]
    assert set(claims["status"]) == {"not yet evaluated"}


def test_runs_record_parameters_and_provenance(done):
    df = pd.read_csv(done / "results/width.csv")
    one = df[df["run_id"] == "tiny_m24_g0.1_s1"]
    assert set(one["m"]) == {24} and set(one["seed"]) == {1} and set(one["gamma"]) == {0.1}
    assert set(one["trainable"]) == {"A+W+u+v"} and set(one["status"]) == {"completed"}
    assert one["step"].tolist() == [0, 5, 10, 15]  # record_every = 5, steps = 15
    assert one["train_loss"].iloc[-1] < one["train_loss"].iloc[0]
    meta = json.loads((done / "results/runs/width/tiny_m24_g0.1_s1.json").read_text())
    for key in ("package_version", "git", "python", "numpy", "numba", "pandas", "blas", "threads",
                "config_hash", "engine_hash", "seed", "wall_seconds", "run", "dataset"):
        assert key in meta, key
    assert meta["seed"] == 1 and meta["threads"]["numba"] == 1


def test_failed_run_is_recorded_not_fatal(done):
    df = pd.read_csv(done / "results/gamma.csv")
    bad = df[df["gamma"] == 3.0]
    assert len(bad) == 1 and bad["status"].item() == "stopped" and bad["failure"].item()
    assert "did not converge" in bad["reason"].item()
    assert bad["rho"].item() > 1 and bad["fwd_residual"].item() > 1e-10 and pd.isna(bad["train_loss"].item())
    good = df[df["gamma"] == 0.1]
    assert set(good["status"]) == {"completed"} and not good["failure"].any()


def test_second_invocation_plans_nothing(done):
    assert planned(done, "--configfile", TEST_CONFIG) == {}


def test_replot_without_retraining(done):
    (done / "figures/width.png").unlink()
    assert planned(done, "figures/width.png", "--configfile", TEST_CONFIG) == {"plot": 1}
    before = {p: p.stat().st_mtime_ns for p in (done / "results").rglob("*.csv")}
    snakemake(done, "figures/width.png", "--cores", "1", "--configfile", TEST_CONFIG)
    assert (done / "figures/width.png").is_file()
    assert before == {p: p.stat().st_mtime_ns for p in (done / "results").rglob("*.csv")}


def edited(path: Path, check):
    """Append a comment to ``path``, call ``check()``, restore the content."""
    text = path.read_text()
    path.write_text(text + "\n# an edit\n")
    try:
        return check()
    finally:
        path.write_text(text)


@pytest.mark.parametrize("source", ["implicit/solver.py", "workflow/scripts/gdrun.py"])
def test_engine_edit_reruns_training(done, source):
    jobs = edited(done / source, lambda: planned(done, "--configfile", TEST_CONFIG))
    assert jobs.get("train") == len(run_table()) and "data" not in jobs
    # the dependency is on content: with the text restored, nothing is left to do
    assert planned(done, "--configfile", TEST_CONFIG) == {}


def test_data_edit_reruns_data(done):
    jobs = edited(done / "implicit/data.py", lambda: planned(done, "--configfile", TEST_CONFIG))
    assert jobs.get("data") == 2 and jobs.get("train") == len(run_table())


def test_plotting_edit_reruns_only_plots(done):
    jobs = edited(done / "implicit/plotting.py", lambda: planned(done, "--configfile", TEST_CONFIG))
    assert jobs == {"plot": 2, "all": 1}
    snakemake(done, "--touch", "--cores", "1", "--configfile", TEST_CONFIG)


def test_report(done):
    snakemake(done, "--report", "results/report.html", "--configfile", TEST_CONFIG)
    html = (done / "results/report.html").read_text(errors="replace")
    assert "width.png" in html and "gamma.png" in html


@pytest.mark.parametrize("key,value,expected", [
    ("experiments.width.gamma", 0.7, ["$.experiments.width.gamma", "0.7", "well-posedness"]),
    ("training.lr", "fast", ["$.training.lr", "'fast'"]),
    ("training.tol", 1.5, ["$.training.tol", "1.5"]),
    ("experiments.width.widths", [0], ["$.experiments.width.widths[0]", "0"]),
    ("new-dataset:../x", {"kind": "random-labels", "n_train": 4, "n_test": 0, "d": 3, "seed": 0}, ["$.datasets", "'../x'"]),
    ("new-dataset:a;touch pwned", {"kind": "random-labels", "n_train": 4, "n_test": 0, "d": 3, "seed": 0}, ["$.datasets", "'a;touch pwned'"]),
])
def test_bad_config_stops_snakemake(repo, tmp_path, key, value, expected):
    from test_config_validation import mutate

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutate(key, value), allow_unicode=True))
    proc = snakemake(repo, "-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    for text in expected:
        assert text in proc.out
    assert not (repo / "pwned").exists() and not (repo.parent / "x.npz").exists()


@pytest.mark.parametrize("target", [
    "results/data/../../x.npz", "results/data/undefined.npz", "results/runs/width/a;touch pwned.csv",
    "results/runs/width/not-a-run.csv", "results/runs/kernel/tiny_m8_g0.1_s0.csv",
])
def test_unsafe_or_unknown_targets_are_refused(repo, target):
    proc = snakemake(repo, target, "-n", "--configfile", TEST_CONFIG, check=False)
    assert proc.returncode != 0
    assert re.search(r"MissingRuleException|No rule to produce|not in the run table", proc.out), proc.out[-2000:]
    assert not (repo / "pwned").exists()
