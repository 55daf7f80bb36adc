"""Second round of bad configurations: non-finite numbers, counts beyond their range and bad
data files are refused by :func:`replication.config.validate`, naming the JSON path, the value
(or the file as written) and what is allowed.  Table-driven, like tests/replication/test_config.py.
"""

import math
import os

import numpy as np
import pytest

from replication import config as cfg
from tests.replication.test_config import SCHEMA, base, mutate

NAN, INF = math.nan, math.inf

# (case id, dotted key, bad value, strings the message must contain)
NONFINITE = [
    ("gamma-nan", "experiments.width.gamma", NAN, ["$.experiments.width.gamma: nan is not a finite number", "> 0"]),
    ("gamma-inf", "experiments.gram.gamma", INF, ["$.experiments.gram.gamma: inf is not a finite number"]),
    ("gammas-nan", "experiments.gamma.gammas", [0.1, NAN], ["$.experiments.gamma.gammas[1]: nan", "> 0"]),
    ("lr-inf", "training.lr", INF, ["$.training.lr: inf is not a finite number", "> 0", "auto"]),
    ("lr-nan-override", "experiments.width.lr", NAN, ["$.experiments.width.lr: nan"]),
    ("tol-nan", "training.tol", NAN, ["$.training.tol: nan", "> 0 and < 1"]),
    ("steps-inf", "training.steps", INF, ["$.training.steps: inf is not a finite number", "an integer ≥ 1 and ≤ 1000000000"]),
    ("noise-nan", "datasets.tiny.noise", NAN, ["$.datasets.tiny.noise: nan", "≥ 0 and ≤ 1"]),
    ("angle-inf", "datasets.tiny.min_angle_deg", INF, ["$.datasets.tiny.min_angle_deg: inf", "< 90"]),
    ("grid-step-nan", "experiments.linear-width.grid_step", NAN, ["$.experiments['linear-width'].grid_step: nan"]),
    ("target-nan", "experiments.linear-width.target", NAN, ["$.experiments['linear-width'].target: nan", "< 1"]),
    ("min-fraction-nan", "experiments.linear-width.min_fraction", NAN, ["min_fraction: nan", "≤ 1"]),
    ("lr-fractions-nan", "experiments.flow.lr_fractions", [0.5, NAN], ["$.experiments.flow.lr_fractions[1]: nan"]),
    ("gf-atol-nan", "experiments.flow.gf_atol", NAN, ["$.experiments.flow.gf_atol: nan"]),
    ("claims-slope-minus-inf", "claims.lazy.max_slope", -INF, ["$.claims.lazy.max_slope: -inf is not a finite number"]),
    ("claims-kernel-nan", "claims.kernel.slope", NAN, ["$.claims.kernel.slope: nan"]),
    ("claims-rho-inf", "claims.well_posed.max_rho", INF, ["$.claims.well_posed.max_rho: inf", "> 0"]),
]

# counts and sizes beyond their documented range (replication.config.MAX_COUNT = 10⁹)
RANGE = [
    ("steps-huge", "training.steps", 10**9 + 1, ["$.training.steps", "greater than the maximum of 1000000000"]),
    ("max-iter-huge", "training.max_iter", 10**12, ["$.training.max_iter", "1000000000000"]),
    ("record-every-huge", "training.record_every", 10**10, ["$.training.record_every", "maximum"]),
    ("seeds-per-job-huge", "training.seeds_per_job", 10**10, ["$.training.seeds_per_job", "maximum"]),
    ("width-huge", "experiments.width.widths", [8, 10**10], ["$.experiments.width.widths[1]", "10000000000"]),
    ("m-huge", "experiments.gamma.m", 10**10, ["$.experiments.gamma.m", "maximum"]),
    ("n-train-huge", "datasets.tiny.n_train", 10**12, ["$.datasets.tiny.n_train", "maximum"]),
    ("n-test-huge", "datasets.tiny.n_test", 10**12, ["$.datasets.tiny.n_test", "maximum"]),
    ("d-huge", "datasets.tiny.d", 10**12, ["$.datasets.tiny.d", "maximum"]),
    ("teacher-huge", "new-dataset:relu", {"kind": "sphere-relu", "n_train": 4, "n_test": 0, "d": 3, "seed": 0,
                                          "teacher_width": 10**10}, ["$.datasets.relu.teacher_width", "maximum"]),
    ("lw-n-train-huge", "experiments.linear-width.n_train", [4, 10**10], ["$.experiments['linear-width'].n_train[1]"]),
    ("lw-derived-width-huge", "experiments.linear-width.arms", [{"trainable": ["u", "v"], "ratio_min": 1, "ratio_max": 10**9}],
     ["arms[0].ratio_max", "exceeds the largest width"]),
    ("oversize-flag-word", "allow_oversize", "maybe", ["$.allow_oversize", "'maybe'"]),
]


def refused(key, value) -> str:
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(mutate(key, value), SCHEMA)
    return str(err.value)


@pytest.mark.parametrize("key,value,expected", [c[1:] for c in NONFINITE], ids=[c[0] for c in NONFINITE])
def test_nonfinite_number_is_refused_with_its_range(key, value, expected):
    message = refused(key, value)
    assert all(text in message for text in expected), message
    assert "(allowed: " in message and message.count("\n  ") == 1  # one problem, stated once


@pytest.mark.parametrize("key,value,expected", [c[1:] for c in RANGE], ids=[c[0] for c in RANGE])
def test_count_out_of_range_is_refused(key, value, expected):
    message = refused(key, value)
    assert all(text in message for text in expected), message


def test_nonfinite_values_are_all_listed():
    config = mutate("experiments.width.gamma", NAN)
    config["training"]["tol"] = INF
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(config, SCHEMA)
    assert "$.experiments.width.gamma: nan" in str(err.value) and "$.training.tol: inf" in str(err.value)


def test_allow_oversize_accepts_the_command_line_string():
    for value in (True, False, "true", "True", "false"):
        cfg.validate(mutate("allow_oversize", value), SCHEMA)


# -- data files of kind npz -------------------------------------------------------------------
def images(n, d=784, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, d), dtype=np.uint8), np.arange(n) % 10


def write_npz(path, **override):
    (x_train, y_train), (x_test, y_test) = images(40), images(20, seed=1)
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test) | override
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def truncated(path):
    write_npz(path)
    path.write_bytes(path.read_bytes()[:3000])
    return path


#: (case id, how to make the file in a work directory → the path as written, entry changes, expected)
FILES = [
    ("missing", lambda w: "resources/none.npz", {}, ["$.datasets.user.path", "'resources/none.npz' does not exist"]),
    ("tilde", lambda w: "~/none.npz", {}, ["'~/none.npz' does not exist", "~ is not expanded"]),
    ("directory", lambda w: (w / "resources").mkdir() or "resources", {}, ["'resources' is a directory"]),
    ("text-file", lambda w: (w / "a.npz").write_text("x_train,y_train\n") and "a.npz", {},
     ["'a.npz' cannot be used", "not a readable .npz file"]),
    ("truncated", lambda w: truncated(w / "t.npz").name, {}, ["'t.npz' cannot be used", "not a readable .npz"]),
    ("missing-array", lambda w: write_npz(w / "m.npz", y_test=None).name, {}, ["missing array(s) ['y_test']"]),
    ("text-labels", lambda w: write_npz(w / "s.npz", y_train=np.array(["a"] * 40)).name, {}, ["s.npz:train", "non-numeric"]),
    ("rows-mismatch", lambda w: write_npz(w / "r.npz", y_train=np.zeros(39, int)).name, {}, ["r.npz:train", "(n,) labels"]),
    ("image-sizes", lambda w: write_npz(w / "i.npz", x_test=images(20, d=100)[0]).name, {}, ["different image sizes"]),
    ("other-classes", lambda w: write_npz(w / "c.npz").name, {"classes": [3, 7]}, []),  # valid: no message
    ("class-missing", lambda w: write_npz(w / "c.npz", y_test=np.zeros(20, int)).name, {"classes": [0, 1]},
     ["c.npz:test", "class 1 not present"]),
    ("too-few-samples", lambda w: write_npz(w / "f.npz").name, {"n_train": 9},
     ["$.datasets.user.n_train: 9 samples requested, the file 'f.npz' has 8 of classes [0, 1]"]),
    ("wrong-d", lambda w: write_npz(w / "d.npz").name, {"d": 64}, ["$.datasets.user.d", "d = 784", "got 64"]),
    ("inside-results", lambda w: write_npz((w / "results").mkdir() or w / "results" / "x.npz") and "results/x.npz", {},
     ["'results/x.npz' is inside results/"]),
]


def npz_config(path, **changes):
    config = base()
    config["datasets"]["user"] = {"kind": "npz", "path": path, "classes": [0, 1], "n_train": 4, "n_test": 2,
                                  "d": None, "seed": 0, **changes}
    return config


@pytest.mark.parametrize("make,changes,expected", [c[1:] for c in FILES], ids=[c[0] for c in FILES])
def test_data_file_is_checked_before_any_job(tmp_path, make, changes, expected):
    config = npz_config(make(tmp_path), **changes)
    if not expected:
        cfg.validate(config, SCHEMA, workdir=tmp_path)
        return
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(config, SCHEMA, workdir=tmp_path)
    for text in expected:
        assert text in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_data_file_is_refused(tmp_path):
    path = write_npz(tmp_path / "u.npz")
    path.chmod(0)
    with pytest.raises(cfg.ConfigError, match="'u.npz' is not readable"):
        cfg.validate(npz_config("u.npz"), SCHEMA, workdir=tmp_path)


def test_data_file_outside_the_repository_is_accepted(tmp_path):
    """Users keep data elsewhere: an absolute path anywhere (the workflow only reads it)."""
    (tmp_path / "data").mkdir()
    elsewhere = write_npz(tmp_path / "data" / "mnist.npz")
    workdir = tmp_path / "repo"
    workdir.mkdir()
    cfg.validate(npz_config(str(elsewhere)), SCHEMA, workdir=workdir)
    cfg.validate(npz_config("../data/mnist.npz"), SCHEMA, workdir=workdir)


def test_tables_have_enough_cases():
    assert len(NONFINITE) >= 15 and len(RANGE) >= 10 and len(FILES) >= 12
