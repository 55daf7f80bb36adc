"""Fused element-wise Numba kernels of the fixed-point iterations.

All arrays are (N, m), C-contiguous, one sample per row, so every kernel is a loop over
samples with a contiguous inner loop.  Matrix products are done by BLAS in the callers;
these kernels replace the 3–5 NumPy passes (and temporaries) that each step would otherwise
need.  Pure-NumPy equivalents are written out in ``tests/test_numba_kernels.py``.

The kernels are deliberately serial.  Each is one memory-bound pass (~0.1 ms at N=200,
m=800) between two multi-threaded BLAS calls, and a parallel Numba region there fights
OpenBLAS's spinning threads for the cores: measured on this 2-core machine, GEMM + a
``prange`` kernel took 8.0 ms per iteration against 2.8 ms for GEMM + the serial kernel
(GEMM alone 2.7 ms).  The job's threads go to BLAS, where the work is.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def relu_map(P, Phi, Z, Zout, res, scale):
    """Forward step of z = σ(γ̃Az + φ) given the product P ← ZAᵀ and scale = γ̃.

    In place: P ← scale·P + Φ (the pre-activation), Zout ← max(P, 0),
    res[j] ← ‖Zout[j] − Z[j]‖₂ (the fixed-point residual of Z, per sample).
    ``Zout`` may be ``Z`` itself.  Shapes: P, Phi, Z, Zout (N, m); res (N,).
    """
    N, m = P.shape
    for j in range(N):
        acc = 0.0
        for i in range(m):
            p = scale * P[j, i] + Phi[j, i]
            P[j, i] = p
            znew = p if p > 0.0 else 0.0
            diff = znew - Z[j, i]
            acc += diff * diff
            Zout[j, i] = znew
        res[j] = np.sqrt(acc)


@nb.njit(cache=True)
def adjoint_map(T, u, K, Kout, res, scale):
    """Adjoint step of K = u1ᵀ + γ̃Aᵀ(D⊙K) (one sample per row: k_j = u + γ̃Aᵀ(d_j⊙k_j)).

    Given T ← (D⊙K)A and scale = γ̃:  Kout[j] ← u + scale·T[j],  res[j] ← ‖Kout[j] − K[j]‖₂.
    ``Kout`` may be ``K``.  Shapes: T, K, Kout (N, m); u (m,); res (N,).
    """
    N, m = T.shape
    for j in range(N):
        acc = 0.0
        for i in range(m):
            knew = u[i] + scale * T[j, i]
            diff = knew - K[j, i]
            acc += diff * diff
            Kout[j, i] = knew
        res[j] = np.sqrt(acc)


@nb.njit(cache=True)
def mask_positive(P, K, M):
    """M ← D ⊙ K with D = 1[P > 0].  Shapes: P, K, M (N, m)."""
    N, m = P.shape
    for j in range(N):
        for i in range(m):
            M[j, i] = K[j, i] if P[j, i] > 0.0 else 0.0


@nb.njit(cache=True)
def relu_scaled(Q, scale, out):
    """out ← max(Q, 0) · scale  (the features φ = σ(Wx)/√m from Q = XWᵀ).  Shapes (N, m)."""
    N, m = Q.shape
    for j in range(N):
        for i in range(m):
            q = Q[j, i]
            out[j, i] = q * scale if q > 0.0 else 0.0


@nb.njit(cache=True)
def input_adjoint(Q, M, v, r, scale, out):
    """out ← scale · E ⊙ (M + r vᵀ) with E = 1[Q > 0] (one sample per row).

    This is the back-propagated signal of ∇_W L = (1/√m)(E ⊙ (M + v rᵀ)) X in sample-row
    layout: ∇_W L = outᵀ X.  Shapes: Q, M, out (N, m); v (m,); r (N,).
    """
    N, m = Q.shape
    for j in range(N):
        rj = r[j]
        for i in range(m):
            out[j, i] = (M[j, i] + rj * v[i]) * scale if Q[j, i] > 0.0 else 0.0


@nb.njit(cache=True)
def same_mask_rows(P1, P2):
    """Boolean (N,): row j has 1[P1[j] > 0] == 1[P2[j] > 0] everywhere.  Shapes (N, m)."""
    N, m = P1.shape
    out = np.ones(N, dtype=np.bool_)
    for j in range(N):
        for i in range(m):
            if (P1[j, i] > 0.0) != (P2[j, i] > 0.0):
                out[j] = False
                break
    return out


@nb.njit(cache=True)
def flip_correction(Pold, Pnew, Kold, A, scale, K0):
    """K0[j] += ±scale·Kold[j,i]·A[i] for every unit whose mask 1[P > 0] changed (+ if it opened).

    The first-order change of k_j = u + Σ_i d_ji k_ji γ̃A[i,:] when d_ji flips (scale = γ̃);
    O(m) per flip.  Shapes: Pold, Pnew, Kold, K0 (N, m); A (m, m).
    """
    N, m = Pold.shape
    for j in range(N):
        for i in range(m):
            now = Pnew[j, i] > 0.0
            if now != (Pold[j, i] > 0.0):
                s = scale * Kold[j, i] if now else -scale * Kold[j, i]
                for l in range(m):
                    K0[j, l] += s * A[i, l]
