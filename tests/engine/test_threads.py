"""Thread count: results with 1 and 2 BLAS/Numba threads agree to 1e-10 relative."""

import numpy as np
import pytest

import implicit
from implicit.runtime import threads_in_use


@pytest.fixture
def restore_threads():
    before = threads_in_use()["numba"]
    yield
    implicit.set_threads(before)


def _run():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 12))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.sign(X @ rng.standard_normal(12))
    _, trace = implicit.train(implicit.init_params(12, 120, 4), X, y, 0.1, lr="auto", steps=40, track_gram=True, record_every=10)
    return trace.drop(columns="seconds")


def test_one_and_two_threads_agree(restore_threads):
    assert implicit.set_threads(1) == 1
    assert threads_in_use()["numba"] == 1 and all(n == 1 for _, n in threads_in_use()["blas"])
    one = _run()
    used = implicit.set_threads(2)
    two = _run()
    if used < 2:
        pytest.skip("only one thread available: nothing to compare")
    cols = ["train_loss", "rho", "rel_change_A", "rel_change_W", "lambda_min_H", "lambda_max_H"]
    np.testing.assert_allclose(two[cols].to_numpy(), one[cols].to_numpy(), rtol=1e-10, atol=0)


def test_set_threads_rejects_zero():
    with pytest.raises(ValueError, match="thread"):
        implicit.set_threads(0)
