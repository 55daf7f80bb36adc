"""Job-side helpers of the workflow scripts: atomic outputs and logging to the rule's log file.

Importing this module (every script does, first) puts the repository root at the front of
``sys.path``, so jobs run the ``implicit/`` next to the Snakefile (the code whose hash the
rules track), not another installed copy.

Every output goes to a temporary file in its own directory and is renamed onto the final
name with ``os.replace`` only once complete, so a killed job never leaves a file that a
later run would take as finished.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from implicit.files import atomic_output  # noqa: E402  (after the sys.path line)


def write_csv(df, path) -> None:
    """DataFrame → CSV (no index), atomically."""
    with atomic_output(path) as tmp:
        df.to_csv(tmp, index=False)


def write_text(text: str, path) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text)


def write_json(obj, path) -> None:
    """JSON with sorted keys; NaN becomes null and ±inf the strings "inf"/"-inf" (strict JSON)."""
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(_finite(obj), indent=2, sort_keys=True, default=str) + "\n")


def save_figure(fig, *paths) -> None:
    """Write a matplotlib figure to each path (format from the suffix: .png, .pdf), atomically."""
    for path in paths:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=150, bbox_inches="tight")


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


@contextlib.contextmanager
def logged(snakemake, name="workflow"):
    """Send logging and stderr (Numba, NumPy warnings) to the job's ``log:`` file.

    A failing job writes its traceback there too and re-raises, so Snakemake marks it failed
    (and ``--show-failed-logs`` prints it).
    """
    with open(snakemake.log[0], "w") as fh:
        old_stderr, sys.stderr = sys.stderr, fh
        logging.basicConfig(stream=fh, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s", force=True)
        try:
            yield logging.getLogger(name)
        except BaseException:
            traceback.print_exc(file=fh)
            raise
        finally:
            fh.flush()
            sys.stderr = old_stderr
