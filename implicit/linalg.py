"""Small linear-algebra helpers: spectral norms and extreme eigenvalues."""

from __future__ import annotations

import numpy as np


def spectral_norm(A: np.ndarray) -> float:
    """‖A‖₂, the largest singular value, from LAPACK's SVD (exact to rounding; O(m³))."""
    return float(np.linalg.norm(np.asarray(A, dtype=np.float64), 2))


class PowerNorm:
    """Warm-started power iteration for ‖A‖₂ along a slowly changing sequence of matrices.

    ``estimate(A)`` runs v ← AᵀAv/‖AᵀAv‖ from the previous call's vector until the estimate
    σ = ‖Av‖ changes by less than ``rtol`` relative (at most ``max_iter`` products).  σ is a
    lower bound of ‖A‖₂; the relative error is O(rtol) once the vector has aligned.  The
    first call starts from the Lanczos (ARPACK ``svds``) singular vector, accurate to ~1e-12,
    and warm starting keeps it aligned across GD steps (2–4 products per step).  Cost 4m² per product
    pair, against O(m³) for the SVD.
    """

    def __init__(self, m: int, seed: int = 0, rtol: float = 1e-6, max_iter: int = 500):
        self.seed, self.rtol, self.max_iter = seed, rtol, max_iter
        self.v = None
        self.n_products = 0

    def estimate(self, A: np.ndarray) -> float:
        if self.v is None:  # cold start: Lanczos (ARPACK) gives the top singular vector
            from scipy.sparse.linalg import svds

            A64 = np.asarray(A, dtype=np.float64)
            if min(A.shape) < 3:  # ARPACK needs k < min(shape): tiny matrices go to LAPACK
                self.v = np.linalg.svd(A64)[2][0]
            else:
                v0 = np.random.default_rng(self.seed).standard_normal(A.shape[1])
                self.v = svds(A64, k=1, v0=v0, tol=1e-12)[2][0]
        v, sigma = self.v.astype(A.dtype, copy=False), 0.0  # a float64 v would upcast A
        for _ in range(self.max_iter):
            w = A @ v
            new = float(np.linalg.norm(w))
            v = A.T @ w
            nv = np.linalg.norm(v)
            self.n_products += 1
            if nv == 0.0 or not np.isfinite(nv):
                break
            v = v / nv
            if abs(new - sigma) <= self.rtol * new:
                sigma = new
                break
            sigma = new
        self.v = v
        return sigma


def eigh_extremes(H: np.ndarray) -> tuple[float, float]:
    """(λ_min, λ_max) of a symmetric matrix (LAPACK ``eigvalsh``)."""
    w = np.linalg.eigvalsh(H)
    return float(w[0]), float(w[-1])


def lambda_min(H: np.ndarray) -> float:
    """Smallest eigenvalue of a symmetric matrix."""
    return eigh_extremes(H)[0]
