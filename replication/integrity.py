"""SHA-256 checksums of the workflow's intermediate files, checked by every job that reads one.

A job that writes a data set (``results/data/*.npz``), a kernel file (``results/kernels/*.npz``),
a run table (``results/runs/**/*.csv``) or an aggregated table (``results/<experiment>.csv``)
records the file's SHA-256 and size in a sidecar ``<file>.sha256.json`` (:func:`write_checksum`,
written atomically after the file itself).  A job that reads one calls :func:`verify` first: a
file that is missing, truncated, changed after it was written, or whose sidecar is missing or
unreadable raises :class:`~replication.errors.DamagedFileError` with one message naming the
file and the command that regenerates it, before anything is computed or written.  The files
themselves are unchanged, so results stay byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import DamagedFileError
from .files import write_json

#: appended to a file's name to give its sidecar's
SUFFIX = ".sha256.json"


def sidecar(path) -> Path:
    """The checksum sidecar of ``path``: the same name with :data:`SUFFIX` appended."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def sha256(path) -> str:
    """Hex SHA-256 of the file ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_checksum(path) -> Path:
    """Record the SHA-256 and size of the (complete) file ``path`` in its sidecar, atomically.

    Returns the sidecar's path.  Call it after ``path`` has been written: a job killed in
    between leaves a sidecar that no longer matches, which :func:`verify` reports.
    """
    path = Path(path)
    record = {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size}
    write_json(record, sidecar(path))
    return sidecar(path)


def regenerate_hint(path) -> str:
    """How to regenerate the workflow output ``path`` (and, through its newer time, what used it)."""
    return (f"regenerate it with `snakemake --cores all --forcerun {path}` (add the --configfile you ran with), "
            "or delete it and run the workflow again")


def damaged(path, problem: str) -> DamagedFileError:
    """The error for a workflow file ``path`` that cannot be used: ``"<path> <problem>; <hint>"``."""
    return DamagedFileError(f"{path} {problem}; {regenerate_hint(path)}")


def verify(path) -> Path:
    """Check ``path`` against its sidecar before it is read.

    Parameters
    ----------
    path : str or Path
        A file written together with :func:`write_checksum`.

    Returns
    -------
    Path
        ``path``, when its size and SHA-256 are those recorded.

    Raises
    ------
    DamagedFileError
        The file or its sidecar is missing or unreadable, or the file differs from what was
        written; the message names the file and the command that regenerates it.
    """
    path = Path(path)
    if not path.is_file():
        raise damaged(path, "is missing")
    record = _record(path)
    size = path.stat().st_size
    if size != record["bytes"]:
        raise damaged(path, f"is damaged: it has {size} bytes, {record['bytes']} were written (truncated or changed)")
    if sha256(path) != record["sha256"]:
        raise damaged(path, f"is damaged: its SHA-256 differs from the one recorded in {sidecar(path)} when it was written")
    return path


def _record(path: Path) -> dict:
    """The sidecar's record of ``path``; a missing or malformed sidecar is a damaged file."""
    side = sidecar(path)
    try:
        record = json.loads(side.read_text())
    except FileNotFoundError:
        raise damaged(path, f"cannot be checked: its checksum file {side} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(path, f"cannot be checked: its checksum file {side} is unreadable ({exc})") from None
    if (not isinstance(record, dict) or record.get("file") != path.name or not isinstance(record.get("sha256"), str)
            or not isinstance(record.get("bytes"), int)):
        raise damaged(path, f"cannot be checked: its checksum file {side} is not the record of {path.name}")
    return record
