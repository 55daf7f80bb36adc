"""The test configuration run to completion once per test session: the modules that need a
finished workflow (test_workflow, test_reliability, test_interruption) each start from their own
copy of it instead of running it again (the run is most of the workflow tests' time).

The run starts in the background as soon as collection shows that a selected test needs it
(:func:`pytest_collection_finish`), so that it overlaps the unit tests instead of holding up
the worker that first asks for it; the fixture :func:`finished` waits for it.  Under
pytest-xdist (``make test``: two workers) it is shared by the workers: the first process that
gets the file lock in the workers' common temporary directory starts it, the others see the
marker and reuse it (the pattern of pytest-xdist's documentation for session fixtures that must
run once).  An interrupted session leaves the background run to finish (about two minutes) in
that temporary directory.
"""

import fcntl
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.workflow.test_workflow import SNAKEMAKE, TEST_CONFIG, copy_repo

#: a bound on a hung run, not a speed test (the run takes about two minutes on two cores)
TIMEOUT = 1200


def _root(config) -> Path:
    """The directory the session's processes share: pytest's base temporary directory, or
    under xdist its parent (a worker's base is <base>/popen-gw<i>)."""
    # config._tmp_path_factory is what the tmp_path_factory fixture returns; a collection hook
    # cannot request fixtures
    root = config._tmp_path_factory.getbasetemp()
    return root.parent if hasattr(config, "workerinput") else root


def start_finished_run(config) -> Path:
    """Start ``snakemake --cores 2 --configfile test.yaml`` in a copy of the repository, in the
    background, once per session; returns the copy.  Its exit code lands in ``finished.rc``
    (written last, by rename) and its output in ``finished.log`` beside it."""
    root = _root(config)
    repo = root / "finished"
    with open(root / "finished.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (root / "finished.started").exists():
            return repo
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir()
        copy_repo(repo)
        rc, log = root / "finished.rc", root / "finished.log"
        command = (f"{shlex.quote(str(SNAKEMAKE))} --cores 2 --configfile {TEST_CONFIG} > {shlex.quote(str(log))} 2>&1; "
                   f"echo $? > {shlex.quote(str(rc))}.tmp && mv {shlex.quote(str(rc))}.tmp {shlex.quote(str(rc))}")
        subprocess.Popen(["sh", "-c", command], cwd=repo, start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (root / "finished.started").touch()
    return repo


def pytest_collection_finish(session):
    """Start the finished run early when a selected test needs it."""
    if any("finished" in getattr(item, "fixturenames", ()) for item in session.items):
        start_finished_run(session.config)


@pytest.fixture(scope="session")
def finished(request):
    """A copy of the repository in which ``snakemake --cores 2 --configfile test.yaml`` has run
    to completion.  Read-only by convention: tests that change files use :func:`copy_finished`."""
    repo = start_finished_run(request.config)  # already started at collection: returns at once
    root = repo.parent
    rc = root / "finished.rc"
    deadline = time.monotonic() + TIMEOUT
    while not rc.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the test workflow did not finish within {TIMEOUT} s (log: {root / 'finished.log'})")
        time.sleep(0.5)
    code = int(rc.read_text())
    if code != 0:
        tail = (root / "finished.log").read_text()[-4000:]
        pytest.fail(f"the test workflow failed ({code}):\n{tail}")
    return repo


def copy_finished(finished, dest):
    """A private copy of the finished run (file times kept, so Snakemake sees it as complete)."""
    shutil.copytree(finished, dest, symlinks=True, dirs_exist_ok=True)
    return dest
