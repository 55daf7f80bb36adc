"""requirements.txt (pip pins) and environment.yml (conda) list the same packages at the same versions."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: the package each import name is published as (conda-forge and PyPI agree for all of ours)
DIRECT = {"numpy", "numba", "scipy", "pandas", "threadpoolctl", "scikit-learn", "seaborn",
          "matplotlib", "pillow", "snakemake", "pyyaml", "pytest", "pytest-xdist",
          "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-cluster-generic"}


def pip_pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line).groups()
            pins[name.lower()] = version
    return pins


def conda_pins():
    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pins = {}
    for dep in deps:
        if isinstance(dep, str) and "==" in dep:
            name, version = dep.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_pip_pins_are_exact_and_complete():
    assert set(pip_pins()) == DIRECT


def test_conda_and_pip_agree():
    assert conda_pins() == pip_pins()


def test_pins_satisfy_pyproject_ranges():
    from packaging.requirements import Requirement

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import pytest

        pytest.skip("tomllib needs Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for k in ("workflow", "test") for r in project["optional-dependencies"][k]]
    pins = pip_pins()
    for req in map(Requirement, reqs):
        assert req.name.lower() in pins, req.name
        assert pins[req.name.lower()] in req.specifier, (req, pins[req.name.lower()])


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pinned in pip_pins().items():
        assert version(name) == pinned, name
