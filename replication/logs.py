"""Logging of a workflow job to its rule's ``log:`` file."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback


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
