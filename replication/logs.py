"""Logging of a workflow job to its rule's ``log:`` file."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback

from .errors import InputError

#: failures a job reports in one line, without a traceback: a bad input file (a user's data
#: file, or a damaged intermediate file) and running out of memory
EXPECTED = (InputError, MemoryError)


@contextlib.contextmanager
def logged(snakemake, name="workflow"):
    """Send logging and stderr (Numba, NumPy warnings) to the job's ``log:`` file.

    An expected failure (:data:`EXPECTED`) writes one line, :func:`failure_line`, to the log
    and to the job's stderr and exits with status 1.  Any other exception writes its
    traceback to the log and is re-raised; either way Snakemake marks the job failed (and
    ``--show-failed-logs`` prints the log).
    """
    with open(snakemake.log[0], "w") as fh:
        old_stderr, sys.stderr = sys.stderr, fh
        logging.basicConfig(stream=fh, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s", force=True)
        try:
            yield logging.getLogger(name)
        except EXPECTED as exc:
            line = failure_line(name, exc)
            for stream in (fh, old_stderr):
                print(line, file=stream, flush=True)
            raise SystemExit(1) from None
        except BaseException:
            traceback.print_exc(file=fh)
            raise
        finally:
            fh.flush()
            sys.stderr = old_stderr


def failure_line(rule: str, exc: BaseException) -> str:
    """The one line an expected failure of a ``rule`` job prints: what failed and the fix."""
    if isinstance(exc, MemoryError):
        return (f"{rule}: out of memory ({exc or 'MemoryError'}); lower the width m or the sample size N in the "
                f"configuration, or give the job more memory (--set-resources {rule}:mem_mb=<MB>)")
    return f"{rule}: {exc}"
