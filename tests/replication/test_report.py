"""The report's text and its rebuild: every figure has a caption listing its panels, the
captions render as reStructuredText the way the Snakemake report renders them, and
replication.report builds the right `snakemake --report` call (the run itself:
tests/workflow/test_workflow.py)."""

import re
from pathlib import Path

import pytest

from replication import report
from replication.plotting import PLOTTERS

ROOT = Path(__file__).resolve().parents[2]
CAPTIONS = ROOT / "workflow" / "report" / "captions"


def caption_panels(experiment: str) -> list[str]:
    """The panels a caption describes: its list items ``- **<name>** (<where>): …``."""
    return re.findall(r"^- \*\*(.+?)\*\* \(", (CAPTIONS / f"{experiment}.rst").read_text(), flags=re.M)


@pytest.mark.parametrize("experiment", sorted(PLOTTERS))
def test_every_figure_has_a_caption_listing_its_panels(experiment):
    panels = caption_panels(experiment)
    assert panels and len(panels) == len(set(panels)), panels
    # each name is one the plot functions give an axis (replication.plotting._panel); that the
    # panels drawn are exactly those described is checked on real figures in tests/workflow
    source = (ROOT / "replication" / "plotting.py").read_text()
    assert all(f'"{p}"' in source for p in panels), [p for p in panels if f'"{p}"' not in source]


def test_no_caption_without_a_figure():
    assert {p.stem for p in CAPTIONS.glob("*.rst")} == set(PLOTTERS)


@pytest.mark.parametrize("experiment", sorted(PLOTTERS))
def test_caption_renders_like_the_report_renders_it(experiment, monkeypatch):
    """figure.rst is a Jinja template (Snakemake fills in the wildcards) whose reST includes the
    experiment's caption; rendered from the repository root as the report does, with any reST
    warning an error."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    template = (ROOT / "workflow" / "report" / "figure.rst").read_text()
    rst = Environment(trim_blocks=True, lstrip_blocks=True).from_string(template).render(
        snakemake={"wildcards": {"experiment": experiment}})
    monkeypatch.chdir(ROOT)
    html = publish_parts(rst, writer="html", settings_overrides={"halt_level": 2, "report_level": 5})["body"]
    for panel in caption_panels(experiment):
        assert f"<strong>{panel}</strong>" in html.replace("&lt;", "<")
    assert f"results/{experiment}.csv" in html and "{{" not in html


def test_report_targets_are_the_existing_report_outputs(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "figures" / "width.png").write_bytes(b"png")
    assert report.report_targets(["width", "gamma"], tmp_path) == ["figures/width.png"]
    (tmp_path / "results" / "claims.html").write_text("<html>")
    assert report.report_targets(["width", "gamma"], tmp_path) == ["figures/width.png", "results/claims.html"]


def test_report_command():
    cmd = report.report_command("c.json", ["figures/width.png"], snakefile="/x/Snakefile")
    assert cmd[1:] == ["-m", "snakemake", "--report", "results/report.html", "--configfile", "c.json",
                       "--snakefile", "/x/Snakefile", "figures/width.png"]


def test_refresh_without_outputs_writes_nothing_and_does_not_raise(tmp_path):
    messages = []
    assert report.refresh({"a": 1}, ["width"], workdir=tmp_path, log=messages.append) is False
    assert "not written" in messages[0] and not (tmp_path / "results").exists()


def test_refresh_reports_a_failing_snakemake_without_raising(tmp_path, monkeypatch):
    """A failing `snakemake --report` is logged with its output; the temporary config is removed."""
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "width.png").write_bytes(b"png")
    (tmp_path / ".snakemake").mkdir()
    seen = {}

    def fake(config_path, targets, snakefile=None, report_path=report.REPORT):
        seen["config"] = Path(config_path).read_text()
        return ["sh", "-c", "echo boom >&2; exit 3"]

    monkeypatch.setattr(report, "report_command", fake)
    messages = []
    assert report.refresh({"training": {"steps": 50}}, ["width"], workdir=tmp_path, log=messages.append) is False
    assert seen["config"] == '{"training": {"steps": 50}}'  # the run's configuration, typed
    assert "boom" in messages[0] and list((tmp_path / ".snakemake").iterdir()) == []
    monkeypatch.setattr(report, "report_command", lambda *a, **k: ["true"])
    assert report.refresh({}, ["width", "gamma"], workdir=tmp_path, failed=True, log=messages.append) is True
    assert "rebuilt from 1 outputs" in messages[-1] and "some jobs failed" in messages[-1]
