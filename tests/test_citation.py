"""LICENSE and CITATION.cff: present, valid, and in agreement with pyproject.toml and the README."""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "data" / "cff-1.2.0.schema.json"


def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def project() -> dict:
    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_citation_cff_is_valid_against_the_cff_1_2_0_schema():
    from jsonschema import Draft7Validator, FormatChecker

    schema = json.loads(SCHEMA.read_text())
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    validator = Draft7Validator(schema, format_checker=FormatChecker())
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(citation())]
    assert not errors, errors
    broken = citation() | {"cff-version": "1.2"}  # the check is not vacuous
    del broken["authors"]
    assert len(list(validator.iter_errors(broken))) == 2


def test_citation_describes_this_package_and_references_the_paper():
    cff = citation()
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == project()["version"] and cff["license"] == project()["license"]["text"] == "MIT"
    (paper,) = [r for r in cff["references"] if "arxiv.org/abs/2205.07463" in r.get("url", "")]
    assert paper["title"] == "Gradient Descent Optimizes Infinite-Depth ReLU Implicit Networks with Linear Widths"
    assert [a["family-names"] for a in paper["authors"]] == ["Gao", "Gao"] and paper["year"] == 2022
    assert {"type": "doi", "value": "10.48550/arXiv.2205.07463"}.items() <= paper["identifiers"][1].items()


def test_license_is_mit_with_the_authors():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and re.search(r"Copyright \(c\) \d{4} The implicit-relu authors", text)
    assert "WITHOUT WARRANTY OF ANY KIND" in text


def test_readme_says_how_to_cite():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("**How to cite.**", 1)[1].split("\n\n", 1)[0]
    assert "CITATION.cff" in section and "arXiv:2205.07463" in section and "LICENSE" in section
