"""The job-side helpers: atomic writes survive interruption, a GD run becomes a tidy table."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication import files as wfio


def test_atomic_output_replaces_only_when_complete(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        with wfio.atomic_output(target) as tmp:
            Path(tmp).write_text("half a fi")
            raise KeyboardInterrupt  # a job killed mid-write
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind
    with wfio.atomic_output(target) as tmp:
        Path(tmp).write_text("new\n")
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o044  # readable by others (not mkstemp's 0600)


def test_no_output_appears_when_writing_fails(tmp_path):
    class Broken(pd.DataFrame):
        def to_csv(self, *a, **k):
            raise OSError("disk full")

    with pytest.raises(OSError):
        wfio.write_csv(Broken({"a": [1]}), tmp_path / "sub" / "x.csv")
    assert list((tmp_path / "sub").iterdir()) == []


def test_json_is_strict(tmp_path):
    wfio.write_json({"a": float("nan"), "b": float("inf"), "c": [1.5, float("-inf")]}, tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=lambda c: pytest.fail(c)) == {
        "a": None, "b": "inf", "c": [1.5, "-inf"]}


def test_save_figure_writes_png_and_pdf(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    wfio.save_figure(fig, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"


# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dataset():
    from replication.datasets import make_dataset

    return make_dataset("sphere-linear", n_train=10, n_test=6, d=4, seed=0)


def run(**kw):
    row = dict(experiment="width", dataset="tiny", run_id="tiny_m8_g0.1_s0", m=8, gamma=0.1, seed=0,
               lr="auto", steps=6, tol=1e-10, max_iter=500, record_every=2, method="fixed-point",
               trainable="A+W+u+v", track_gram=False, max_rho=1.0)
    return row | kw


def test_completed_run_table(dataset):
    from replication.jobs import RUN_COLUMNS, run_gd

    import implicit

    table, summary = run_gd(run(), dataset)
    assert list(table.columns) == list(RUN_COLUMNS) + [c for c in implicit.TRACE_COLUMNS if c != "seconds"]
    assert table["step"].tolist() == [0, 2, 4, 6]
    assert summary["status"] == "completed" and not table["failure"].any()
    assert set(table["N"]) == {10} and set(table["d"]) == {4} and np.isfinite(table["lr"]).all()


def test_run_failing_at_step_zero_keeps_one_failure_row(dataset):
    from replication.jobs import run_gd

    table, summary = run_gd(run(gamma=5.0, max_rho=np.inf), dataset)
    assert summary["status"] == "stopped" and len(table) == 1
    row = table.iloc[0]
    assert row["failure"] and row["step"] == 0 and row["status"] == "stopped"
    assert np.isnan(row["train_loss"]) and np.isnan(row["lr"]) and row["lr_config"] == "auto"
    assert row["rho"] > 1 and row["fwd_residual"] > 1e-10 and row["fwd_iter"] >= 1
    assert "did not converge" in row["reason"]


def test_run_stopped_by_rho_cap(dataset):
    from replication.jobs import run_gd

    table, _ = run_gd(run(max_rho=0.01), dataset)
    assert len(table) == 1 and table["failure"].all() and "rho(A)" in table["reason"].iloc[0]
    assert table["rho"].iloc[0] >= 0.01


def test_progress_lines_at_every_tenth_and_identical_results(dataset, caplog):
    """A training job logs step/steps, loss, ρ, s/step and the time left at 10%, 20%, …, 100%
    of its steps; the table is byte-identical to a run without progress logging."""
    import logging

    from replication.jobs import progress_logger, run_gd

    log = logging.getLogger("test-progress")
    with caplog.at_level(logging.INFO, logger="test-progress"):
        table, _ = run_gd(run(steps=25, record_every=5), dataset, progress=progress_logger(log, "width/x", later_runs=2))
    lines = [r.getMessage() for r in caplog.records if r.name == "test-progress"]
    steps = [int(line.split("step ")[1].split("/")[0]) for line in lines]
    assert steps == [3, 5, 8, 10, 13, 15, 18, 20, 23, 25]  # the first step at or past each tenth
    assert lines[-1].startswith("width/x: step 25/25 (100%), loss ")
    for text in ("ρ ", " s/step", " left", "job ~", "(2 more runs)"):
        assert all(text in line for line in lines), text
    plain, _ = run_gd(run(steps=25, record_every=5), dataset)
    assert table.to_csv(index=False) == plain.to_csv(index=False)


def test_train_job_logs_progress(dataset, tmp_path, caplog):
    """Rule ``train``'s job function: a start line and ten progress lines per seed."""
    import logging

    from replication.datasets import save_npz
    from replication.jobs import train

    save_npz(tmp_path / "tiny.npz", dataset)
    job = run(steps=10) | {"seeds": [0, 1], "run_ids": ["tiny_m8_g0.1_s0", "tiny_m8_g0.1_s1"], "run_id": "tiny_m8_g0.1_s0+1"}
    with caplog.at_level(logging.INFO, logger="test-train"):
        table, meta = train(job, tmp_path / "tiny.npz", dataset_entry={}, engine_hash="x", threads=1,
                            log=logging.getLogger("test-train"))
    lines = [r.getMessage() for r in caplog.records if r.name == "test-train"]
    for run_id in job["run_ids"]:
        mine = [line for line in lines if line.startswith(f"width/{run_id}: step ")]
        assert [line.split(" (")[0] for line in mine] == [f"width/{run_id}: step {k}/10" for k in range(1, 11)]
    assert sum("start (m = 8, N = 10" in line for line in lines) == 2
    assert sorted(table["seed"].unique()) == [0, 1] and meta["status"] == "completed"


def test_float32_runs_and_one_step_for_every_width(dataset):
    """dtype float32: θ(0) rounded from the float64 draw, η computed in float64 (the same number
    as the float64 run's); lr_width: one η, that of init_params(d, lr_width, lr_seed), for every m."""
    from replication.jobs import run_gd

    import implicit

    one = dict(lr_width=8, lr_seed=0, lr_fraction=0.5, steps=10)
    tables = {(m, dt): run_gd(run(m=m, dtype=dt, tol=1e-10 if dt == "float64" else 1e-6, **one), dataset)[0]
              for m in (8, 24) for dt in ("float64", "float32")}
    eta = implicit.auto_lr(implicit.init_params(4, 8, 0), dataset.X_train, dataset.y_train, 0.1)
    assert {float(t["lr"].iloc[0]) for t in tables.values()} == {eta}
    assert set(tables[(24, "float32")]["dtype"]) == {"float32"} and set(tables[(24, "float64")]["dtype"]) == {"float64"}
    for m in (8, 24):
        a, b = tables[(m, "float64")], tables[(m, "float32")]
        assert (b["status"] == "completed").all()
        np.testing.assert_allclose(b["train_loss"], a["train_loss"], rtol=1e-4)
        np.testing.assert_allclose(b["rho"], a["rho"], atol=1e-6)
    # without lr_width a float32 run takes the float64 θ(0)'s η (the engine's own "auto" in the
    # float64 run solves with its mixed-precision increments: equal to ~1e-8)
    t64, _ = run_gd(run(m=24), dataset)
    t32, _ = run_gd(run(m=24, dtype="float32", tol=1e-6), dataset)
    assert t32["lr"].iloc[0] == pytest.approx(t64["lr"].iloc[0], rel=1e-7)


def lw_run(**kw):
    return run(experiment="linear-width", run_id="tiny_m8_g0.1_tuv_s0", trainable="u+v", steps=200, lr_fraction=0.5,
               target=1e-3, budget_factor=1.0, max_steps=200, records=10, singular_tol=1e-13) | kw


def test_step_budget_from_H0(dataset):
    """K = ⌈c·ln(1/target)/(2ηλ_min(H(0)))⌉ with η = f·2/λ_max(H(0)), capped at max_steps."""
    import implicit
    from replication.jobs import step_budget

    params = implicit.init_params(dataset.d, 40, 0)
    H = implicit.gram(params, dataset.X_train, 0.1, trainable=("u", "v"))
    lo, hi = np.linalg.eigvalsh(H)[[0, -1]]
    b = step_budget(lw_run(m=40, max_steps=10**9), params, dataset)
    assert b["lr"] == pytest.approx(1 / hi) and b["lambda_min_H0"] == pytest.approx(lo, rel=1e-6)
    assert b["budget"] == math.ceil(math.log(1e3) / (2 * b["lr"] * b["lambda_min_H0"])) and not b["capped"]
    capped = step_budget(lw_run(m=40, max_steps=3), params, dataset)
    assert capped["budget"] == 3 and capped["capped"]
    singular = step_budget(lw_run(m=2), implicit.init_params(dataset.d, 2, 0), dataset)  # 2m < N: rank-deficient
    assert singular["capped"] and singular["lambda_min_H0"] < 1e-10 * singular["lambda_max_H0"]


def test_linear_width_run_stops_at_the_target_and_records_its_budget(dataset):
    from replication.jobs import BUDGET_COLUMNS, run_gd

    table, summary = run_gd(lw_run(m=40, max_steps=5000), dataset)
    assert set(BUDGET_COLUMNS) <= set(table.columns) and len(table) <= 12
    assert summary["reason"].startswith("L(k)/L(0) <= 0.001 at step")
    assert table["train_loss"].iloc[-1] <= 1e-3 * table["train_loss"].iloc[0]
    assert (table["steps"] == table["budget"]).all() and table["step"].iloc[-1] < table["budget"].iloc[0]


# -- the u,v arm's exact trajectory ------------------------------------------------------------
def test_steps_exact_on_a_diagonal_H_by_hand():
    """H = diag(1, 0.1), η = ½, c = (1, 1): L(k)/L(0) = (¼ᵏ + 0.95^{2k})/2 ≤ 1e-3 first at k = 61
    (0.95^122 = 1.91e-3, 0.95^120 = 2.12e-3; ¼ᵏ is negligible there)."""
    from replication.jobs import closed_form_loss, steps_exact

    lam, c = np.array([1.0, 0.1]), np.array([1.0, 1.0])
    ratio = lambda k: (0.25**k + 0.95 ** (2 * k)) / 2  # noqa: E731
    assert ratio(61) <= 1e-3 < ratio(60)
    assert steps_exact(lam, c, 0.5, 1e-3, 1e-13) == (61.0, 0.0)
    np.testing.assert_allclose(closed_form_loss(lam, c, 0.5, [0, 1, 60, 61]), [ratio(k) for k in (0, 1, 60, 61)], rtol=1e-14)
    # a mode with ηλ = 1 is gone after one step (ln 0 = −∞ must not turn k = 0 into NaN)
    assert steps_exact(np.array([2.0, 0.1]), c, 0.5, 1e-3, 1e-13)[0] == 61.0
    assert closed_form_loss(np.array([2.0]), np.array([1.0]), 0.5, [0, 1, 5]).tolist() == [0.5, 0.0, 0.0]
    # slow modes: the answer is found in log space, far beyond any step cap
    # (the fast mode is gone after one step: ½(1 − 5e-10)^{2k} ≤ 1e-3 ⟺ k ≥ ln(2e-3)/(2 ln(1 − 5e-10)) ≈ 6.2e9)
    k, _ = steps_exact(np.array([1.0, 1e-9]), c, 0.5, 1e-3, 1e-13)
    assert k == math.ceil(math.log(2e-3) / (2 * math.log1p(-5e-10)))
    assert closed_form_loss(np.array([1e-9]), [1.0], 0.5, [k, k - 1]).tolist() == pytest.approx(
        [0.5 * (1 - 5e-10) ** (2 * k), 0.5 * (1 - 5e-10) ** (2 * k - 2)], rel=1e-6)


def test_steps_exact_singular_and_already_there():
    from replication.jobs import steps_exact

    c = np.array([1.0, 1.0, 1.0])
    # a zero mode (to singular_tol) holding ⅓ of L(0) > target: GD never gets there
    assert steps_exact(np.array([1.0, 0.5, 1e-15]), c, 0.5, 1e-3, 1e-13) == (math.inf, pytest.approx(1 / 3))
    assert steps_exact(np.array([1.0, 0.5, -1e-16]), c, 0.5, 1e-3, 1e-13)[0] == math.inf  # rounding below 0
    # ... unless that mode holds less than the target: then the others decide
    k, floor = steps_exact(np.array([1.0, 0.5, 1e-15]), np.array([1.0, 1.0, 1e-3]), 0.5, 1e-3, 1e-13)
    assert math.isfinite(k) and floor == pytest.approx(1e-6 / 2, rel=1e-5)
    # the same eigenvalue above the tolerance decays (slowly): finite
    assert math.isfinite(steps_exact(np.array([1.0, 0.5, 1e-12]), c, 0.5, 1e-3, 1e-13)[0])
    # already met at k = 0: nothing to fit, or the target is the whole loss
    assert steps_exact(np.array([1.0, 0.5]), np.zeros(2), 0.5, 1e-3, 1e-13) == (0.0, 0.0)
    assert steps_exact(np.array([1.0, 0.5]), np.ones(2), 0.5, 1.0, 1e-13)[0] == 0.0


def test_step_budget_of_the_linear_arm_is_exact(dataset):
    """u,v: steps_exact from H(0) = ZZᵀ + ΦΦᵀ and r(0); NaN for a nonlinear arm; inf when 2m < N."""
    import implicit
    from replication.jobs import closed_form_loss, step_budget

    params = implicit.init_params(dataset.d, 40, 0)
    b = step_budget(lw_run(m=40, max_steps=3), params, dataset)
    assert b["capped"] and b["budget"] == 3 and math.isfinite(b["steps_exact"]) and b["steps_exact"] > 3
    lam, c = b["modes"]
    ratio = closed_form_loss(lam, c, b["lr"], [b["steps_exact"] - 1, b["steps_exact"]]) / closed_form_loss(lam, c, b["lr"], 0)
    assert ratio[1] <= 1e-3 < ratio[0]
    eq = implicit.equilibrium(params, dataset.X_train, 0.1, implicit.SolverSettings(tol=1e-10, mixed=False))
    np.testing.assert_allclose(np.sort(lam), np.linalg.eigvalsh(eq.Z @ eq.Z.T + eq.Phi @ eq.Phi.T), rtol=1e-10, atol=1e-12)
    narrow = step_budget(lw_run(m=2), implicit.init_params(dataset.d, 2, 0), dataset)  # rank ≤ 4 < N = 10
    assert narrow["steps_exact"] == math.inf and narrow["exact_floor"] > 1e-3
    other = step_budget(lw_run(m=40, trainable="A+W+u+v"), params, dataset)
    assert math.isnan(other["steps_exact"]) and math.isnan(other["exact_floor"]) and other["modes"] is None


def test_linear_width_uv_run_records_the_closed_form(dataset):
    """The engine's u,v losses equal the closed form at every recorded step, and the engine
    stops at the step the closed form names (uncapped budget)."""
    from replication.jobs import run_gd

    table, _ = run_gd(lw_run(m=40, max_steps=10**6, records=2000), dataset)  # K = 7765: every 4th step
    dev = (table["train_loss"] - table["exact_train_loss"]).abs() / table["train_loss"].iloc[0]
    assert dev.max() < 1e-9 and len(table) > 10
    assert table["step"].iloc[-1] == table["steps_exact"].iloc[0]
    other, _ = run_gd(lw_run(m=8, trainable="A+W+u+v", max_steps=20), dataset)
    assert other["exact_train_loss"].isna().all() and other["steps_exact"].isna().all()
    assert list(other.columns) == list(table.columns)
