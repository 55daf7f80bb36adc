"""Warm starts of the fixed-point solves along a training trajectory.

A :class:`WarmStart` keeps the last equilibria Z and unit-residual adjoints K and predicts
the next ones, so that each solve of a GD step starts close to its solution
(docs/solver.md, "Warm starts").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _numba


@dataclass
class WarmStart:
    """Mutable cache of the last solves, passed back in to warm-start the next ones.

    ``Z``, ``K`` (N, m): the last equilibrium and unit-residual adjoint; after each call
    ``fwd_iter``/``adj_iter`` (iterations of the slowest sample), ``fwd_work``/``adj_work``
    (sample-iterations / N: the cost in full-batch iterations, see ``solver.iterate``; the
    float64 part in ``fwd_exact_work``/``adj_exact_work``) and
    ``fwd_residual``/``adj_residual`` describe that call's solves.

    With ``extrapolate=True`` (used by :func:`implicit.train`) the starts follow the GD
    trajectory instead of repeating the last solution.  GD converging linearly moves θ with
    a velocity that shrinks by a nearly constant factor per step, so the forward start is
    extrapolated geometrically, with s = ⟨Δu_k, Δu_{k−1}⟩/‖Δu_{k−1}‖² taken on u
    (Δu_k = u_{k+1} − u_k; all blocks shrink alike; s = 1, linear, when u does not move), and
    the adjoint start, K being linear in u, by the three-term combination that fits u_{k+1}
    (docs/performance.md, "Measurements behind design choices", has the start errors):

    * Z₀ = Z_k + s(Z_k − Z_{k−1}) + D_k⊙(ΔΦ_k − sΔΦ_{k−1}): the features Φ_{k+1} are known
      before the solve, and the part of their change that the extrapolation misses (it jumps
      with ∇W when units switch) is added where units of Z_k are on — most of the error.
      What is left is the response γ̃D(eAᵀ) to the features' unpredicted change e, a product
      with A, which no combination of stored solutions predicts;
    * K₀ = Σ_i c_i C_{k−i} + u_{k+1}·1ᵀ + flip correction, with C = K − 1uᵀ: K is linear in u
      and changes little otherwise while the masks stay, so the combination c (Σc = 1) that
      best represents u_{k+1} by the last three u's (:func:`_combination`, ≈ quadratic
      extrapolation on GD) predicts it; each sample combines only the steps since its mask
      d_j last changed (then 2, geometric with s, or 1: C_k kept) — K jumps where a unit of
      d_j flips;
    * flip correction: for each unit i of sample j whose mask d_ji changed since step k,
      k_j += ±K_k[j,i]·γ̃A[i,:], the first-order effect of the flip (O(m) per flip).
    """

    Z: np.ndarray | None = None
    K: np.ndarray | None = None
    extrapolate: bool = False
    fwd_iter: int = 0
    adj_iter: int = 0
    fwd_work: float = 0.0
    adj_work: float = 0.0
    fwd_residual: float = float("nan")
    adj_residual: float = float("nan")
    fwd_exact_work: float = 0.0
    adj_exact_work: float = 0.0
    _prev: dict = field(default_factory=dict, repr=False)

    def start_Z(self, shape, Phi=None, u=None):
        """Starting point of the next forward solve at features ``Phi`` (N, m) and output
        weights ``u`` (for the ratio s), or None."""
        if self.Z is None or self.Z.shape != shape:
            return None
        Zp, Phik, Phip = self._prev.get("Z"), self._prev.get("Phi_k"), self._prev.get("Phi")
        if self.extrapolate and Zp is not None and Zp.shape == shape:
            s = _ratio(u, self._prev.get("uZ_k"), self._prev.get("uZ"))
            Z0 = np.empty_like(self.Z)
            if Phi is not None and Phip is not None and Phip.shape == shape:
                _numba.extrapolate_forward(self.Z, Zp, Phi, Phik, Phip, s, Z0)
            else:
                np.subtract(self.Z, Zp, out=Z0)
                Z0 *= s
                Z0 += self.Z
            return Z0
        return self.Z

    def start_K(self, params, gamma, P):
        """Starting point of the next adjoint solve of θ = ``params`` at masks 1[P > 0], or None."""
        hist = self._prev.get("adj", [])
        if self.K is None or self.K.shape != P.shape or not hist:
            return None
        for n, h in enumerate(hist):  # the history of this shape (X may have changed)
            if h[0].shape != P.shape:
                hist = hist[:n]
                break
        if not hist:
            return None
        K1, (_, u1, D1, same1) = self.K, hist[0]
        Ks, us = [K1] + [h[0] for h in hist[1:]], [u1] + [h[1] for h in hist[1:]]
        p = np.ones(len(K1), dtype=np.int64)
        coef = _combination(params.u, us)
        if len(hist) >= 2:  # rows keep the history back to the first mask change
            p += same1
            if len(hist) >= 3:
                p += same1 & hist[1][3]
        Ks, us = Ks + [K1] * (3 - len(Ks)), us + [u1] * (3 - len(us))
        K0 = np.empty_like(K1)
        _numba.extrapolate_adjoint(*Ks, *us, coef, p, params.u, K0)
        if self.extrapolate:
            _numba.flip_correction(D1, P, K1, params.A, gamma / np.sqrt(params.m), K0)
        return K0

    def store_Z(self, eq, u=None):
        self._prev.update(Z=self.Z, Phi=self._prev.get("Phi_k"), Phi_k=eq.Phi,
                          uZ=self._prev.get("uZ_k"), uZ_k=None if u is None else u.copy())
        self.Z = eq.Z

    def store_K(self, K, u, P):
        """Keep (K, u, D = 1[P > 0], same): ``same`` (N,) marks the samples whose mask equals
        the previous solve's (None without one of this shape), compared once, here."""
        keep = 2 if self.extrapolate else 0  # older solves kept for the extrapolation
        older, D = self._prev.get("adj", [])[:keep], P > 0
        same = _numba.same_mask_rows(D, older[0][2]) if older and older[0][2].shape == D.shape else None
        self._prev["adj"] = [(K, u.copy(), D, same)] + older
        self.K = K


def _ratio(u_new, u_k, u_old, lo=0.0, hi=2.0) -> float:
    """s = ⟨u_new − u_k, u_k − u_old⟩/‖u_k − u_old‖², clipped to [lo, hi]; 1 without a history
    or when u does not move."""
    if u_new is None or u_k is None or u_old is None:
        return 1.0
    d_old = u_k - u_old
    den = float(d_old @ d_old)
    if not den > 0:
        return 1.0
    return float(np.clip((u_new - u_k) @ d_old / den, lo, hi))


#: The 3-term adjoint extrapolation is used only with coefficients of at most this 1-norm
#: (it amplifies the stored adjoints' errors by as much; on GD trajectories they are near
#: the quadratic extrapolation's (3, −3, 1)).
MAX_COEF_NORM = 10.0


def _combination(u_new, us) -> np.ndarray:
    """(3, 3) coefficients of the adjoint start from the last q = 1, 2, 3 output weights
    ``us`` (most recent first): row q − 1 holds the affine weights c (Σc = 1) with
    u_new ≈ Σ_i c_i us[i].

    K is linear in u (k_j = R_j u, R_j depends on A and on d_j only), so while A and d_j
    barely change the same combination of the stored adjoints predicts the new one.  q = 1:
    c = (1); q = 2: the geometric extrapolation (1 + s, −s) with s = :func:`_ratio`; q = 3:
    the least-squares fit of u_new on the affine span of us (on a GD trajectory far closer
    than q = 2 for rows with unchanged masks), falling back to q = 2 when
    the fit is ill-conditioned or its coefficients exceed ``MAX_COEF_NORM``.
    """
    coef = np.zeros((3, 3))
    coef[:, 0] = 1.0
    if len(us) >= 2:
        s = _ratio(u_new, us[0], us[1])
        coef[1:, :2] = (1 + s, -s)
    if len(us) >= 3:
        d = np.stack([us[1] - us[0], us[2] - us[0]], axis=1)
        G, b = d.T @ d, d.T @ (u_new - us[0])
        det = G[0, 0] * G[1, 1] - G[0, 1] ** 2
        if det > 1e-12 * G[0, 0] * G[1, 1] > 0:
            a1, a2 = np.linalg.solve(G, b)
            c = np.array([1 - a1 - a2, a1, a2])
            if np.all(np.isfinite(c)) and np.abs(c).sum() <= MAX_COEF_NORM:
                coef[2] = c
    return coef
