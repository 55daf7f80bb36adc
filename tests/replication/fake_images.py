"""Small files in the exact formats of the real image sets, and a data cache made of them.

The original hosts are unreachable from the test machines, so the fetch, checksum, cache and
conversion code of :mod:`replication.realdata` is tested on files written here: IDX gzip
(MNIST, Fashion-MNIST), CIFAR-10's tarball of pickled batches, SVHN's MATLAB .mat files.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

from replication import realdata


def idx_gz(arr: np.ndarray) -> bytes:
    """``arr`` (uint8) as a gzip-compressed IDX file."""
    header = b"\0\0\x08" + bytes([arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return gzip.compress(header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes())


def cifar_tar(batches: dict) -> bytes:
    """CIFAR-10's python tarball: ``batches`` maps a batch name to (rgb (n, 32, 32, 3), labels)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (rgb, labels) in batches.items():
            data = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2)).reshape(len(rgb), -1)  # R, G, B planes
            blob = pickle.dumps({"batch_label": name, "labels": [int(v) for v in labels], "data": data,
                                 "filenames": [f"{name}_{i}.png" for i in range(len(rgb))]}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def svhn_mat(rgb: np.ndarray, labels: np.ndarray) -> bytes:
    """SVHN's .mat: X (32, 32, 3, n) uint8, y (n, 1) with 10 for the digit 0."""
    from scipy.io import savemat

    buf = io.BytesIO()
    y = np.where(labels == 0, 10, labels).astype(np.uint8).reshape(-1, 1)
    savemat(buf, {"X": np.ascontiguousarray(rgb.transpose(1, 2, 3, 0)), "y": y})
    return buf.getvalue()


def images(rng, n, shape, sparse=0.7):
    x = rng.integers(0, 256, size=(n, *shape)).astype(np.uint8)
    x[rng.random(x.shape) < sparse] = 0
    x[:, 0, 0] = 255  # never an all-zero image
    return x


def raw_files(kind: str, n_train=40, n_test=20, seed=0) -> tuple[dict, dict]:
    """({file name: bytes}, {"x_train", "y_train", "x_test", "y_test"}) of a small ``kind`` in
    its original format; the arrays are the images as written (RGB for CIFAR-10 and SVHN)."""
    rng = np.random.default_rng(seed)
    labels = {"train": np.arange(n_train) % 10, "test": np.arange(n_test) % 10}
    if kind in ("mnist", "fashion-mnist"):
        x = {s: images(rng, len(labels[s]), (28, 28)) for s in labels}
        files = {}
        for split, prefix in (("train", "train"), ("test", "t10k")):
            files[f"{prefix}-images-idx3-ubyte.gz"] = idx_gz(x[split])
            files[f"{prefix}-labels-idx1-ubyte.gz"] = idx_gz(labels[split].astype(np.uint8))
    else:
        x = {s: images(rng, len(labels[s]), (32, 32, 3), sparse=0.0) for s in labels}
        if kind == "cifar10":
            parts = np.array_split(np.arange(n_train), 5)
            batches = {f"data_batch_{i + 1}": (x["train"][p], labels["train"][p]) for i, p in enumerate(parts)}
            batches["test_batch"] = (x["test"], labels["test"])
            files = {"cifar-10-python.tar.gz": cifar_tar(batches)}
        else:
            files = {"train_32x32.mat": svhn_mat(x["train"], labels["train"]),
                     "test_32x32.mat": svhn_mat(x["test"], labels["test"])}
    arrays = {"x_train": x["train"], "y_train": labels["train"], "x_test": x["test"], "y_test": labels["test"]}
    return files, arrays


def patch_source(monkeypatch, kind: str, files: dict, n_train: int, n_test: int) -> realdata.Source:
    """Point ``SOURCES[kind]`` at ``files`` (their MD5s) and their sizes, label counts unchecked."""
    src = realdata.SOURCES[kind]
    raw = tuple(realdata.RawFile(f.name, hashlib.md5(files[f.name]).hexdigest()) for f in src.files)
    new = dataclasses.replace(src, files=raw, sizes=(n_train, n_test), counts=None)
    monkeypatch.setitem(realdata.SOURCES, kind, new)
    return new


def fake_cache(monkeypatch, root: Path, kind: str, n_train=300, n_test=150, seed=0, duplicates=0) -> dict:
    """A data cache at ``root`` holding converted arrays of ``kind`` (random sparse 28×28 images,
    labels 0–9 in turn; the first ``duplicates`` training images of class 1 copied onto the
    next ones); ``SOURCES[kind]`` patched to accept them.  Returns the arrays."""
    monkeypatch.setenv(realdata.ENV_DIR, str(root))
    monkeypatch.setitem(realdata.SOURCES, kind, dataclasses.replace(realdata.SOURCES[kind], sizes=(n_train, n_test), counts=None))
    rng = np.random.default_rng(seed)
    arrays = {"x_train": images(rng, n_train, (28, 28)), "y_train": (np.arange(n_train) % 10).astype(np.uint8),
              "x_test": images(rng, n_test, (28, 28)), "y_test": (np.arange(n_test) % 10).astype(np.uint8)}
    ones = np.flatnonzero(arrays["y_train"] == 1)
    for i in range(duplicates):
        arrays["x_train"][ones[2 * i + 1]] = arrays["x_train"][ones[2 * i]]
    realdata._write(kind, arrays, {"kind": kind, "from": "tests"})
    return arrays
