"""The finite-width Gram matrix (neural tangent kernel) H_ij = ⟨∇_θ ŷ_i, ∇_θ ŷ_j⟩ (docs/ntk.md).

From the closed forms (no N × m² Jacobian is formed), with V = D⊙K, S = E⊙(V + 1vᵀ),
all (N, m) one sample per row:

    H^A = (γ²/m) (VVᵀ) ⊙ (ZZᵀ)
    H^W = (1/m)  (SSᵀ) ⊙ (XXᵀ)
    H^u = ZZᵀ,   H^v = ΦΦᵀ
    H   = Σ of the trained blocks            all (N, N), symmetric PSD
"""

from __future__ import annotations

import numpy as np

from . import _numba
from .gradients import _forward, _unit_adjoint
from .model import BLOCKS, Params, check_trainable
from .solver import Equilibrium, SolverSettings, check_inputs, settings


def gram_blocks(params: Params, X: np.ndarray, gamma: float, eq: Equilibrium, K: np.ndarray, trainable=BLOCKS) -> dict:
    """The blocks of ``trainable`` from a solved equilibrium ``eq`` and unit adjoint ``K``."""
    m = params.m
    out = {}
    if "A" in trainable or "W" in trainable:
        V = np.empty_like(K)
        _numba.mask_positive(eq.P, K, V)
    if "A" in trainable:
        out["A"] = (gamma**2 / m) * (V @ V.T) * (eq.Z @ eq.Z.T)
    if "W" in trainable:
        S = np.empty_like(V)
        ones = np.ones(X.shape[0], dtype=V.dtype)
        _numba.input_adjoint(eq.Q, V, params.v, ones, 1.0, S)
        out["W"] = (S @ S.T) * (X @ X.T) / m
    if "u" in trainable:
        out["u"] = eq.Z @ eq.Z.T
    if "v" in trainable:
        out["v"] = eq.Phi @ eq.Phi.T
    return out


def gram(params: Params, X: np.ndarray, gamma: float, blocks: bool = False, *, trainable=BLOCKS,
         solver: SolverSettings | None = None, warm_start=None):
    """The finite-width Gram matrix (neural tangent kernel) of the trained blocks.

    Parameters
    ----------
    params : Params
    X : ndarray, shape (N, d)
    gamma : float
    blocks : bool
        Return the blocks instead of their sum.
    trainable : sequence of {"A", "W", "u", "v"}
        The blocks in the sum (and, with ``blocks``, the ones returned).
    solver : SolverSettings, optional
        Settings of the forward and unit-residual adjoint solves.
    warm_start : WarmStart, optional

    Returns
    -------
    ndarray, shape (N, N), or dict
        H = Σ of the trained blocks H^A + H^W + H^u + H^v (docs/ntk.md, "Gram matrix"), or
        with ``blocks=True`` the dict {"A", "W", "u", "v"} → H^·, each symmetric PSD.
    """
    trainable = check_trainable(trainable)
    X = check_inputs(params, X, gamma)
    solver = settings(solver)
    eq = _forward(params, X, gamma, solver, warm_start)
    K = None
    if "A" in trainable or "W" in trainable:
        K = _unit_adjoint(params, gamma, eq, solver, warm_start=warm_start)
    parts = gram_blocks(params, X, gamma, eq, K, trainable)
    return parts if blocks else sum(parts.values())


def feature_grams(X: np.ndarray, widths, seed, *, chunk: int = 2048):
    """ΦΦᵀ = (1/m)Σ_{r≤m} σ(Xw_r)σ(Xw_r)ᵀ at each width of ``widths``, for one growing set of
    neurons w_r ~ N(0, I_d) (the input layer's block H^v at initialisation).

    Parameters
    ----------
    X : ndarray, shape (N, d)
        Inputs, one sample per row.
    widths : sequence of int
        Increasing widths m ≥ 1.
    seed : int or numpy.random.SeedSequence
        The neurons' random stream: the first m neurons are shared by every width ≥ m, so the
        path is one draw of a network growing in width, as a concentration bound describes.
    chunk : int
        Neurons drawn and accumulated at once (bounds the memory to N·chunk floats).

    Yields
    ------
    m : int
    G : ndarray, shape (N, N)
        ΦΦᵀ at width m (a fresh array each time).

    Notes
    -----
    One pass over the neurons: S ← S + σ(XW_cᵀ)ᵀ-products chunk by chunk (BLAS), so the whole
    path costs about what its largest width costs alone, N·m·(d + N) flops.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    N, d = X.shape
    widths = [int(m) for m in widths]
    if not widths or widths[0] < 1 or any(b <= a for a, b in zip(widths, widths[1:])):
        raise ValueError(f"widths must be increasing and ≥ 1, got {widths}")
    rng = np.random.default_rng(seed)
    S = np.zeros((N, N))
    m = 0
    for target in widths:
        while m < target:
            c = min(chunk, target - m)
            # (N, c): σ(Xw_r) for c neurons; each neuron is d consecutive draws of the stream,
            # so the path does not depend on the chunking
            F = np.maximum(X @ rng.standard_normal((c, d)).T, 0.0)
            S += F @ F.T
            m += c
        yield m, S / m
