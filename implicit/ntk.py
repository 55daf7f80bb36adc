"""The finite-width Gram matrix (neural tangent kernel) H_ij = ⟨∇_θ ŷ_i, ∇_θ ŷ_j⟩ (SPEC §4).

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
from .gradients import forward, unit_adjoint
from .model import BLOCKS, Params, check_trainable
from .solver import Equilibrium, check_inputs


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


def gram(params: Params, X: np.ndarray, gamma: float, blocks: bool = False, *, trainable=BLOCKS, tol: float = 1e-10, warm_start=None, **solver):
    """H (N, N) summed over ``trainable``, or with ``blocks=True`` a dict {"A","W","u","v"} → H^·.

    Solves the forward and the unit-residual adjoint equations to ``tol``.
    """
    trainable = check_trainable(trainable)
    X = check_inputs(params, X, gamma)
    eq = forward(params, X, gamma, tol=tol, warm_start=warm_start, **solver)
    K = None
    if "A" in trainable or "W" in trainable:
        K = unit_adjoint(params, gamma, eq, tol=tol, warm_start=warm_start, **solver)
    parts = gram_blocks(params, X, gamma, eq, K, trainable)
    return parts if blocks else sum(parts.values())
