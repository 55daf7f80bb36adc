"""Markers by folder: every test under tests/workflow/ runs Snakemake and is marked ``workflow``
(select with ``-m workflow``, skip with ``-m "not workflow"``)."""

from pathlib import Path

import pytest

WORKFLOW = Path(__file__).parent / "workflow"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if WORKFLOW in Path(item.fspath).parents:
            item.add_marker(pytest.mark.workflow)
