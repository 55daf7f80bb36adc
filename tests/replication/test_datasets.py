"""Tests for replication.datasets: generators, validation of user files, persistence."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from replication import datasets as D, realdata
from replication.datasets import (
    DEFAULT_MIN_ANGLE_DEG,
    KINDS,
    Dataset,
    load_dataset,
    load_npz,
    make_dataset,
    remove_parallel,
    save_npz,
    unit_rows,
    validate_arrays,
)

from .fake_images import fake_cache

THR = float(np.cos(np.radians(DEFAULT_MIN_ANGLE_DEG)))  # 0.999


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def max_abs_cos(X: np.ndarray) -> float:
    """Largest |cos| between two distinct rows of X."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    G = np.abs(U @ U.T)
    np.fill_diagonal(G, 0.0)
    return float(G.max()) if len(X) > 1 else 0.0


def write_mnist(path, *, n_train=120, n_test=60, seed=0, flat=False, **override):
    """Small MNIST-format file: uint8 (n,28,28) images, labels 0..9."""
    rng = np.random.default_rng(seed)

    def imgs(n):
        x = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        x[rng.random(x.shape) < 0.7] = 0  # sparse, like digits
        return x.reshape(n, 784) if flat else x

    arrays = {
        "x_train": imgs(n_train),
        "y_train": np.arange(n_train) % 10,
        "x_test": imgs(n_test),
        "y_test": np.arange(n_test) % 10,
    }
    arrays.update(override)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def mnist_file(tmp_path):
    return write_mnist(tmp_path / "mnist.npz")


SYNTH = {
    "sphere-linear": dict(d=8),
    "sphere-relu": dict(d=8, teacher_width=5),
    "random-labels": dict(d=8),
    "gaussian-mixture": dict(d=8, separation=1.5),
    "digits": dict(),
}


def build(kind, seed, tmp_path=None, n_train=40, n_test=20, monkeypatch=None):
    params = dict(SYNTH.get(kind, {}))
    if kind in realdata.IMAGE_KINDS and not (tmp_path / "cache" / f"{kind}.npz").exists():
        fake_cache(monkeypatch, tmp_path / "cache", kind)  # small random images in the data cache
    if kind == "npz":
        path = tmp_path / "m.npz"
        if not path.exists():
            write_mnist(path, n_train=300, n_test=150)
        params = dict(path=path, classes=(0, 1))
    return make_dataset(kind, n_train=n_train, n_test=n_test, seed=seed, **params)


# --------------------------------------------------------------------------- #
# generators
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_shapes_norms_separation(kind, tmp_path, monkeypatch):
    ds = build(kind, seed=3, tmp_path=tmp_path, monkeypatch=monkeypatch)
    d = {"digits": 64, "npz": 784, **dict.fromkeys(realdata.IMAGE_KINDS, 784)}.get(kind, 8)
    assert isinstance(ds, Dataset) and ds.name == kind
    assert ds.X_train.shape == (40, d) and ds.y_train.shape == (40,)
    assert ds.X_test.shape == (20, d) and ds.y_test.shape == (20,)
    assert ds.n_train == 40 and ds.d == d
    for arr in (ds.X_train, ds.y_train, ds.X_test, ds.y_test):
        assert arr.dtype == np.float64 and np.isfinite(arr).all()
    for X in (ds.X_train, ds.X_test):
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
        assert max_abs_cos(X) <= THR
    if kind == "sphere-relu":  # standardised real labels
        assert abs(ds.y_train.mean()) < 1e-12 and abs(ds.y_train.std() - 1) < 1e-12
        assert ds.info["label_std"] > 0 and "label_mean" in ds.info
    else:  # binary labels
        for y in (ds.y_train, ds.y_test):
            assert set(np.unique(y)) <= {-1.0, 1.0}
        assert set(np.unique(ds.y_train)) == {-1.0, 1.0}
    assert ds.info["seed"] == 3 and ds.info["kind"] == kind
    assert isinstance(ds.info["notes"], list)


@pytest.mark.parametrize("kind", KINDS)
def test_determinism(kind, tmp_path, monkeypatch):
    a = build(kind, seed=11, tmp_path=tmp_path, monkeypatch=monkeypatch)
    b = build(kind, seed=11, tmp_path=tmp_path, monkeypatch=monkeypatch)
    c = build(kind, seed=12, tmp_path=tmp_path, monkeypatch=monkeypatch)
    for f in ("X_train", "y_train", "X_test", "y_test"):
        assert getattr(a, f).tobytes() == getattr(b, f).tobytes()
    assert a.info == b.info
    assert a.X_train.tobytes() != c.X_train.tobytes()


def test_sphere_linear_noise_flips_labels():
    clean = make_dataset("sphere-linear", n_train=400, n_test=10, d=6, seed=0)
    noisy = make_dataset("sphere-linear", n_train=400, n_test=10, d=6, seed=0, noise=0.25)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    flipped = int((clean.y_train != noisy.y_train).sum())
    assert flipped == noisy.info["n_flipped_train"] and 60 < flipped < 140


def test_low_dimension_rows_are_jittered_and_reported():
    ds = make_dataset("random-labels", n_train=300, n_test=5, d=3, seed=0)
    assert ds.info["n_jittered_train"] > 0
    assert any("jittered" in s for s in ds.info["notes"])
    assert max_abs_cos(ds.X_train) <= THR
    # a crowded sphere cannot be fixed: clear error instead of a bad Gram matrix
    with pytest.raises(ValueError, match="too crowded"):
        make_dataset("random-labels", n_train=500, n_test=5, d=2, seed=0)
    # ... unless the user relaxes the threshold
    ok = make_dataset("random-labels", n_train=500, n_test=5, d=2, seed=0, min_angle_deg=0.01)
    assert max_abs_cos(ok.X_train) <= np.cos(np.radians(0.01))


def test_gaussian_mixture_classes_are_separated():
    ds = make_dataset("gaussian-mixture", n_train=300, n_test=10, d=20, seed=1, separation=2.0)
    # class means point in opposite directions
    m_pos = ds.X_train[ds.y_train > 0].mean(0)
    m_neg = ds.X_train[ds.y_train < 0].mean(0)
    assert m_pos @ m_neg < 0
    assert "rows normalised" in ds.info["notes"]


def test_digits_properties():
    ds = make_dataset("digits", n_train=200, n_test=100, seed=0)
    assert ds.d == 64
    assert set(np.unique(ds.y_train)) == {-1.0, 1.0}
    assert ds.info["classes"] == [0, 1] and ds.info["n_available"] >= 300
    # no image shared between train and test
    joint = np.vstack([ds.X_train, ds.X_test])
    assert np.unique(joint, axis=0).shape[0] == joint.shape[0]
    other = make_dataset("digits", n_train=50, n_test=50, seed=0, classes=(3, 8))
    assert set(np.unique(other.y_train)) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="d=64"):
        make_dataset("digits", n_train=10, n_test=10, d=32, seed=0)
    with pytest.raises(ValueError, match="usable images"):
        make_dataset("digits", n_train=300, n_test=200, seed=0)


def test_digits_duplicates_removed(monkeypatch):
    """Exact duplicates are removed (all copies if their labels conflict)."""
    import sklearn.datasets
    from sklearn.utils import Bunch

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 17, size=(30, 64)).astype(float)
    target = np.array([0, 1] * 15)
    imgs[5] = imgs[3]  # same image, same label (target[3] == target[5] == 1)
    imgs[7] = imgs[3]
    imgs[10] = imgs[11]  # same image, labels 0 and 1: conflicting
    monkeypatch.setattr(
        sklearn.datasets, "load_digits", lambda: Bunch(data=imgs, target=target)
    )
    ds = make_dataset("digits", n_train=20, n_test=4, seed=0)
    assert ds.info["n_duplicates_removed"] == 2
    assert ds.info["n_conflicting_removed"] == 2
    assert ds.info["n_available"] == 26
    joint = np.vstack([ds.X_train, ds.X_test])
    assert max_abs_cos(joint) <= THR


def test_image_kinds_sample_balanced_classes_and_jitter_parallel_pairs(tmp_path, monkeypatch):
    """The same path for MNIST, Fashion-MNIST, CIFAR-10 and SVHN: two classes mapped to ∓1, half
    of each split from each class (a seeded draw), unit rows, copies of an image jittered apart
    and counted."""
    arrays = fake_cache(monkeypatch, tmp_path, "svhn", n_train=300, n_test=150, duplicates=3)
    ds = make_dataset("svhn", n_train=60, n_test=21, seed=4, classes=[1, 7])
    assert ds.d == 784 and np.bincount((ds.y_train > 0).astype(int)).tolist() == [30, 30]
    assert np.bincount((ds.y_test > 0).astype(int)).tolist() == [11, 10]  # the odd one: classes[0]
    assert ds.info["label_map"] == {"1": -1, "7": 1} and ds.info["n_available_train"] == [30, 30]
    assert ds.info["source"]["sha256"] and ds.info["source"]["path"].endswith("svhn.npz")
    for X in (ds.X_train, ds.X_test):
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
        assert max_abs_cos(X) <= THR
    # every class-7 row of the training split is in the draw: the three copied pairs must be jittered
    full = make_dataset("svhn", n_train=60, n_test=0, seed=4, classes=[7, 1])
    assert full.info["n_jittered_train"] == 3 and any("3 train rows jittered" in n for n in full.info["notes"])
    copies = arrays["x_train"][arrays["y_train"] == 1].reshape(30, 784).astype(float)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    assert max_abs_cos(copies) > 1 - 1e-12  # the cache does hold parallel pairs
    with pytest.raises(ValueError, match="31 images of class -1 requested, 30 available"):
        make_dataset("svhn", n_train=62, n_test=0, seed=4)
    with pytest.raises(ValueError, match="d=784"):
        make_dataset("svhn", n_train=6, n_test=0, d=100, seed=4)


def test_real_mnist_subsample(tmp_path, monkeypatch):
    try:
        realdata.prepare("mnist", download=False)
    except realdata.DataUnavailable as exc:
        pytest.skip(f"MNIST unavailable: {exc}")
    ds = make_dataset("mnist", n_train=200, n_test=100, seed=8)
    assert ds.X_train.shape == (200, 784) and (ds.y_train == 1).sum() == 100 and (ds.y_test == -1).sum() == 50
    assert ds.info["n_available_train"] == [5923, 6742] and ds.info["n_available_test"] == [980, 1135]
    assert make_dataset("mnist", n_train=200, n_test=100, seed=8).X_train.tobytes() == ds.X_train.tobytes()


def test_unknown_kind_and_parameters():
    with pytest.raises(ValueError, match="known kinds: sphere-linear"):
        make_dataset("cifar", n_train=5, n_test=5, d=3, seed=0)
    with pytest.raises(ValueError, match="teacher_widht"):
        make_dataset("sphere-relu", n_train=5, n_test=5, d=3, seed=0, teacher_widht=4)
    with pytest.raises(ValueError, match="d >= 2"):
        make_dataset("sphere-linear", n_train=5, n_test=5, seed=0)
    with pytest.raises(ValueError, match="seed"):
        make_dataset("sphere-linear", n_train=5, n_test=5, d=3, seed=None)


# --------------------------------------------------------------------------- #
# row helpers
# --------------------------------------------------------------------------- #
def test_unit_rows():
    X = np.array([[3.0, 4.0], [0.0, -2.0]])
    np.testing.assert_allclose(unit_rows(X), [[0.6, 0.8], [0.0, -1.0]])
    with pytest.raises(ValueError, match="zero row"):
        unit_rows(np.array([[1.0, 0.0], [0.0, 0.0]]))


def test_remove_parallel_jitter_and_drop():
    rng = np.random.default_rng(0)
    X = unit_rows(rng.standard_normal((50, 10)))
    X[10] = X[3] * 2.0  # parallel
    X[20] = -X[4]  # antiparallel
    X[30] = unit_rows((X[5] + 1e-3 * rng.standard_normal(10))[None])[0]  # nearly parallel
    y = np.arange(50.0)
    Xj, yj, k = remove_parallel(X, y, rng=np.random.default_rng(1))
    assert k == 3 and Xj.shape == X.shape and np.array_equal(yj, y)
    assert max_abs_cos(Xj) <= THR
    np.testing.assert_allclose(np.linalg.norm(Xj, axis=1), 1.0, atol=1e-12)
    untouched = np.setdiff1d(np.arange(50), [10, 20, 30])
    np.testing.assert_allclose(Xj[untouched], unit_rows(X)[untouched])

    Xd, yd, k = remove_parallel(X, y, mode="drop")
    assert k == 3 and Xd.shape == (47, 10)
    assert not np.isin([10.0, 20.0, 30.0], yd).any()
    assert max_abs_cos(Xd) <= THR

    clean = unit_rows(rng.standard_normal((20, 10)))
    Xc, _, k = remove_parallel(clean, np.zeros(20))
    assert k == 0
    np.testing.assert_allclose(Xc, clean, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- #
# user files
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("flat", [False, True])
def test_npz_loader_mnist_format(tmp_path, flat):
    path = write_mnist(tmp_path / "m.npz", flat=flat)
    Xtr, ytr, Xte, yte = load_npz(path, classes=(0, 1))
    assert Xtr.shape == (24, 784) and Xte.shape == (12, 784)
    assert set(np.unique(ytr)) == {-1.0, 1.0}
    np.testing.assert_allclose(np.linalg.norm(Xtr, axis=1), 1.0, atol=1e-12)
    raw = np.load(path)
    first0 = raw["x_train"].reshape(-1, 784)[0].astype(float)  # label 0 -> -1
    np.testing.assert_allclose(Xtr[0], first0 / np.linalg.norm(first0))
    assert ytr[0] == -1.0 and ytr[1] == 1.0
    # all ten classes without selection: labels kept as they are
    Xall, yall, _, _ = load_npz(path)
    assert Xall.shape == (120, 784) and set(np.unique(yall)) == set(range(10))


def test_npz_dataset(mnist_file):
    ds = make_dataset("npz", n_train=20, n_test=10, seed=0, path=mnist_file, classes=(0, 1))
    assert ds.X_train.shape == (20, 784) and ds.info["n_available_train"] == 24
    assert ds.info["classes"] == [0, 1] and len(ds.info["sha256"]) == 64
    assert any("normalised" in s for s in ds.info["notes"])
    with pytest.raises(ValueError, match="24 samples available, 25 requested"):
        make_dataset("npz", n_train=25, n_test=10, seed=0, path=mnist_file, classes=(0, 1))
    with pytest.raises(ValueError, match="d=10"):
        make_dataset("npz", n_train=5, n_test=5, d=10, seed=0, path=mnist_file, classes=(0, 1))


def test_non_unit_rows_are_normalised_and_logged(caplog):
    X = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    with caplog.at_level(logging.INFO, logger="replication.datasets"):
        Xn, yn, notes = validate_arrays(X, np.array([1, -1, 1]), name="user:train")
    np.testing.assert_allclose(np.linalg.norm(Xn, axis=1), 1.0)
    assert yn.dtype == np.float64
    assert notes == ["2 of 3 rows normalised to unit norm"]
    recs = [r for r in caplog.records if r.name == "replication.datasets"]
    assert recs and "normalised" in recs[0].getMessage() and "user:train" in recs[0].getMessage()
    assert recs[0].levelno in (logging.INFO, logging.WARNING)


def _good(n=6, d=784, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)) + 0.1, np.arange(n) % 2


def _bad_cases():
    X, y = _good()
    nan = X.copy(); nan[2, 5] = np.nan
    inf = X.copy(); inf[1, 0] = np.inf
    ynan = y.astype(float); ynan[0] = np.nan
    zero = X.copy(); zero[3] = 0.0
    par = X.copy(); par[4] = 3.0 * par[1]
    anti = X.copy() - 0.6; anti[4] = -2.0 * anti[1]
    dup = X.copy(); dup[5] = dup[0]
    return [
        ("nan", dict(x_train=nan), "NaN"),
        ("inf", dict(x_train=inf), "inf"),
        ("nan label", dict(y_train=ynan), r"y contains 1 NaN"),
        ("3-D y", dict(y_train=y.reshape(2, 3, 1)), "y must be 1-D"),
        ("1-D x", dict(x_train=X[:, 0]), "2-D after flattening"),
        ("mismatched", dict(y_train=y[:5]), "mismatched sample counts"),
        ("string labels", dict(y_train=np.array(list("ababab"))), "non-numeric labels"),
        ("object labels", dict(y_train=np.array([0, 1, "a", 1, 0, 1], dtype=object)), "object arrays"),
        ("empty split", dict(x_test=np.zeros((0, 784)), y_test=np.zeros(0)), "empty split"),
        ("zero row", dict(x_train=zero), "zero row"),
        ("parallel", dict(x_train=par), r"1 parallel pair"),
        ("antiparallel", dict(x_train=anti), r"1 antiparallel pair"),
        ("duplicate", dict(x_train=dup), "duplicate row"),
        ("missing key", dict(y_test=None), "missing array"),
    ]


@pytest.mark.parametrize("case, override, message", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_user_files_are_refused(tmp_path, case, override, message):
    X, y = _good()
    Xt, yt = _good(seed=2)
    arrays = dict(x_train=X, y_train=y, x_test=Xt, y_test=yt)
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as exc:
        load_npz(path)
    if case not in ("object labels", "missing key"):
        assert "bad.npz:t" in str(exc.value)  # names file and split
    with pytest.raises(ValueError, match=message):
        make_dataset("npz", n_train=6, n_test=6, seed=0, path=path)


def test_validate_arrays_direct():
    X, y = _good(d=5)
    with pytest.raises(ValueError, match="myname: non-numeric labels"):
        validate_arrays(X, np.array(["a"] * 6, dtype=object), name="myname")
    with pytest.raises(ValueError, match="myname: y must be 1-D"):
        validate_arrays(X, y[:, None], name="myname")
    Xi, yi, notes = validate_arrays(np.zeros((2, 2, 2)) + np.eye(2)[:, :, None], [0, 1], name="n")
    assert Xi.shape == (2, 4)
    # parallel check can be turned off (used before subsampling large files)
    par = X.copy(); par[1] = 2 * par[0]
    validate_arrays(par, y, name="n", check_parallel=False)
    with pytest.raises(ValueError, match="parallel"):
        validate_arrays(par, y, name="n")


# --------------------------------------------------------------------------- #
# persistence
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kind", ["sphere-relu", "digits", "npz", "cifar10"])
def test_save_load_round_trip(tmp_path, kind, monkeypatch):
    ds = build(kind, seed=5, tmp_path=tmp_path, monkeypatch=monkeypatch)
    path = tmp_path / "out" / "ds.npz"
    save_npz(path, ds)
    back = load_dataset(path)
    assert back.name == ds.name and back.info == ds.info
    for f in ("X_train", "y_train", "X_test", "y_test"):
        assert getattr(back, f).tobytes() == getattr(ds, f).tobytes()
        assert getattr(back, f).dtype == np.float64
    assert sorted(os.listdir(path.parent)) == ["ds.npz", "ds.npz.sha256.json"]  # the file and its checksum


def test_save_npz_is_atomic(tmp_path, monkeypatch):
    ds = make_dataset("sphere-linear", n_train=10, n_test=5, d=4, seed=0)
    path = tmp_path / "ds.npz"

    def failing_writer(fileobj, arrays):
        fileobj.write(b"PK\x03\x04 partial zip data")  # half-written archive
        raise OSError("disk full")

    monkeypatch.setattr(D, "_write_arrays", failing_writer)
    with pytest.raises(OSError, match="disk full"):
        save_npz(path, ds)
    assert not path.exists()
    assert os.listdir(tmp_path) == []

    # an existing good file survives a failed overwrite
    monkeypatch.undo()
    save_npz(path, ds)
    before = path.read_bytes()
    other = make_dataset("sphere-linear", n_train=10, n_test=5, d=4, seed=1)
    monkeypatch.setattr(D, "_write_arrays", failing_writer)
    with pytest.raises(OSError):
        save_npz(path, other)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["ds.npz", "ds.npz.sha256.json"]
    np.testing.assert_array_equal(load_dataset(path).X_train, ds.X_train)


def test_dataset_checks_shapes():
    with pytest.raises(ValueError, match="y_train has 3"):
        Dataset(np.ones((2, 2)), np.ones(3), np.ones((1, 2)), np.ones(1), name="x")
    with pytest.raises(ValueError, match="d=3"):
        Dataset(np.ones((2, 2)), np.ones(2), np.ones((1, 3)), np.ones(1), name="x")
