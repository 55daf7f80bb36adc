"""The browsable Snakemake report, ``results/report.html``, rebuilt by the workflow itself.

The Snakefile's ``onsuccess`` and ``onerror`` handlers call :func:`refresh` after every run
that executed jobs (any targets, also a single-figure rerun), so the report always shows the
figures and tables on disk.  It runs ``snakemake --report`` in a subprocess with the run's own
configuration (written to a temporary JSON file: the same ``--configfile``/``--config`` values)
and, as targets, the report's outputs that exist — so a partial run on a fresh clone gives a
report of what exists rather than an error.  ``snakemake --no-hooks`` skips it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: where the report is written (relative to the working directory, the repository root)
REPORT = "results/report.html"


def report_targets(experiments, root=".") -> list[str]:
    """The outputs marked for the report that exist under ``root``: the figure of each enabled
    experiment, the claims page and the claims CSV."""
    candidates = [f"figures/{e}.png" for e in experiments] + ["results/claims.html", "results/claims.csv"]
    return [c for c in candidates if (Path(root) / c).is_file()]


def report_command(config_path, targets, snakefile=None, report=REPORT) -> list[str]:
    """The ``snakemake --report`` command line (this interpreter's Snakemake)."""
    cmd = [sys.executable, "-m", "snakemake", "--report", str(report), "--configfile", str(config_path)]
    if snakefile is not None:
        cmd += ["--snakefile", str(snakefile)]
    return cmd + list(targets)


def refresh(config: dict, experiments, *, snakefile=None, workdir=".", report=REPORT, failed=False,
            log=print, timeout=1800) -> bool:
    """Rebuild ``report`` from the outputs on disk; return whether it was written.

    ``config`` is the workflow's configuration as used by the run (after ``--configfile`` and
    ``--config``); ``experiments`` its enabled experiments.  ``failed``: the run had failing
    jobs (the report still shows everything that exists, and says so in the log).  Problems are
    logged, never raised: the report must not turn a finished run into a failed one.
    """
    workdir = Path(workdir)
    targets = report_targets(experiments, workdir)
    if not targets:
        log(f"report: no figure or claims table exists yet, {report} not written")
        return False
    fd, config_path = tempfile.mkstemp(prefix="report-config-", suffix=".json", dir=workdir / ".snakemake"
                                       if (workdir / ".snakemake").is_dir() else None)
    try:
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(config, fh)  # Snakemake reads JSON config files; JSON keeps the types
            cmd = report_command(config_path, targets, snakefile, report)
            proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
        except (OSError, TypeError, ValueError, subprocess.SubprocessError) as exc:
            log(f"report: {report} not rebuilt ({type(exc).__name__}: {exc}); run `snakemake --report {report}`")
            return False
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            log(f"report: {report} not rebuilt, `snakemake --report` failed:\n{tail}")
            return False
    finally:
        Path(config_path).unlink(missing_ok=True)
    missing = len(experiments) + 2 - len(targets)
    note = f" ({missing} of its outputs do not exist yet and are left out)" if missing else ""
    if failed:
        note += "; some jobs failed: their outputs, and what depends on them, are missing or from an earlier run"
    log(f"report: {report} rebuilt from {len(targets)} outputs{note}")
    return True
