"""Atomic file output: a killed process never leaves a truncated file under the final name.

Every output goes to a temporary file in its own directory and is renamed onto the final
name with ``os.replace`` only once complete, so a killed job never leaves a file that a
later run would take as finished.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_output(path, *, fsync: bool = False):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file lives in the same directory (so ``os.replace`` is atomic) and gets
    the usual mode 0666 & ~umask (``mkstemp`` would leave 0600).  On any exception, or
    KeyboardInterrupt, it is removed and ``path`` is left as it was.  ``fsync=True`` flushes
    the data to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_csv(df, path) -> None:
    """DataFrame → CSV (no index), atomically."""
    with atomic_output(path) as tmp:
        df.to_csv(tmp, index=False)


def write_text(text: str, path) -> None:
    """Text to ``path``, atomically."""
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


def write_npz(arrays: dict, path) -> None:
    """Arrays to an uncompressed ``.npz`` file, atomically."""
    import numpy as np

    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
