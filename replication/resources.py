"""The memory check that runs before any job: each job's estimated peak memory against the
memory one job may use.

The Snakefile calls :func:`check_memory` right after the configuration is validated, once, in
the main Snakemake process (dry runs included).  Every ``train``, ``kernel_errors`` and
``gradient_flow`` job is estimated with the cost model (:func:`replication.cost.estimate_row`)
and compared with the memory available to one job (:func:`job_memory_limit`):

* ``--resources max_job_mem_mb=<MB>``, when given: the largest memory one job may request
  (``profiles/slurm`` declares it for a cluster); otherwise the memory of this machine
  (its RAM, or the container's limit when lower);
* ``--resources mem_mb=<MB>``, when given and lower: Snakemake caps every job's request at it.

A job above it is refused with its name, its estimate and the configuration key to lower; with
``allow_oversize: true`` in the configuration (``--config allow_oversize=true``) each becomes a
warning instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import cost, runs
from .errors import ConfigError, InputError, json_path

#: oversize jobs listed by name in the message (the rest are counted)
LISTED = 10
#: experiment → its width key, when not `widths` (linear-width sets m = ratio·N)
WIDTH_KEY = {"gamma": "m", "flow": "m", "linear-width": "arms"}


def machine_memory_mb() -> float | None:
    """This machine's memory in MB: its physical RAM, or the cgroup (container) limit of this
    process when that is lower; None when neither can be read."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = None
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = int(Path(limit).read_text().strip())
        except (OSError, ValueError):  # absent, or "max" (no limit)
            continue
        total = value if total is None else min(total, value)
    return None if total is None else total / 2**20


def job_memory_limit(provided: dict | None = None) -> tuple[float | None, str]:
    """The memory one job may use, MB, and where that figure comes from.

    Parameters
    ----------
    provided : dict, optional
        Snakemake's global resources (``--resources``, or a profile's ``resources:``) as
        ``{name: value}``: ``max_job_mem_mb`` replaces the machine's memory, ``mem_mb`` caps it.

    Returns
    -------
    (float or None, str)
        The limit (None: unknown, nothing is checked) and a description of its source.
    """
    provided = {k: v for k, v in (provided or {}).items() if v is not None}
    if "max_job_mem_mb" in provided:
        limit, source = float(provided["max_job_mem_mb"]), "max_job_mem_mb, from the profile or --resources"
    else:
        limit, source = machine_memory_mb(), "the memory of this machine"
    if "mem_mb" in provided and (limit is None or float(provided["mem_mb"]) < limit):
        limit, source = float(provided["mem_mb"]), "--resources mem_mb, which caps every job's request"
    return limit, source


def estimated_jobs(config, workdir=".") -> list[tuple[str, str, dict, dict]]:
    """(rule, job name, row, estimate) of every job the cost model covers: each ``train``,
    ``kernel_errors`` and ``gradient_flow`` job of a (validated) configuration."""
    dims = _file_dims(config, workdir)
    tables = [("train", {f"{e}/{r}": row for (e, r), row in runs.run_table(config).items()}),
              ("kernel_errors", {f"kernel/{r}": row for r, row in runs.kernel_table(config).items()}),
              ("gradient_flow", {f"flow/gf/{r}": row for r, row in runs.gf_table(config).items()})]
    out = []
    for rule, table in tables:
        for name, row in table.items():
            row = {**row, "d": row.get("d") or dims.get(row["dataset"])}
            out.append((rule, name, row, cost.estimate_row(cost.JOB_KINDS[rule](row))))
    return out


def _file_dims(config, workdir) -> dict:
    """d of each ``npz`` data set, read from its file's header (the cost model's default otherwise)."""
    from .datasets import inspect_npz

    dims = {}
    for name, entry in runs.all_datasets(config).items():
        if entry["kind"] == "npz" and entry.get("d") is None:
            try:
                dims[name] = inspect_npz(Path(workdir) / entry["path"])["d"]
            except InputError:
                pass
    return dims


def oversize(config, limit_mb: float, workdir=".") -> list[str]:
    """One line per job whose estimated peak memory exceeds ``limit_mb``: the job, its estimate
    and the configuration key to lower."""
    lines = []
    for rule, name, row, est in estimated_jobs(config, workdir):
        if est["mem_mb"] > limit_mb:
            lines.append(f"{rule} job {name}: estimated peak memory {_mb(est['mem_mb'])}; {_advice(config, rule, row)}")
    return lines


def _mb(mb: float) -> str:
    for unit, size in (("TB", 2**20), ("GB", 2**10)):
        if mb >= 10 * size:
            return f"{mb:,.0f} MB ≈ {mb / size:,.0f} {unit}"
    return f"{mb:,.0f} MB"


def _advice(config, rule, row) -> str:
    """What dominates a job's memory and the configuration key(s) that set it."""
    job = cost.JOB_KINDS[rule](row)
    terms = cost.memory_terms(job["m"], job["N"], job.get("d") or 784, n_test=job.get("n_test", 0),
                              track_gram=job.get("track_gram", False))
    term = max(terms, key=terms.get)
    if (8 * sum(terms.values()) / 2**20) < cost.BASE_MB:
        return f"most of it is the interpreter and its libraries ({cost.BASE_MB:.0f} MB): give one job more memory"
    width = f"{_width_key(row)} (m = {row['m']})"
    n_train, entry = _dataset_keys(config, row)
    keys = {"m·m": [width], "N·m": [width, f"{n_train} (N = {row['N']})"],
            "n_test·m": [width, f"{entry}.n_test (n_test = {row.get('n_test', 0)})"],
            "N·N": [f"{n_train} (N = {row['N']})"], "m·d": [width, f"{entry}.d (d = {job.get('d')})"],
            "(N+n_test)·d": [f"{entry}.d (d = {job.get('d')})", f"{n_train} (N = {row['N']})"]}[term]
    return f"its {term} arrays dominate: lower " + " or ".join(keys)


def _width_key(row) -> str:
    exp = row["experiment"]
    return f"{json_path('$.experiments', exp)}.{WIDTH_KEY.get(exp, 'widths')}"


def _dataset_keys(config, row) -> tuple[str, str]:
    """(key of N, key of the data-set entry) for a row's data set; a data set that
    linear-width derives takes N from that experiment's n_train, the rest from its template."""
    name = row["dataset"]
    if name in config["datasets"]:
        entry = json_path("$.datasets", name)
        return f"{entry}.n_train", entry
    block = config["experiments"]["linear-width"]
    template = next(t for t in block["datasets"] if name in (runs.derived_name(config, t, N) for N in block["n_train"]))
    return f"{json_path('$.experiments', 'linear-width')}.n_train", json_path("$.datasets", template)


def check_memory(config, provided: dict | None = None, workdir=".") -> list[str]:
    """Refuse (or, with ``allow_oversize``, warn about) jobs too large for one job's memory.

    Parameters
    ----------
    config : dict
        A validated configuration.
    provided : dict, optional
        Snakemake's global resources, ``{name: value}`` (:func:`job_memory_limit`).
    workdir : str or Path
        The directory the configuration's relative paths are relative to.

    Returns
    -------
    list of str
        Warnings to print: the oversize jobs when ``allow_oversize`` is true, or a note that
        the limit is unknown; empty when every job fits.

    Raises
    ------
    ConfigError
        Some job's estimated peak memory exceeds the limit and ``allow_oversize`` is not set.
    """
    limit, source = job_memory_limit(provided)
    if limit is None:
        return ["memory check skipped: the memory of this machine is unknown; declare the memory one job may "
                "use with --resources max_job_mem_mb=<MB>"]
    lines = oversize(config, limit, workdir)
    if not lines:
        return []
    listed = lines[:LISTED] + ([f"... and {len(lines) - LISTED} more jobs"] if len(lines) > LISTED else [])
    head = f"{len(lines)} job(s) would need more memory than one job may use, {_mb(limit)} ({source})"
    if config.get("allow_oversize", False) in (True, "true", "True"):
        return [f"warning: {head}; running them anyway (allow_oversize: true):"] + [f"  {x}" for x in listed]
    raise ConfigError(
        f"invalid configuration: {head}:\n  " + "\n  ".join(listed)
        + "\nLower the key named, or run anyway with allow_oversize: true (--config allow_oversize=true); "
        "if one job may use more memory (a cluster node), say how much with --resources max_job_mem_mb=<MB>."
    )
