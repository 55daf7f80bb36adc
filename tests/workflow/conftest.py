"""The test configuration run to completion once per session: the modules that need a finished
workflow (test_workflow, test_reliability, test_interruption) each start from their own copy of
it instead of running it again (the run is most of the workflow tests' time)."""

import shutil

import pytest

from tests.workflow.test_workflow import TEST_CONFIG, copy_repo, snakemake


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A copy of the repository in which ``snakemake --cores 2 --configfile test.yaml`` has run
    to completion.  Read-only by convention: tests that change files use :func:`copy_finished`."""
    repo = copy_repo(tmp_path_factory.mktemp("finished"))
    snakemake(repo, "--cores", "2", "--configfile", TEST_CONFIG)
    return repo


def copy_finished(finished, dest):
    """A private copy of the finished run (file times kept, so Snakemake sees it as complete)."""
    shutil.copytree(finished, dest, symlinks=True, dirs_exist_ok=True)
    return dest
