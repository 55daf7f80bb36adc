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

from replication import config as cfg, cost, runs

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TEST_CONFIG = "workflow/config/test.yaml"



def snakemake(cwd, *args, check=True):
    """Run snakemake in ``cwd``; returns the CompletedProcess with stdout+stderr in ``.out``."""
    proc = subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=1200)  # a bound on a hung run, not a speed test
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
    for name in ("Snakefile", "environment.yml", "implicit", "replication", "workflow", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def done(finished, tmp_path_factory):
    """The tiny configuration run to completion (this module's copy of the session's run,
    tests/workflow/conftest.py; shared by the tests below)."""
    from tests.workflow.conftest import copy_finished

    return copy_finished(finished, tmp_path_factory.mktemp("done"))


def tiny_config():
    return yaml.safe_load((ROOT / TEST_CONFIG).read_text())


def run_table():
    return runs.run_table(tiny_config())


EXPERIMENTS = runs.enabled_experiments(tiny_config())
GD = [e for e in EXPERIMENTS if e in runs.EXPANDERS]


def job_counts(config) -> dict:
    """{rule: jobs} of the computing rules for ``config``."""
    return {"train": len(runs.run_table(config)), "kernel_errors": len(runs.kernel_table(config)),
            "kernel_limit": len(runs.kernel_limits(config)), "gradient_flow": len(runs.gf_table(config)),
            "concentration": len(runs.concentration_table(config))}


# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", ["workflow/config/default.yaml", TEST_CONFIG, "workflow/config/sibling-fig1.yaml"])
def test_dry_run(repo, config, mnist):
    """The job counts of each configuration's plan (paper.yaml's: test_cluster's
    test_slurm_profile_plans_the_paper_dag, with the SLURM profile)."""
    jobs = planned(repo, "--configfile", config)
    cfg = yaml.safe_load((ROOT / config).read_text())
    experiments = runs.enabled_experiments(cfg)
    every = set(runs.EXPANDERS) | set(runs.OTHER_EXPERIMENTS)
    # the test configuration has every experiment; sibling-fig1 has its own configuration
    expected = {TEST_CONFIG: every, "workflow/config/sibling-fig1.yaml": {"sibling-fig1"}}.get(config, every - {"sibling-fig1"})
    assert set(experiments) == expected
    for rule, n in job_counts(cfg).items():
        assert jobs.get(rule, 0) == n, rule
    assert jobs["plot"] == jobs["aggregate"] == len(experiments) and jobs["claims"] == 1
    assert jobs["data"] == len(runs.all_datasets(cfg))


def test_lint_is_clean(repo):
    assert "Congratulations, your workflow is in a good condition" in snakemake(repo, "--lint").out


def test_every_output_exists(done):
    ds_names = yaml.safe_load((ROOT / TEST_CONFIG).read_text())["datasets"]
    expected = [f"results/data/{n}.npz" for n in ds_names]
    for exp, run_id in run_table():
        expected += [f"results/runs/{exp}/{run_id}.csv", f"results/runs/{exp}/{run_id}.json",
                     f"results/benchmarks/train/{exp}/{run_id}.tsv", f"logs/train/{exp}/{run_id}.log"]
    for run_id in runs.kernel_table(tiny_config()):
        expected += [f"results/runs/kernel/{run_id}.csv", f"results/runs/kernel/{run_id}.json"]
    for run_id in runs.gf_table(tiny_config()):
        expected += [f"results/runs/flow/gf/{run_id}.csv", f"results/runs/flow/gf/{run_id}.json"]
    expected += [f"results/kernels/{ds}_g{g:g}.npz" for ds, g in runs.kernel_limits(tiny_config())]
    expected += [f"results/data/{n}.npz" for n in runs.derived_datasets(tiny_config())]
    for exp in EXPERIMENTS:
        expected += [f"results/{exp}.csv", f"figures/{exp}.png", f"figures/{exp}.pdf"]
    expected += ["results/claims.csv", "results/claims.md", "results/claims.html"]
    missing = [p for p in expected if not (done / p).is_file() or (done / p).stat().st_size == 0]
    assert not missing
    leftovers = [p for p in done.rglob("*.tmp")]
    assert not leftovers  # atomic writes leave no temporary files


def documented_columns():
    """Column names in docs/outputs.md's "Reading the CSVs" tables (first cell, in backticks)."""
    text = (ROOT / "docs" / "outputs.md").read_text().split("## Reading the CSVs", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z_0-9]+)`", text, flags=re.M))


def test_csvs_have_the_documented_columns(done):
    import implicit
    from replication.fits import SUMMARY_COLUMNS
    from replication.jobs import RUN_COLUMNS

    documented = documented_columns()
    table = run_table()
    for exp in EXPERIMENTS:
        agg = pd.read_csv(done / f"results/{exp}.csv")
        assert set(agg.columns) <= documented, (exp, set(agg.columns) - documented)
        if exp not in GD:
            continue
        assert list(agg.columns[: len(RUN_COLUMNS)]) == list(RUN_COLUMNS)
        assert set(implicit.TRACE_COLUMNS) - {"seconds"} <= set(agg.columns)
        assert "seconds" not in agg.columns  # wall time lives in the JSON sidecar
        assert set(SUMMARY_COLUMNS) <= set(agg.columns)
        jobs = [row for (e, _), row in table.items() if e == exp]
        gd = agg[agg["method"] == "GD"] if exp == "flow" else agg
        assert sorted(gd["run_id"].unique()) == sorted(r for row in jobs for r in row["run_ids"])  # one id per seed
        for row in jobs:
            one = pd.read_csv(done / f"results/runs/{exp}/{row['run_id']}.csv")
            assert set(one.columns) <= set(agg.columns) and sorted(one["seed"].unique()) == sorted(row["seeds"])
    assert set(implicit.GRAM_COLUMNS) <= set(pd.read_csv(done / "results/gram.csv").columns)
    lw = pd.read_csv(done / "results/linear-width.csv")
    assert {"target", "min_fraction", "singular_tol", "budget", "capped", "lambda_min_H0"} <= set(lw.columns)
    assert sorted(lw["N"].unique()) == [4, 8] and set(lw["trainable"]) == {"u+v", "A+W+u+v"}
    flow = pd.read_csv(done / "results/flow.csv")
    assert set(flow["method"]) == {"GD", "GF", "GF-long"} and flow.loc[flow["method"] != "GD", "lr"].isna().all()
    gd = flow[flow["method"] == "GD"]
    assert ((gd["t"] - gd["step"] * gd["lr"]).abs() < 1e-12).all()
    kernel = pd.read_csv(done / "results/kernel.csv")
    assert set(kernel["quantity"]) == {"PhiPhi-Ginf", "ZZ-Kinf"} and set(kernel["norm"]) == {"spectral", "frobenius/N"}
    assert len(kernel) == 3 * 2 * 4 and (kernel["status"] == "completed").all() and (kernel["error"] > 0).all()


def test_claims_table(done):
    from replication import claims as cl

    claims = pd.read_csv(done / "results/claims.csv", keep_default_na=False)
    assert list(claims.columns) == list(cl.CLAIM_COLUMNS)
    assert {e for e, _, _ in cl.CLAIMS} <= set(claims["experiment"])  # every claim group has a row
    assert set(claims["status"]) <= {"evaluated", "not evaluated"}  # no "error": every table was readable
    evaluated = claims[claims["status"] == "evaluated"]
    assert len(evaluated) >= 12 and set(evaluated["pass"]) <= {"True", "False"}
    md = (done / "results/claims.md").read_text()
    assert md.startswith("# Claims") and all(f"`{i}`" in md for i in claims["id"])
    html = (done / "results/claims.html").read_text()
    assert all(f'<tr id="{i}">' in html for i in claims["id"])
    for exp in EXPERIMENTS:  # each row names its figure
        assert f"<small>figures/{exp}.png</small>" in html or exp not in set(claims["experiment"])
    assert set(claims.loc[claims["status"] == "evaluated", "operator"]) <= set(cl.OPERATORS)


def test_runs_record_parameters_and_provenance(done):
    df = pd.read_csv(done / "results/width.csv")
    one = df[df["run_id"] == "tiny_m24_g0.1_s1"]
    assert set(one["m"]) == {24} and set(one["seed"]) == {1} and set(one["gamma"]) == {0.1}
    assert set(one["trainable"]) == {"A+W+u+v"} and set(one["status"]) == {"completed"}
    assert one["step"].tolist() == [0, 5, 10, 15]  # record_every = 5, steps = 15
    assert one["train_loss"].iloc[-1] < one["train_loss"].iloc[0]
    meta = json.loads((done / "results/runs/width/tiny_m24_g0.1_s1.json").read_text())
    for key in ("package_version", "git", "python", "numpy", "numba", "pandas", "blas", "threads",
                "config_hash", "engine_hash", "seeds", "runs", "wall_seconds", "run", "dataset"):
        assert key in meta, key
    assert meta["seeds"] == [1] and meta["threads"]["numba"] == 1
    assert meta["runs"][0]["run_id"] == "tiny_m24_g0.1_s1" and meta["runs"][0]["status"] == "completed"


def test_a_job_runs_several_seeds(done):
    (run_id,) = [r for r in runs.kernel_table(tiny_config()) if "_m32_" in r]
    assert run_id == "tiny_m32_g0.1_s0+1"  # seeds_per_job: 2 in the kernel block
    one = pd.read_csv(done / f"results/runs/kernel/{run_id}.csv")
    assert sorted(one["run_id"].unique()) == ["tiny_m32_g0.1_s0", "tiny_m32_g0.1_s1"]
    meta = json.loads((done / f"results/runs/kernel/{run_id}.json").read_text())
    assert meta["seeds"] == [0, 1] and [r["seed"] for r in meta["runs"]] == [0, 1]


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
    # a single-figure rerun leaves a current report with every figure
    report = done / "results/report.html"
    assert report.stat().st_mtime_ns >= (done / "figures/width.png").stat().st_mtime_ns
    assert all(f"{exp}.png" in report_html(done) for exp in EXPERIMENTS)


def edited(path: Path, check):
    """Append a comment to ``path``, call ``check()``, restore the content."""
    text = path.read_text()
    path.write_text(text + "\n# an edit\n")
    try:
        return check()
    finally:
        path.write_text(text)


@pytest.mark.parametrize("source", ["implicit/solver.py", "implicit/_numba.py", "replication/jobs.py"])
def test_engine_edit_reruns_training(done, source):
    jobs = edited(done / source, lambda: planned(done, "--configfile", TEST_CONFIG))
    assert jobs.get("train") == len(run_table()) and "data" not in jobs
    # the kernel and gradient-flow jobs run the engine too
    counts = job_counts(tiny_config())
    assert all(jobs.get(rule) == counts[rule] for rule in ("kernel_errors", "kernel_limit", "gradient_flow"))
    # the dependency is on content: with the text restored, nothing is left to do
    assert planned(done, "--configfile", TEST_CONFIG) == {}


def test_data_edit_reruns_data(done):
    jobs = edited(done / "replication/datasets.py", lambda: planned(done, "--configfile", TEST_CONFIG))
    assert jobs.get("data") == len(runs.all_datasets(tiny_config())) and jobs.get("train") == len(run_table())


def test_plotting_edit_reruns_only_plots(done):
    jobs = edited(done / "replication/plotting.py", lambda: planned(done, "--configfile", TEST_CONFIG))
    assert jobs == {"plot": len(EXPERIMENTS), "all": 1}
    snakemake(done, "--touch", "--cores", "1", "--configfile", TEST_CONFIG)


def test_fits_edit_reruns_aggregation_plots_and_claims(done):
    jobs = edited(done / "replication/fits.py", lambda: planned(done, "--configfile", TEST_CONFIG))
    n = len(EXPERIMENTS)
    assert jobs == {"aggregate": n, "plot": n, "claims": 1, "all": 1}


def test_caption_edit_reruns_nothing(done):
    """Captions are report text, not job parameters: editing one changes only the report."""
    assert edited(done / "workflow/report/captions/width.rst", lambda: planned(done, "--configfile", TEST_CONFIG)) == {}


def test_claims_edit_reruns_only_claims(done):
    jobs = edited(done / "replication/claims.py", lambda: planned(done, "--configfile", TEST_CONFIG))
    assert jobs == {"claims": 1, "all": 1}


def report_html(repo) -> str:
    return (repo / "results/report.html").read_text(errors="replace")


def test_the_run_writes_the_report(done):
    """The workflow rebuilds results/report.html after a run (Snakefile onsuccess): every
    figure, the claims page and CSV, each figure's caption (included from its caption file)."""
    html = report_html(done)
    assert all(f"{exp}.png" in html for exp in EXPERIMENTS) and "claims.csv" in html and "claims.html" in html
    report = done / "results/report.html"
    assert all(report.stat().st_mtime >= (done / f"figures/{exp}.png").stat().st_mtime for exp in EXPERIMENTS)
    assert report.stat().st_mtime >= (done / "results/claims.html").stat().st_mtime
    # the caption text is in the report, not a parameter of the plot job (editing it reruns nothing)
    assert "<strong>weight movement</strong> (bottom right)" in html and "caption=" not in html
    for exp in EXPERIMENTS:
        assert f"plot_{exp.replace('-', '_')}" in html


def test_captions_describe_every_panel_drawn(done):
    """Each figure's panels (the names plot functions give their axes) are exactly the panels its
    caption lists; every visible panel has a name."""
    from replication.plotting import plot_experiment
    from tests.replication.test_report import caption_panels

    for exp in EXPERIMENTS:
        fig = plot_experiment(exp, pd.read_csv(done / f"results/{exp}.csv"))
        drawn = [ax.get_label() for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
        assert all(drawn), (exp, "a panel without a name")
        assert set(drawn) == set(caption_panels(exp)), (exp, sorted(set(drawn)), caption_panels(exp))
        if exp in ("width", "gamma", "digits"):  # the block's title names its data set
            assert fig.axes[0].get_title(loc="left").startswith(("tiny:", "tiny-digits:")), fig.axes[0].get_title(loc="left")


@pytest.mark.parametrize("key,value,expected", [
    ("experiments.width.gamma", 0.7, ["$.experiments.width.gamma", "0.7", "well-posedness"]),
    ("training.lr", "fast", ["$.training.lr", "'fast'"]),
    ("training.tol", 1.5, ["$.training.tol", "1.5"]),
    ("experiments.width.widths", [0], ["$.experiments.width.widths[0]", "0"]),
    ("new-dataset:../x", {"kind": "random-labels", "n_train": 4, "n_test": 0, "d": 3, "seed": 0}, ["$.datasets", "'../x'"]),
    ("new-dataset:a;touch pwned", {"kind": "random-labels", "n_train": 4, "n_test": 0, "d": 3, "seed": 0}, ["$.datasets", "'a;touch pwned'"]),
])
def test_bad_config_stops_snakemake(repo, tmp_path, key, value, expected):
    from tests.replication.test_config import mutate

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutate(key, value), allow_unicode=True))
    proc = snakemake(repo, "-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    for text in expected:
        assert text in proc.out
    assert not (repo / "pwned").exists() and not (repo.parent / "x.npz").exists()


def test_partial_config_file_and_nested_config_override(repo, tmp_path):
    """A file holding only the keys to change: refused alone (naming what is missing and how to
    layer it), accepted after the full configuration; `--config 'training={steps: 7}'` is typed."""
    changes = tmp_path / "my-changes.yaml"
    changes.write_text("training:\n  steps: 7\nexperiments:\n  width:\n    widths: [8]\n")
    alone = snakemake(repo, "-n", "--configfile", str(changes), check=False)
    assert alone.returncode != 0
    assert "$: 'datasets' is a required property (datasets: one entry per data set" in alone.out
    assert "--configfile workflow/config/default.yaml my-changes.yaml" in alone.out
    layered = snakemake(repo, "-n", "--configfile", TEST_CONFIG, str(changes)).out
    width_jobs = re.findall(r"train width/(\S+): .*?, (\d+) steps", layered)
    assert sorted(width_jobs) == [("tiny_m8_g0.1_s0", "7"), ("tiny_m8_g0.1_s1", "7")]
    override = snakemake(repo, "-n", "--configfile", TEST_CONFIG, "--config", "training={steps: 7}").out
    assert {n for _, n in re.findall(r"train width/(\S+): .*?, (\d+) steps", override)} == {"7"}


@pytest.mark.parametrize("target", [
    "results/data/../../x.npz", "results/data/undefined.npz", "results/runs/width/a;touch pwned.csv",
    "results/runs/width/not-a-run.csv", "results/runs/kernel/tiny_m8_g0.1_s0.csv",
])
def test_unsafe_or_unknown_targets_are_refused(repo, target):
    proc = snakemake(repo, target, "-n", "--configfile", TEST_CONFIG, check=False)
    assert proc.returncode != 0
    assert re.search(r"MissingRuleException|No rule to produce|not in the run table", proc.out), proc.out[-2000:]
    assert not (repo / "pwned").exists()


def test_digits_experiment_reads_an_mnist_format_file_under_resources(tmp_path):
    """A user's MNIST-format .npz under resources/ (28×28 uint8 images, labels 0–9) goes
    through the same loader as the bundled digits: classes 0 and 1, rows flattened, unit norm."""
    import numpy as np

    repo = copy_repo(tmp_path)
    rng = np.random.default_rng(0)

    def split(n):
        return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), np.arange(n) % 10

    (x_train, y_train), (x_test, y_test) = split(60), split(30)
    (repo / "resources").mkdir()
    np.savez(repo / "resources" / "mini-mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    config = tiny_config()
    config["datasets"] = {"mini-mnist": {"kind": "npz", "path": "resources/mini-mnist.npz", "classes": [0, 1],
                                         "n_train": 10, "n_test": 6, "d": None, "seed": 0}}
    config["experiments"] = {"digits": {"datasets": ["mini-mnist"], "gamma": 0.1, "widths": [8], "seeds": [0]}}
    (repo / "mnist.yaml").write_text(yaml.safe_dump(config))
    snakemake(repo, "figures/digits.png", "results/claims.md", "--cores", "2", "--configfile", "mnist.yaml")
    # a partial run on a fresh clone: a report of what exists
    assert "digits.png" in report_html(repo) and "width.png" not in report_html(repo)
    df = pd.read_csv(repo / "results/digits.csv")
    assert set(df["d"]) == {784} and set(df["N"]) == {10} and set(df["n_test"]) == {6}
    assert (df["status"] == "completed").all() and df["train_loss"].iloc[-1] < df["train_loss"].iloc[0]
    from replication.datasets import load_dataset

    ds = load_dataset(repo / "results/data/mini-mnist.npz")
    assert np.allclose(np.linalg.norm(ds.X_train, axis=1), 1) and set(ds.y_train) <= {-1.0, 1.0}
    assert ds.info["path"].endswith("resources/mini-mnist.npz") and ds.info["classes"] == [0, 1]
    # replacing the user's file regenerates the data set and everything after it
    np.savez(repo / "resources" / "mini-mnist.npz", x_train=x_train[::-1], y_train=y_train[::-1], x_test=x_test, y_test=y_test)
    jobs = planned(repo, "figures/digits.png", "--configfile", "mnist.yaml")
    assert jobs.get("data") == 1 and jobs.get("train") == 1
