"""Data sets of the experiments, the real image sets and the loader for user (MNIST-format) files.

Every :class:`Dataset` produced here satisfies the standing assumptions of the
theory in Gao & Gao (arXiv:2205.07463):

* every row of ``X_train`` / ``X_test`` has unit Euclidean norm;
* no two rows of a split are parallel or antiparallel; more strictly, every
  pair within a split satisfies ``|cos(x_i, x_j)| <= cos(min_angle_deg)``
  (train/test cross pairs are not constrained, except that ``digits`` is
  de-duplicated before it is split).

Choice of the separation threshold
----------------------------------
For two unit vectors at angle ``theta`` the 2x2 block of the input Gram matrix
has smallest eigenvalue ``1 - cos(theta) ~ theta**2 / 2``; the same holds, to
leading order, for the arc-cosine (ReLU) kernel, ``1 - k1(cos theta) ~
theta**2/2``.  A pair at 1e-3 degrees would therefore put the least eigenvalue
``lambda_0`` (which sets the convergence rate and the width requirement) near
1.5e-10, numerically indistinguishable from a singular matrix.  We require
``|cos| <= 0.999``, i.e. ``DEFAULT_MIN_ANGLE_DEG = degrees(arccos(0.999)) ~=
2.56 deg``, which caps the contribution of any single pair to ``lambda_0`` at
no less than 1e-3.  For random points on ``S^{d-1}`` with ``d >= 10`` this is
essentially never active; in very low dimension (``d = 2, 3``) it limits how
many points fit, and generation fails with a clear error instead of silently
producing an ill-conditioned problem.  Every entry point accepts
``min_angle_deg`` to change it; exactly parallel rows (``|cos| > 1 - 1e-9``)
are always refused.

Fixing policy
-------------
* generated sets (``sphere-*``, ``random-labels``, ``gaussian-mixture``):
  offending later rows are *jittered* -- rotated by ``2 * min_angle`` in a
  random direction orthogonal to themselves and renormalised -- until no pair
  violates the threshold; labels that depend on ``x`` are computed after the
  jitter.  The count is recorded in ``info["notes"]``.
* ``digits``: exact duplicate images are removed (all copies when the copies
  carry conflicting labels, all but the first otherwise), then remaining
  near-parallel rows are dropped; counts are recorded.  (Checked with
  scikit-learn 1.9: none of the 1797 bundled images is an exact duplicate and
  classes (0, 1) have no pair with ``|cos| > 0.999``, so the counts are 0; the
  code path exists for other versions / class pairs.)
* real images (``mnist``, ``fashion-mnist``, ``cifar10``, ``svhn``; files from
  :mod:`replication.realdata`): a seeded, class-balanced subsample of each split, rows
  flattened and normalised, then offending rows *jittered* as for the generated sets (the
  sibling paper adds Gaussian jitter to one sample of each parallel pair); counts in the notes.
* user files (``npz``): nothing is altered except row normalisation, which is
  reported in the notes and logged; duplicates and (anti)parallel rows are
  refused with a ``ValueError``.  ``make_dataset("npz", ...)`` runs the
  O(n^2 d) pair check only on the rows it keeps (about 2 s for 12000 x 784).

Randomness: everything derives from ``np.random.SeedSequence(seed).spawn(4)``
-> streams ``train``, ``test``, ``teacher``, ``aux`` (jitter / shuffling), so
equal arguments give bit-identical arrays.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .files import atomic_output
from .integrity import damaged, sha256, verify, write_checksum
from .realdata import IMAGE_KINDS, load_images

__all__ = [
    "DEFAULT_MIN_ANGLE_DEG",
    "KINDS",
    "Dataset",
    "make_dataset",
    "load_npz",
    "inspect_npz",
    "validate_arrays",
    "unit_rows",
    "remove_parallel",
    "save_npz",
    "load_dataset",
]

logger = logging.getLogger("replication.datasets")

#: ``|cos| <= 0.999`` between any two rows of a split (see module docstring).
DEFAULT_MAX_ABS_COS = 0.999
DEFAULT_MIN_ANGLE_DEG = float(np.degrees(np.arccos(DEFAULT_MAX_ABS_COS)))  # ~2.5626
#: exactly parallel rows are refused whatever ``min_angle_deg`` says.
_HARD_MAX_ABS_COS = 1.0 - 1e-9
_UNIT_TOL = 1e-10
_BLOCK = 1024  # rows per Gram block: N=5000 -> at most 1024 x 5000 at a time

#: scikit-learn's digits are 8×8 images
DIGITS_D = 64
#: two classes of scikit-learn's digits hold about 360 images
DIGITS_MAX_SAMPLES = 360
#: the real image sets are grayscale 28×28
IMAGE_D = 784

_STREAMS = ("train", "test", "teacher", "aux")


# --------------------------------------------------------------------------- #
# Dataset container
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split.

    X_train (n, d) float64, y_train (n,) float64, X_test (n_test, d) float64,
    y_test (n_test,) float64, ``name`` and a JSON-serialisable ``info`` dict
    (generator parameters, seed, notes).  Shapes and dtypes are checked and
    coerced on construction; equality is identity (arrays are not compared).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for attr in ("X_train", "y_train", "X_test", "y_test"):
            arr = np.ascontiguousarray(getattr(self, attr), dtype=np.float64)
            object.__setattr__(self, attr, arr)
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.ndim != 2:
                raise ValueError(f"Dataset: X_{split} must be 2-D, got shape {X.shape}")
            if y.ndim != 1:
                raise ValueError(f"Dataset: y_{split} must be 1-D, got shape {y.shape}")
            if X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"Dataset: X_{split} has {X.shape[0]} rows but y_{split} has {y.shape[0]}"
                )
            if not (np.isfinite(X).all() and np.isfinite(y).all()):
                raise ValueError(f"Dataset: {split} split contains NaN or inf")
        if self.X_test.shape[1] != self.X_train.shape[1]:
            raise ValueError(
                f"Dataset: X_train has d={self.X_train.shape[1]} but X_test has "
                f"d={self.X_test.shape[1]}"
            )
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "info", _jsonable(dict(self.info)))

    @property
    def n_train(self) -> int:
        """Number of training samples n."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.X_test.shape[0])

    @property
    def d(self) -> int:
        """Input dimension d."""
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, "
            f"n_test={self.n_test}, d={self.d})"
        )


# --------------------------------------------------------------------------- #
# Row geometry helpers
# --------------------------------------------------------------------------- #
def unit_rows(X: np.ndarray) -> np.ndarray:
    """Return ``X / ||x||`` row-wise, shape (n, d) float64; zero rows raise ValueError."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"unit_rows: X must be 2-D, got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0.0)
    if zero.size:
        raise ValueError(
            f"unit_rows: {zero.size} zero row(s) cannot be normalised "
            f"(first indices {zero[:5].tolist()})"
        )
    return X / norms[:, None]


def _max_abs_cos(min_angle_deg: float) -> float:
    """Threshold on |cos| for a minimum angle in degrees (never above 1 - 1e-9)."""
    if not (0.0 <= float(min_angle_deg) < 90.0):
        raise ValueError(f"min_angle_deg must be in [0, 90), got {min_angle_deg}")
    return float(min(np.cos(np.radians(min_angle_deg)), _HARD_MAX_ABS_COS))


def _close_pairs(U: np.ndarray, max_abs_cos: float, block: int = _BLOCK):
    """Pairs (i, j), i < j, of unit rows U (n, d) with |U_i . U_j| > max_abs_cos.

    Blocked Gram matrix: memory O(block * n).  Returns int arrays i, j and the
    signed cosines c, sorted by (j, i).
    """
    n = U.shape[0]
    I, J, C = [], [], []
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        G = U[r0:r1] @ U[:r1].T  # (r1 - r0, r1)
        rows = np.arange(r0, r1)[:, None]
        cols = np.arange(r1)[None, :]
        a, b = np.nonzero((np.abs(G) > max_abs_cos) & (cols < rows))
        if a.size:
            J.append(a + r0)
            I.append(b)
            C.append(G[a, b])
    if not I:
        e = np.empty(0, dtype=np.intp)
        return e, e.copy(), np.empty(0)
    i, j, c = np.concatenate(I), np.concatenate(J), np.concatenate(C)
    order = np.lexsort((i, j))
    return i[order], j[order], c[order]


def _greedy_keep(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Boolean mask keeping a row unless it conflicts with an earlier *kept* row.

    Loops over conflicting pairs only (few), not over samples.
    """
    keep = np.ones(n, dtype=bool)
    for jj in np.unique(j):
        if keep[i[j == jj]].any():
            keep[jj] = False
    return keep


def remove_parallel(
    X: np.ndarray,
    y: np.ndarray,
    *,
    min_angle_deg: float = DEFAULT_MIN_ANGLE_DEG,
    rng: np.random.Generator | None = None,
    mode: str = "jitter",
    max_rounds: int = 100,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Enforce ``|cos(x_i, x_j)| <= cos(min_angle_deg)`` for all i != j.

    X (n, d) (normalised first), y (n,).  A row is *offending* when it violates
    the threshold with an earlier row.

    * ``mode="jitter"``: offending rows are rotated by ``2*min_angle`` in a
      random direction orthogonal to themselves (by the triangle inequality this
      resolves the pair) and renormalised; repeated until clean or
      ``max_rounds`` is exhausted (ValueError).  n is unchanged; y untouched.
    * ``mode="drop"``: rows conflicting with an earlier kept row are removed,
      together with their labels.

    Returns ``(X_unit (n', d), y (n',), n_fixed)`` where ``n_fixed`` is the
    number of rows jittered or dropped.  ``rng`` defaults to
    ``default_rng(0)`` (only used by ``mode="jitter"``).
    """
    U = unit_rows(X)
    y = np.asarray(y)
    if y.shape[:1] != U.shape[:1]:
        raise ValueError(f"remove_parallel: X has {U.shape[0]} rows but y has shape {y.shape}")
    thr = _max_abs_cos(min_angle_deg)
    n, d = U.shape
    i, j, _ = _close_pairs(U, thr)
    if i.size == 0:
        return U, y, 0

    if mode == "drop":
        keep = _greedy_keep(n, i, j)
        n_drop = int(n - keep.sum())
        return U[keep], y[keep], n_drop
    if mode != "jitter":
        raise ValueError(f"remove_parallel: mode must be 'jitter' or 'drop', got {mode!r}")
    if d < 2:
        raise ValueError("remove_parallel: cannot jitter rows in dimension d=1")

    rng = np.random.default_rng(0) if rng is None else rng
    step = np.tan(np.radians(2.0 * max(min_angle_deg, np.degrees(np.arccos(thr)))))
    touched = np.zeros(n, dtype=bool)
    bad = np.unique(j)
    for _ in range(max_rounds):
        touched[bad] = True
        Z = rng.standard_normal((bad.size, d))
        Z -= np.sum(Z * U[bad], axis=1, keepdims=True) * U[bad]  # orthogonal to x
        Z /= np.linalg.norm(Z, axis=1, keepdims=True)
        U[bad] = unit_rows(U[bad] + step * Z)
        # re-check only the pairs that involve a moved row
        G = np.abs(U[bad] @ U.T)
        G[np.arange(bad.size), bad] = 0.0
        a, b = np.nonzero(G > thr)
        if a.size == 0:
            return U, y, int(touched.sum())
        bad = np.unique(np.maximum(bad[a], b))
    raise InputError(
        f"remove_parallel: could not separate {n} rows in d={d} to a minimum angle of "
        f"{min_angle_deg:.4g} deg after {max_rounds} jitter rounds; lower min_angle_deg "
        "or raise d (the sphere is too crowded)"
    )


# --------------------------------------------------------------------------- #
# Validation of user arrays
# --------------------------------------------------------------------------- #
def _pair_message(name: str, U: np.ndarray, thr: float) -> str | None:
    """Describe (anti)parallel pairs of unit rows U (n, d), or None when there are none."""
    i, j, c = _close_pairs(U, thr)
    if i.size == 0:
        return None
    anti = c < 0
    kinds = []
    if (~anti).any():
        kinds.append(f"{int((~anti).sum())} parallel")
    if anti.any():
        kinds.append(f"{int(anti.sum())} antiparallel")
    ex = ", ".join(
        f"({a}, {b}): cos={cc:+.6f}" for a, b, cc in zip(i[:3].tolist(), j[:3].tolist(), c[:3])
    )
    return (
        f"{name}: {' and '.join(kinds)} pair(s) of rows with |cos| > {thr:.6g} "
        f"(e.g. rows {ex}); the theory needs well-separated, non-parallel samples -- "
        "remove them (e.g. replication.datasets.remove_parallel(..., mode='drop')) or pass "
        "a smaller min_angle_deg"
    )


def _check_basic(X: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Dtype/shape/finiteness checks; returns X (n, d) and y (n,) as float64."""
    X = np.asarray(X)
    y = np.asarray(y)
    for label, arr in (("X", X), ("y", y)):
        if arr.dtype.kind not in "biuf":
            what = "labels" if label == "y" else "features"
            raise InputError(
                f"{name}: non-numeric {what} ({label} has dtype {arr.dtype}); "
                "expected integer or float values"
            )
    if X.ndim < 2:
        raise InputError(f"{name}: X must be 2-D after flattening, got shape {X.shape}")
    if y.ndim != 1:
        raise InputError(f"{name}: y must be 1-D, got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise InputError(
            f"{name}: mismatched sample counts: X has {X.shape[0]} rows, y has {y.shape[0]}"
        )
    if X.shape[0] == 0:
        raise InputError(f"{name}: empty split (0 samples)")
    X = X.reshape(X.shape[0], -1).astype(np.float64)
    y = y.astype(np.float64)
    if X.shape[1] == 0:
        raise InputError(f"{name}: X has zero features, shape {X.shape}")
    for label, arr in (("X", X), ("y", y)):
        if not np.isfinite(arr).all():
            n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
            raise InputError(f"{name}: {label} contains {n_nan} NaN and {n_inf} inf value(s)")
    return X, y


def validate_arrays(
    X: Any,
    y: Any,
    *,
    name: str,
    min_angle_deg: float = DEFAULT_MIN_ANGLE_DEG,
    check_parallel: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Check and normalise one user split.

    X: (n, ...) numeric (flattened to (n, d)); y: (n,) numeric.  Raises
    ValueError naming ``name`` and the problem for: non-numeric data, NaN/inf,
    X not 2-D after flattening, y not 1-D, mismatched counts, an empty split,
    zero rows and (unless ``check_parallel=False``, which skips the O(n^2 d)
    part) duplicate rows or pairs with ``|cos| > cos(min_angle_deg)``, reported
    as parallel / antiparallel.  Non-unit rows are normalised; this is logged
    (INFO on ``replication.datasets``) and reported in ``notes``.

    Returns ``(X (n, d) float64 unit rows, y (n,) float64, notes: list[str])``.
    """
    X, y = _check_basic(X, y, name)
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0.0)
    if zero.size:
        raise InputError(
            f"{name}: {zero.size} zero row(s) cannot be normalised "
            f"(first indices {zero[:5].tolist()})"
        )
    if not np.isfinite(norms).all():
        raise InputError(f"{name}: row norms overflow float64; rescale the data")
    if check_parallel:
        uniq, first, counts = np.unique(X, axis=0, return_index=True, return_counts=True)
        if uniq.shape[0] != X.shape[0]:
            raise InputError(
                f"{name}: {X.shape[0] - uniq.shape[0]} duplicate row(s) (e.g. copies of row "
                f"{int(first[np.argmax(counts > 1)])}); duplicates make the Gram matrix singular"
            )

    notes: list[str] = []
    off = np.abs(norms - 1.0) > _UNIT_TOL
    if off.any():
        X = X / norms[:, None]
        msg = f"{int(off.sum())} of {X.shape[0]} rows normalised to unit norm"
        notes.append(msg)
        logger.info("%s: %s", name, msg)
    if check_parallel:
        problem = _pair_message(name, X, _max_abs_cos(min_angle_deg))
        if problem is not None:
            raise InputError(problem)
    return X, y, notes


# --------------------------------------------------------------------------- #
# User files
# --------------------------------------------------------------------------- #
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _select_classes(X, y, classes, name: str):
    """Keep labels in ``classes`` (two values) and map classes[0] -> -1, classes[1] -> +1."""
    c0, c1 = classes
    y = np.asarray(y)
    m0, m1 = y == c0, y == c1
    for c, m in ((c0, m0), (c1, m1)):
        if not m.any():
            raise InputError(f"{name}: class {c!r} not present in the labels (empty class)")
    keep = m0 | m1
    return np.asarray(X)[keep], np.where(m1[keep], 1.0, -1.0)


def _check_classes(classes) -> tuple:
    classes = tuple(classes)
    if len(classes) != 2 or classes[0] == classes[1]:
        raise ValueError(f"classes must be two distinct labels, got {classes!r}")
    return classes


def _open_user_npz(path: Path) -> zipfile.ZipFile:
    """The zip archive of a user's ``.npz`` file; a missing or non-zip file is an InputError."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc}); expected NumPy's savez format "
                         f"with arrays {list(_NPZ_KEYS)}") from None
    missing = [k for k in _NPZ_KEYS if f"{k}.npy" not in archive.namelist()]
    if missing:
        archive.close()
        raise InputError(f"{path}: missing array(s) {missing}; an MNIST-format file needs {list(_NPZ_KEYS)}")
    return archive


def _read_user_npz(path: Path, keys=_NPZ_KEYS) -> dict:
    """The arrays ``keys`` (default: ``x_train, y_train, x_test, y_test``) of a user's file; any
    problem reading them (not a zip, missing arrays, object arrays, damaged members) is an InputError."""
    _open_user_npz(path).close()
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(
                f"{path}: contains object arrays (e.g. non-numeric labels); "
                "store numeric arrays only"
            ) from exc
        raise InputError(f"{path}: unreadable array ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{path}: damaged .npz file ({type(exc).__name__}: {exc})") from exc


def inspect_npz(path, *, classes=None) -> dict:
    """Check a user's MNIST-format file without reading its images (for the configuration check).

    Reads the archive's directory, each array's header (shape, dtype) and the labels.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.
    classes : pair of labels, optional
        The two classes a data set keeps; their samples are counted.

    Returns
    -------
    dict
        ``d`` (features per image), ``n_train`` and ``n_test``: the samples available in each
        split (of the two classes when given).

    Raises
    ------
    InputError
        Not a readable ``.npz``, a missing array, non-numeric arrays, inconsistent shapes, or
        a class absent from a split.
    """
    path = Path(path)
    with _open_user_npz(path) as archive:
        heads = {k: _npy_header(archive, k, path) for k in _NPZ_KEYS}
    out = {}
    for split in ("train", "test"):
        (xs, xt), (ys, yt) = heads[f"x_{split}"], heads[f"y_{split}"]
        name = f"{path.name}:{split}"
        if xt.kind not in "biuf" or yt.kind not in "biuf":
            raise InputError(f"{name}: non-numeric arrays (x: {xt}, y: {yt}); expected integer or float values")
        if len(xs) < 2 or len(ys) != 1 or xs[0] != ys[0]:
            raise InputError(f"{name}: x has shape {xs} and y {ys}; expected (n, ...) images and (n,) labels")
        out[f"n_{split}"] = int(ys[0])
        out[f"d_{split}"] = int(np.prod(xs[1:]))
    if out.pop("d_train") != out.pop("d_test"):
        raise InputError(f"{path}: x_train and x_test have different image sizes")
    out["d"] = int(np.prod(heads["x_train"][0][1:]))
    if classes is not None:
        labels = _read_user_npz(path, keys=("y_train", "y_test"))
        for split in ("train", "test"):
            y = labels[f"y_{split}"]
            _select_classes(np.empty((y.shape[0], 0)), y, _check_classes(classes), f"{path.name}:{split}")
            out[f"n_{split}"] = int(np.isin(y, list(classes)).sum())
    return out


def _npy_header(archive: zipfile.ZipFile, key: str, path: Path):
    """(shape, dtype) of the array ``key`` of an open ``.npz`` archive, from its header only."""
    try:
        with archive.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{path}: array {key} is unreadable ({exc})") from None
    return shape, dtype


def _load_npz_with_notes(
    path, *, classes=None, check_parallel=True, min_angle_deg=DEFAULT_MIN_ANGLE_DEG, subsample=None
):
    """load_npz plus per-split notes and availability.

    ``subsample`` maps split -> (n, rng): after class selection keep the first
    n rows of a seeded permutation, *then* validate (so the O(n^2 d) pair check
    only sees the rows actually used).  Returns ``(arrays, notes, n_available)``.
    """
    path = Path(path)
    raw = _read_user_npz(path)
    if classes is not None:
        classes = _check_classes(classes)
    out, notes, avail = [], {}, {}
    for split in ("train", "test"):
        name = f"{path.name}:{split}"
        X, y = _check_basic(raw[f"x_{split}"], raw[f"y_{split}"], name)
        if classes is not None:
            X, y = _select_classes(X, y, classes, name)
        avail[split] = X.shape[0]
        notes[split] = []
        if subsample is not None:
            n, rng = subsample[split]
            if n > X.shape[0]:
                raise InputError(f"{name}: {X.shape[0]} samples available, {n} requested")
            idx = rng.permutation(X.shape[0])[:n]
            X, y = X[idx], y[idx]
            if n == 0:  # an explicitly requested empty split
                out += [X, y]
                continue
        X, y, notes[split] = validate_arrays(
            X, y, name=name, check_parallel=check_parallel, min_angle_deg=min_angle_deg
        )
        out += [X, y]
    if out[0].shape[1] != out[2].shape[1]:
        raise InputError(
            f"{path}: x_train has {out[0].shape[1]} features but x_test has {out[2].shape[1]}"
        )
    return tuple(out), notes, avail


def load_npz(path, *, classes=None, check_parallel: bool = True, min_angle_deg: float = DEFAULT_MIN_ANGLE_DEG):
    """Load an MNIST-format ``.npz`` (``x_train, y_train, x_test, y_test``).

    Images (n, 28, 28) or (n, 784) are flattened and rows normalised; with
    ``classes=(a, b)`` only those labels are kept and mapped a -> -1, b -> +1.
    Every split goes through :func:`validate_arrays` (the O(n^2 d) parallel
    check can be skipped with ``check_parallel=False`` for large files).

    Returns ``(X_train (n, d), y_train (n,), X_test (m, d), y_test (m,))`` float64.
    """
    arrays, _, _ = _load_npz_with_notes(
        path, classes=classes, check_parallel=check_parallel, min_angle_deg=min_angle_deg
    )
    return arrays


# --------------------------------------------------------------------------- #
# Generators
# --------------------------------------------------------------------------- #
def _sphere(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n points uniform on S^{d-1}, shape (n, d)."""
    return unit_rows(rng.standard_normal((n, d)))


def _separate(X, y, rng, min_angle_deg, split, notes):
    """Jitter a generated split and record what happened."""
    X, y, k = remove_parallel(X, y, min_angle_deg=min_angle_deg, rng=rng, mode="jitter")
    if k:
        msg = f"{k} {split} rows jittered (|cos| > {_max_abs_cos(min_angle_deg):.6g} with an earlier row)"
        notes.append(msg)
        (logger.warning if k > 0.01 * X.shape[0] else logger.info)("%s", msg)
    return X, y, k


def _gen_sphere_linear(st, n_train, n_test, d, p, notes, info):
    noise = float(p.pop("noise", 0.0))
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"sphere-linear: noise must be a probability, got {noise}")
    w = st["teacher"].standard_normal(d)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        X, _, k = _separate(_sphere(st[split], n, d), np.zeros(n), st["aux"], p["min_angle_deg"], split, notes)
        y = np.where(X @ w >= 0.0, 1.0, -1.0)
        flip = st[split].random(n) < noise
        y[flip] = -y[flip]
        info[f"n_flipped_{split}"] = int(flip.sum())
        info[f"n_jittered_{split}"] = k
        out += [X, y]
    info["noise"] = noise
    return out


def _gen_sphere_relu(st, n_train, n_test, d, p, notes, info):
    k_t = int(p.pop("teacher_width", 10))
    if k_t < 1:
        raise ValueError(f"sphere-relu: teacher_width must be >= 1, got {k_t}")
    B = st["teacher"].standard_normal((k_t, d))
    a = st["teacher"].choice(np.array([-1.0, 1.0]), size=k_t)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        X, _, k = _separate(_sphere(st[split], n, d), np.zeros(n), st["aux"], p["min_angle_deg"], split, notes)
        f = np.maximum(X @ B.T, 0.0) @ a / np.sqrt(k_t)
        info[f"n_jittered_{split}"] = k
        out += [X, f]
    mean, std = float(out[1].mean()), float(out[1].std())
    if not std > 0.0:
        raise InputError("sphere-relu: teacher output is constant on the training set")
    out[1] = (out[1] - mean) / std
    out[3] = (out[3] - mean) / std
    info.update(teacher_width=k_t, label_mean=mean, label_std=std)
    notes.append("labels standardised with the training mean/std")
    return out


def _gen_random_labels(st, n_train, n_test, d, p, notes, info):
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        X, _, k = _separate(_sphere(st[split], n, d), np.zeros(n), st["aux"], p["min_angle_deg"], split, notes)
        y = st["teacher"].choice(np.array([-1.0, 1.0]), size=n)
        info[f"n_jittered_{split}"] = k
        out += [X, y]
    return out


def _gen_gaussian_mixture(st, n_train, n_test, d, p, notes, info):
    sep = float(p.pop("separation", 1.0))
    e = unit_rows(st["teacher"].standard_normal((1, d)))[0]
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        y = st[split].choice(np.array([-1.0, 1.0]), size=n)
        X = y[:, None] * (sep * e)[None, :] + st[split].standard_normal((n, d)) / np.sqrt(d)
        X = unit_rows(X)
        X, y, k = _separate(X, y, st["aux"], p["min_angle_deg"], split, notes)
        info[f"n_jittered_{split}"] = k
        out += [X, y]
    notes.append("rows normalised")
    info["separation"] = sep
    return out


def _gen_digits(st, n_train, n_test, d, p, notes, info):
    from sklearn.datasets import load_digits

    if d is not None and d != DIGITS_D:
        raise ValueError(f"digits: images are 8x8 so d={DIGITS_D}, got d={d}")
    classes = _check_classes(p.pop("classes", (0, 1)))
    bunch = load_digits()
    X, y = _select_classes(bunch.data.astype(np.float64), bunch.target, classes, "digits")
    n_raw = X.shape[0]
    # exact duplicates on the raw integer images, before normalisation
    _, first, inv = np.unique(X, axis=0, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    lab_min = np.full(first.size, np.inf)
    lab_max = np.full(first.size, -np.inf)
    np.minimum.at(lab_min, inv, y)
    np.maximum.at(lab_max, inv, y)
    conflict = (lab_min != lab_max)[inv]
    is_first = np.zeros(n_raw, dtype=bool)
    is_first[first] = True
    keep = is_first & ~conflict
    n_conf = int(conflict.sum())
    n_dup = int(n_raw - keep.sum() - n_conf)
    X, y = unit_rows(X[keep]), y[keep]
    X, y, n_par = remove_parallel(X, y, min_angle_deg=p["min_angle_deg"], mode="drop")
    notes.append("rows flattened and normalised to unit norm")
    notes.append(
        f"{n_dup} duplicate image(s) removed, {n_conf} conflicting-label duplicate(s) removed, "
        f"{n_par} near-parallel image(s) dropped"
    )
    if n_dup or n_conf or n_par:
        logger.info("digits: %s", notes[-1])
    n_pool = X.shape[0]
    if n_train + n_test > n_pool:
        raise InputError(
            f"digits: classes {classes} give only {n_pool} usable images, "
            f"but n_train + n_test = {n_train + n_test}"
        )
    perm = st["aux"].permutation(n_pool)
    tr, te = perm[:n_train], perm[n_train:n_train + n_test]
    info.update(
        classes=list(classes), label_map={str(classes[0]): -1, str(classes[1]): 1},
        n_available=n_pool, n_duplicates_removed=n_dup, n_conflicting_removed=n_conf,
        n_parallel_dropped=n_par,
    )
    return [X[tr], y[tr], X[te], y[te]]


def _gen_npz(st, n_train, n_test, d, p, notes, info):
    if "path" not in p:
        raise ValueError("npz: the 'path' parameter is required")
    path = Path(p.pop("path"))
    classes = p.pop("classes", None)
    if classes is not None:
        classes = _check_classes(classes)
    out, nts, avail = _load_npz_with_notes(
        path, classes=classes, min_angle_deg=p["min_angle_deg"],
        subsample={"train": (n_train, st["train"]), "test": (n_test, st["test"])},
    )
    if d is not None and d != out[0].shape[1]:
        raise InputError(f"npz: {path} has d={out[0].shape[1]}, but d={d} was requested")
    for split in ("train", "test"):
        notes += [f"{split}: {s}" for s in nts[split]]
        info[f"n_available_{split}"] = int(avail[split])
    info.update(
        path=str(path.resolve()), sha256=sha256(path),
        classes=None if classes is None else list(classes),
    )
    if classes is not None:
        info["label_map"] = {str(classes[0]): -1, str(classes[1]): 1}
    return list(out)


def _balanced(y: np.ndarray, n: int, rng: np.random.Generator, name: str) -> np.ndarray:
    """Indices of n rows of labels y (±1): n − n//2 of class −1 and n//2 of class +1, drawn
    without replacement and shuffled together."""
    picks = []
    for label, k in ((-1.0, n - n // 2), (1.0, n // 2)):
        pool = np.flatnonzero(y == label)
        if k > pool.size:
            raise ValueError(f"{name}: {k} images of class {label:+g} requested, {pool.size} available")
        picks.append(pool[rng.permutation(pool.size)[:k]])
    idx = np.concatenate(picks)
    return idx[rng.permutation(idx.size)]


def _gen_images(kind, st, n_train, n_test, d, p, notes, info):
    """A real image set (:data:`IMAGE_KINDS`): two classes, a class-balanced subsample of each
    split (streams train, test), rows flattened and normalised, parallel pairs jittered (aux)."""
    if d is not None and d != IMAGE_D:
        raise ValueError(f"{kind}: images are grayscale 28×28 so d={IMAGE_D}, got d={d}")
    classes = _check_classes(p.pop("classes", (0, 1)))
    arrays, source = load_images(kind)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        name = f"{kind}:{split}"
        X, y = _select_classes(arrays[f"x_{split}"].reshape(-1, IMAGE_D), arrays[f"y_{split}"], classes, name)
        info[f"n_available_{split}"] = [int((y == -1).sum()), int((y == 1).sum())]
        idx = _balanced(y, n, st[split], name)
        X, y, k = _separate(X[idx].astype(np.float64), y[idx], st["aux"], p["min_angle_deg"], split, notes)
        info[f"n_jittered_{split}"] = k
        out += [X, y]
    notes.append(f"rows flattened and normalised to unit norm; each split half of class {classes[0]}, "
                 f"half of class {classes[1]} (the odd one: class {classes[0]})")
    info.update(classes=list(classes), label_map={str(classes[0]): -1, str(classes[1]): 1}, source=source)
    return out


def _image_generator(kind):
    return lambda *args: _gen_images(kind, *args)


#: kind -> (generator, the parameters it accepts besides n_train, n_test, d, seed, min_angle_deg)
_GENERATORS = {
    "sphere-linear": (_gen_sphere_linear, {"noise"}),
    "sphere-relu": (_gen_sphere_relu, {"teacher_width"}),
    "random-labels": (_gen_random_labels, set()),
    "gaussian-mixture": (_gen_gaussian_mixture, {"separation"}),
    "digits": (_gen_digits, {"classes"}),
    "npz": (_gen_npz, {"path", "classes"}),
    **{kind: (_image_generator(kind), {"classes"}) for kind in IMAGE_KINDS},
}
KINDS = tuple(_GENERATORS)
#: kind -> its own parameters (the configuration's checks read them from here)
KIND_PARAMS = {kind: frozenset(allowed) for kind, (_, allowed) in _GENERATORS.items()}
#: the fields every data-set entry of a configuration may have besides its kind's parameters
DATASET_FIELDS = ("kind", "n_train", "n_test", "d", "seed", "min_angle_deg")


def input_dim(entry: dict) -> int | None:
    """The input dimension d of a configuration's data-set entry: its ``d``, or for ``digits``
    :data:`DIGITS_D`, for the real image sets :data:`IMAGE_D`; None where only the file knows
    it (``npz`` without ``d``)."""
    return entry.get("d") or {"digits": DIGITS_D, **dict.fromkeys(IMAGE_KINDS, IMAGE_D)}.get(entry["kind"])


def make_dataset(kind: str, *, n_train: int, n_test: int, d: int | None = None, seed: int, **params) -> Dataset:
    """Build the data set ``kind``: unit-norm rows, no two (anti)parallel rows in a split.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    n_train, n_test : int
        Samples in the splits, n_train ≥ 1 and n_test ≥ 0.
    d : int, optional
        Input dimension: required for the synthetic kinds (d ≥ 2), :data:`DIGITS_D` or None
        for ``digits``, :data:`IMAGE_D` or None for the real image sets, and equal to the
        file's (or None) for ``npz``.
    seed : int
        Non-negative; every random draw derives from it (streams train, test, teacher, aux).
    **params
        The kind's parameters (:data:`KIND_PARAMS`: ``noise``, ``teacher_width``,
        ``separation``, ``classes``, ``path``) and ``min_angle_deg`` for all kinds (default
        :data:`DEFAULT_MIN_ANGLE_DEG`).

    Returns
    -------
    Dataset
        The splits and ``info`` (parameters, seed, notes on what was jittered or dropped).

    Raises
    ------
    ValueError
        For an unknown kind or parameter, bad sizes or seed, or data that cannot meet the
        separation (module docstring).

    Notes
    -----
    Deterministic: equal arguments give bit-identical arrays.
    """
    if kind not in _GENERATORS:
        raise ValueError(f"unknown dataset kind {kind!r}; known kinds: {', '.join(KINDS)}")
    gen, allowed = _GENERATORS[kind]
    unknown = set(params) - allowed - {"min_angle_deg"}
    if unknown:
        raise ValueError(
            f"{kind}: unknown parameter(s) {sorted(unknown)}; allowed: {sorted(allowed | {'min_angle_deg'})}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    n_train, n_test = int(n_train), int(n_test)
    if n_train < 1 or n_test < 0:
        raise ValueError(f"need n_train >= 1 and n_test >= 0, got n_train={n_train}, n_test={n_test}")
    if kind not in ("digits", "npz", *IMAGE_KINDS):
        if d is None or int(d) < 2:
            raise ValueError(f"{kind}: d >= 2 is required, got d={d!r}")
        d = int(d)
    p = dict(params)
    p.setdefault("min_angle_deg", DEFAULT_MIN_ANGLE_DEG)
    p["min_angle_deg"] = float(p["min_angle_deg"])
    _max_abs_cos(p["min_angle_deg"])  # validates the range
    echo = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in p.items()}

    streams = dict(zip(_STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4))))
    notes: list[str] = []
    info: dict[str, Any] = {}
    X_train, y_train, X_test, y_test = gen(streams, n_train, n_test, d, p, notes, info)
    info = {
        "kind": kind, "seed": int(seed), "n_train": n_train, "n_test": n_test,
        "d": int(X_train.shape[1]), "params": echo,
        "max_abs_cos": _max_abs_cos(p["min_angle_deg"]), **info, "notes": notes,
    }
    return Dataset(X_train, y_train, X_test, y_test, name=kind, info=info)


# --------------------------------------------------------------------------- #
# Persistence
# --------------------------------------------------------------------------- #
def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON so ``info`` compares equal after save/load."""

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, os.PathLike):
            return os.fspath(o)
        raise TypeError(f"info value of type {type(o).__name__} is not JSON-serialisable")

    return json.loads(json.dumps(obj, default=default))


def _write_arrays(fileobj, arrays: dict) -> None:
    """Array writer used by :func:`save_npz` (separate so tests can fail it)."""
    np.savez(fileobj, **arrays)


def save_npz(path, ds: Dataset) -> None:
    """Write ``ds`` to the single file ``path`` atomically.

    Arrays ``X_train, y_train, X_test, y_test`` plus ``name`` and ``info``
    (JSON) as 0-d strings.  The data go to a temporary file in the same
    directory which is fsync'ed and then ``os.replace``-d onto ``path``; on any
    error the temporary file is removed and ``path`` is left as it was.  Then the
    file's SHA-256 goes to the sidecar ``<path>.sha256.json``, which
    :func:`load_dataset` checks (:mod:`replication.integrity`).
    """
    arrays = {
        "X_train": ds.X_train, "y_train": ds.y_train,
        "X_test": ds.X_test, "y_test": ds.y_test,
        "name": np.array(ds.name), "info": np.array(json.dumps(_jsonable(ds.info), sort_keys=True)),
    }
    with atomic_output(path, fsync=True) as tmp, open(tmp, "wb") as f:
        _write_arrays(f, arrays)
    write_checksum(path)


def load_dataset(path, *, check: bool = True) -> Dataset:
    """Read a file written by :func:`save_npz` back into a :class:`Dataset`.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.
    check : bool
        Verify the file against the SHA-256 sidecar :func:`save_npz` wrote
        (:func:`replication.integrity.verify`) before reading it.

    Raises
    ------
    DamagedFileError
        The file is missing, damaged or does not match its checksum; the message names the file
        and the command that regenerates it.
    """
    path = verify(path) if check else Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("X_train", "y_train", "X_test", "y_test", "name", "info") if k not in z.files]
            if missing:
                raise damaged(path, f"is not a saved data set (missing {missing})")
            return Dataset(
                z["X_train"], z["y_train"], z["X_test"], z["y_test"],
                name=str(z["name"][()]), info=json.loads(str(z["info"][()])),
            )
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        if isinstance(exc, InputError):
            raise
        raise damaged(path, f"is unreadable ({type(exc).__name__}: {exc})") from None
