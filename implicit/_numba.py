"""Fused element-wise Numba kernels of the fixed-point iterations.

All arrays are (N, m), C-contiguous, one sample per row, so every kernel is a loop over
samples with a contiguous inner loop.  Matrix products are done by BLAS in the callers;
these kernels replace the 3–5 NumPy passes (and temporaries) that each step would otherwise
need.  Pure-NumPy equivalents are written out in ``tests/engine/test_numba.py``.

The kernels are deliberately serial.  Each is one memory-bound pass between two
multi-threaded BLAS calls, and a parallel Numba region there fights OpenBLAS's spinning
threads for the cores, which made a step several times slower (docs/performance.md, "Tried
and not kept").  The job's threads go to BLAS, where the work is.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _relu_row(P, Z, Zout, delta, j):
    """Row j from its pre-activation: Zout[j] ← max(P[j], 0), delta[j] ← Zout[j] − Z[j] (in
    delta's dtype); returns ‖Zout[j] − Z[j]‖₂.  ``Zout`` may be ``Z``."""
    acc = 0.0
    for i in range(P.shape[1]):
        p = P[j, i]
        znew = p if p > 0.0 else 0.0
        diff = znew - Z[j, i]
        acc += diff * diff
        delta[j, i] = diff
        Zout[j, i] = znew
    return np.sqrt(acc)


@nb.njit(cache=True)
def relu_map(P, Phi, Z, Zout, res, scale, delta):
    """Forward step of z = σ(γ̃Az + φ) given the product P ← ZAᵀ and scale = γ̃.

    In place: P ← scale·P + Φ (the pre-activation), Zout ← max(P, 0),
    res[j] ← ‖Zout[j] − Z[j]‖₂ (the fixed-point residual of Z, per sample),
    delta ← Zout − Z rounded to delta's dtype (float32: the next low-precision increment).
    ``Zout`` may be ``Z`` itself.  Shapes: P, Phi, Z, Zout, delta (N, m); res (N,).
    """
    N, m = P.shape
    for j in range(N):
        for i in range(m):
            P[j, i] = scale * P[j, i] + Phi[j, i]
        res[j] = _relu_row(P, Z, Zout, delta, j)


@nb.njit(cache=True)
def relu_increment(P, T, Z, res, delta, scale):
    """Forward step from an incremental product: T = δAᵀ for the last step δ = delta.

    In place: P ← P + scale·T (the pre-activation of the current Z, since P was that of
    Z − δ), then as :func:`relu_map`: Z ← max(P, 0), res[j] ← ‖Z_new[j] − Z_old[j]‖₂,
    delta ← Z_new − Z_old.  P stays in Z's dtype; T and delta may be float32.
    Shapes: P, T, Z, delta (N, m); res (N,).
    """
    N, m = P.shape
    for j in range(N):
        for i in range(m):
            P[j, i] += scale * T[j, i]
        res[j] = _relu_row(P, Z, Z, delta, j)


@nb.njit(cache=True)
def _adjoint_out(D, Kout, M, delta, j, i, knew, diff):
    """Element (j, i) of an adjoint step: Kout ← knew, M ← d·knew, delta ← d·diff (d = D[j, i])."""
    Kout[j, i] = knew
    if D[j, i]:
        M[j, i] = knew
        delta[j, i] = diff
    else:
        M[j, i] = 0.0
        delta[j, i] = 0.0


@nb.njit(cache=True)
def adjoint_map(T, u, D, K, Kout, res, scale, M, delta):
    """Adjoint step of K = u1ᵀ + γ̃Aᵀ(D⊙K) (one sample per row: k_j = u + γ̃Aᵀ(d_j⊙k_j)).

    Given T ← (D⊙K)A and scale = γ̃:  Kout[j] ← u + scale·T[j],  res[j] ← ‖Kout[j] − K[j]‖₂,
    M ← D⊙Kout (the next product's operand) and delta ← D⊙(Kout − K) in delta's dtype (the
    next low-precision increment).  ``Kout`` may be ``K``.  D: the ReLU masks, bool.
    Shapes: T, D, K, Kout, M, delta (N, m); u (m,); res (N,).
    """
    N, m = T.shape
    for j in range(N):
        acc = 0.0
        for i in range(m):
            knew = u[i] + scale * T[j, i]
            diff = knew - K[j, i]
            acc += diff * diff
            _adjoint_out(D, Kout, M, delta, j, i, knew, diff)
        res[j] = np.sqrt(acc)


@nb.njit(cache=True)
def adjoint_increment(T1, D, K, res, scale, M, delta):
    """Adjoint step from an incremental product: T1 = δA (float32) for the last masked step δ.

    K is affine in its product (k = u + γ̃·(D⊙k_prev)A), so the kept float64 quantity is K
    itself: K ← K + scale·T1, res[j] ← ‖scale·T1[j]‖₂ (the step), then M ← D⊙K and
    delta ← D⊙(scale·T1) as in :func:`adjoint_map`.  D: the ReLU masks, bool.
    Shapes: T1, D, K, M, delta (N, m); res (N,).
    """
    N, m = K.shape
    for j in range(N):
        acc = 0.0
        for i in range(m):
            diff = scale * np.float64(T1[j, i])
            acc += diff * diff
            _adjoint_out(D, K, M, delta, j, i, K[j, i] + diff, diff)
        res[j] = np.sqrt(acc)


@nb.njit(cache=True)
def mask_positive(P, K, M):
    """M ← D ⊙ K with D = 1[P > 0] (P: pre-activations, or the masks as bool).  Shapes: P, K,
    M (N, m)."""
    N, m = P.shape
    for j in range(N):
        for i in range(m):
            M[j, i] = K[j, i] if P[j, i] > 0.0 else 0.0


@nb.njit(cache=True)
def mask_scale_rows(P, K, c, M):
    """M[j] ← c[j]·(d_j ⊙ K[j]) with d_j = 1[P[j] > 0]: the gradient's factor γ̃·diag(r)(D⊙K)
    in one pass.  Shapes: P, K, M (N, m); c (N,)."""
    N, m = P.shape
    for j in range(N):
        cj = c[j]
        for i in range(m):
            M[j, i] = cj * K[j, i] if P[j, i] > 0.0 else 0.0


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
def same_mask_rows(D1, D2):
    """Boolean (N,): row j of the masks D1 and D2 (bool, (N, m)) is equal everywhere."""
    N, m = D1.shape
    out = np.ones(N, dtype=np.bool_)
    for j in range(N):
        for i in range(m):
            if D1[j, i] != D2[j, i]:
                out[j] = False
                break
    return out


@nb.njit(cache=True)
def extrapolate_forward(Z, Zp, Phi, Phik, Phip, s, out):
    """Forward start out ← Z + s(Z − Zp) + D⊙(Φ − Φ_k − s(Φ_k − Φ_p)), D = 1[Z > 0].

    Extrapolation (ratio s; s = 1: linear) of the last two equilibria Z (at features Φ_k)
    and Zp (at Φ_p), plus the part of the features' change that it misses, where units of Z
    are on: the zeroth term of the equilibrium's response to the new features Φ, which are
    known before the solve.  Shapes: all (N, m).
    """
    N, m = Z.shape
    for j in range(N):
        for i in range(m):
            z = Z[j, i]
            e = z + s * (z - Zp[j, i])
            if z > 0.0:
                e += Phi[j, i] - Phik[j, i] - s * (Phik[j, i] - Phip[j, i])
            out[j, i] = e


@nb.njit(cache=True)
def extrapolate_adjoint(K1, K2, K3, u1, u2, u3, coef, p, u, out):
    """Adjoint start out[j] ← u + Σ_{i<p_j} coef[p_j − 1, i]·(K_{i+1}[j] − u_{i+1}).

    K1, K2, K3 (N, m): the last three adjoints (K1 the most recent) at output weights
    u1, u2, u3 (m,); p (N,) in {1, 2, 3}: how many of them row j combines; coef (3, 3):
    row q − 1 holds the q coefficients (summing to 1) of a q-term combination.  The part
    1uᵀ of K is exact in u, so only C = K − 1uᵀ is combined.  Shapes: out (N, m).
    """
    N, m = K1.shape
    for j in range(N):
        q = p[j]
        a, b, c = coef[q - 1, 0], coef[q - 1, 1], coef[q - 1, 2]
        if q == 1:
            for i in range(m):
                out[j, i] = K1[j, i] - u1[i] + u[i]
        elif q == 2:
            for i in range(m):
                out[j, i] = a * (K1[j, i] - u1[i]) + b * (K2[j, i] - u2[i]) + u[i]
        else:
            for i in range(m):
                out[j, i] = a * (K1[j, i] - u1[i]) + b * (K2[j, i] - u2[i]) + c * (K3[j, i] - u3[i]) + u[i]


@nb.njit(cache=True)
def flip_correction(Dold, Pnew, Kold, A, scale, K0):
    """K0[j] += ±scale·Kold[j,i]·A[i] for every unit whose mask changed from Dold (bool) to
    1[Pnew > 0] (+ if it opened).

    The first-order change of k_j = u + Σ_i d_ji k_ji γ̃A[i,:] when d_ji flips (scale = γ̃);
    O(m) per flip.  Shapes: Dold, Pnew, Kold, K0 (N, m); A (m, m).
    """
    N, m = Pnew.shape
    for j in range(N):
        for i in range(m):
            now = Pnew[j, i] > 0.0
            if now != Dold[j, i]:
                s = scale * Kold[j, i] if now else -scale * Kold[j, i]
                for l in range(m):
                    K0[j, l] += s * A[i, l]


@nb.njit(cache=True)
def swap_rows(a, i, j):
    """In place, for each k: rows a[i[k]] and a[j[k]] trade places (a 1-D: items).

    The active-set moves of ``solver.iterate``, without the temporaries of fancy indexing.
    ``i`` and ``j`` (int, equal length) must not share an index.
    """
    if a.ndim == 1:
        for k in range(i.shape[0]):
            t = a[i[k]]
            a[i[k]] = a[j[k]]
            a[j[k]] = t
    else:
        for k in range(i.shape[0]):
            r, s = i[k], j[k]
            for c in range(a.shape[1]):
                t = a[r, c]
                a[r, c] = a[s, c]
                a[s, c] = t


@nb.njit(cache=True)
def unpermute_rows(a, perm):
    """In place: the row now at position k moves to position perm[k] (perm a permutation of
    0..N−1), following its cycles with one row of scratch: ``a[perm] = a.copy()``.  a (N, m)."""
    N = a.shape[0]
    seen = np.zeros(N, dtype=np.bool_)
    carry = np.empty(a.shape[1], dtype=a.dtype)
    for start in range(N):
        if seen[start]:
            continue
        seen[start] = True
        if perm[start] == start:
            continue
        carry[:] = a[start]           # the row that belongs at perm[start]
        k = perm[start]
        while True:
            seen[k] = True
            for c in range(a.shape[1]):  # put carry at k, pick up what was there
                t = a[k, c]
                a[k, c] = carry[c]
                carry[c] = t
            if k == start:
                break
            k = perm[k]


@nb.njit(cache=True)
def axpy(alpha, x, y):
    """y ← y + alpha·x in place, without a temporary.  x, y: 1-D of equal length."""
    for i in range(y.shape[0]):
        y[i] += alpha * x[i]


@nb.njit(cache=True)
def axpy_dist(alpha, x, y, y0):
    """y ← y + alpha·x in place; returns ‖y − y0‖₂ of the new y (accumulated in float64), in
    the same pass.  x, y, y0: 1-D of equal length."""
    acc = 0.0
    for i in range(y.shape[0]):
        v = y[i] + alpha * x[i]
        y[i] = v
        d = np.float64(v) - np.float64(y0[i])
        acc += d * d
    return np.sqrt(acc)
