"""The test configuration run to completion once per test session: the modules that need a
finished workflow (test_workflow, test_reliability, test_interruption) each start from their own
copy of it instead of running it again (the run is most of the workflow tests' time).

Under pytest-xdist (``make test``: two workers) the run is shared by the workers too: the first
worker that needs it runs it in the workers' common temporary directory while holding a file
lock, the others wait for the lock and reuse it (the pattern of pytest-xdist's documentation for
session fixtures that must run once).
"""

import fcntl
import shutil

import pytest

from tests.workflow.test_workflow import TEST_CONFIG, copy_repo, snakemake


@pytest.fixture(scope="session")
def finished(tmp_path_factory, request):
    """A copy of the repository in which ``snakemake --cores 2 --configfile test.yaml`` has run
    to completion.  Read-only by convention: tests that change files use :func:`copy_finished`."""
    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist worker: <base>/popen-gw<i>, share <base>
        root = root.parent
    repo, done = root / "finished", root / "finished.done"
    with open(root / "finished.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(repo, ignore_errors=True)  # a run interrupted by a failure
            repo.mkdir()
            copy_repo(repo)
            snakemake(repo, "--cores", "2", "--configfile", TEST_CONFIG)
            done.touch()
    return repo


def copy_finished(finished, dest):
    """A private copy of the finished run (file times kept, so Snakemake sees it as complete)."""
    shutil.copytree(finished, dest, symlinks=True, dirs_exist_ok=True)
    return dest
