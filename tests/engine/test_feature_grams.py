"""implicit.ntk.feature_grams: the feature Gram along a growing width, against a direct sum."""

import numpy as np
import pytest

import implicit
from implicit.ntk import feature_grams


def sphere(N, d, seed=0):
    X = np.random.default_rng(seed).standard_normal((N, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_matches_the_sum_over_the_same_neurons():
    X = sphere(7, 5)
    widths = [1, 3, 8, 20]
    got = list(feature_grams(X, widths, 11, chunk=4))  # chunks that do not align with the widths
    W = np.random.default_rng(11).standard_normal((20, 5))  # the same stream, one neuron per row
    F = np.maximum(X @ W.T, 0.0)
    for (m, G), want_m in zip(got, widths):
        assert m == want_m
        np.testing.assert_allclose(G, F[:, :m] @ F[:, :m].T / m, rtol=1e-12, atol=1e-14)


def test_the_path_is_one_network_growing():
    """The first m neurons are shared by every larger width: the path is reproducible and
    does not depend on the chunking."""
    X = sphere(6, 4, 1)
    a = [G for _, G in feature_grams(X, [5, 50, 500], 3, chunk=7)]
    b = [G for _, G in feature_grams(X, [5, 50, 500], 3, chunk=500)]
    for Ga, Gb in zip(a, b):
        np.testing.assert_allclose(Ga, Gb, rtol=1e-12)


def test_converges_to_the_arccos_kernel():
    """ΦΦᵀ → G∞ like 1/√m (Monte Carlo): at m = 2·10⁵ the entries are within a few 1e-3."""
    X = sphere(5, 6, 2)
    (_, G), = feature_grams(X, [200_000], 0)
    err = np.abs(G - implicit.arccos_kernel(X)).max()
    assert err < 5e-3 and err > 1e-5  # a Monte-Carlo error, not exact


@pytest.mark.parametrize("widths", [[], [0, 3], [4, 4], [5, 2]])
def test_bad_widths(widths):
    with pytest.raises(ValueError, match="widths"):
        list(feature_grams(sphere(3, 3), widths, 0))
