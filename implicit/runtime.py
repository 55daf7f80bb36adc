"""Thread control and provenance of a run."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

def set_threads(n: int) -> int:
    """Use ``n`` threads in Numba's parallel kernels and in the BLAS behind NumPy.

    Snakemake passes a job's ``threads`` but sets neither ``NUMBA_NUM_THREADS`` nor the BLAS
    variables, so workflow scripts call this first.  Numba cannot exceed the thread count it
    was started with (``NUMBA_NUM_THREADS``, default: all cores); ``n`` is capped there.
    Returns the count in force.
    """
    import numba
    from threadpoolctl import threadpool_limits

    n = int(n)
    if n < 1:
        raise ValueError(f"thread count must be ≥ 1, got {n}")
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    threadpool_limits(limits=n, user_api="blas")  # applies at once, for the process
    return n


def threads_in_use() -> dict:
    """{"numba": n, "blas": [(library, n), ...]}"""
    import numba
    from threadpoolctl import threadpool_info

    return {
        "numba": numba.get_num_threads(),
        "blas": [(i.get("internal_api"), i.get("num_threads")) for i in threadpool_info() if i.get("user_api") == "blas"],
    }


def git_state(path: str | os.PathLike = ".") -> dict:
    """{"commit": sha or None, "dirty": bool or None} of the repository holding ``path``."""
    def run(*args):
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, timeout=10)

    try:
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def config_hash(config) -> str:
    """SHA-256 (first 16 hex digits) of a JSON-serialisable config, keys sorted."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def provenance(**extra) -> dict:
    """Package and library versions, git state, BLAS and threads, plus ``extra`` fields."""
    import numba
    import numpy
    import pandas
    import scipy
    from threadpoolctl import threadpool_info

    from . import __version__

    blas = [
        {k: i.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
        for i in threadpool_info() if i.get("user_api") == "blas"
    ]
    return {
        "package": "implicit-relu",
        "package_version": __version__,
        "git": git_state(Path(__file__).resolve().parent),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
        "blas": blas,
        "threads": threads_in_use(),
        "argv": sys.argv,
        **extra,
    }
