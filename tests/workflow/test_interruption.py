"""A workflow killed with SIGKILL part-way leaves no output a later run would take as complete;
the rerun finishes the work and its CSVs are byte-identical to an uninterrupted run's."""

import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from tests.workflow.test_workflow import SNAKEMAKE, TEST_CONFIG, copy_repo, snakemake

TARGET = "results/width.csv"


def csv_bytes(repo):
    files = sorted((repo / "results").glob("runs/width/*.csv")) + [repo / TARGET]
    return {str(p.relative_to(repo)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def reference(finished):
    """The CSVs of the session's uninterrupted run (tests/workflow/conftest.py)."""
    return csv_bytes(finished)


def test_sigkill_then_rerun_gives_identical_csvs(tmp_path, reference):
    repo = copy_repo(tmp_path)
    runs = repo / "results" / "runs" / "width"
    proc = subprocess.Popen([SNAKEMAKE, TARGET, "--cores", "1", "--configfile", TEST_CONFIG], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(runs.glob("*.csv")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # let the next job start: the kill should land mid-job
    assert proc.poll() is None, "the workflow finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the job it is running
    proc.wait()

    assert not (repo / TARGET).exists()
    finished = list(runs.glob("*.csv"))
    assert 0 < len(finished) < len(reference) - 1  # interrupted part-way
    for path in finished:  # whatever exists is complete
        assert not pd.read_csv(path).empty
        assert path.read_bytes() == reference[str(path.relative_to(repo))]

    snakemake(repo, "--unlock", "--configfile", TEST_CONFIG)
    snakemake(repo, TARGET, "--cores", "1", "--rerun-incomplete", "--configfile", TEST_CONFIG)
    assert csv_bytes(repo) == reference
    assert not list(repo.rglob("*.tmp"))
