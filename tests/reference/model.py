"""Slow, independent reference implementation of the ReLU implicit network (docs/model.md and docs/ntk.md).

Everything here is per sample, dense and written from the mathematics, not from the
engine: no Numba, no batching, no fixed-point iteration on the adjoint.

For one sample x (unit norm) with γ̃ = γ/√m:

    q = W x,  e = 1[q > 0],  φ = σ(q)/√m
    z = σ(γ̃ A z + φ)                                   (equilibrium)

Equilibrium: a plain per-sample fixed-point loop (Python loop over iterations) to get the
activation pattern, then active-set Newton: with D = diag(d), d = 1[γ̃Az + φ > 0], the
equilibrium is the solution of the linear system (I − γ̃ D A) z = D φ; the pattern is
re-read from the new z until it is self-consistent (then z = σ(γ̃Az + φ) holds to rounding).

Derivatives by the implicit-function theorem on that linear system (the pattern is locally
constant away from kinks):  dz = (I − γ̃DA)⁻¹ D (γ̃ dA z + dφ),  dφ = (1/√m) e ⊙ (dW x).
With G = (I − γ̃DA)⁻¹ D (a dense solve) and c = Gᵀu (row vector uᵀG):

    ∂ŷ/∂A = γ̃ c zᵀ,   ∂ŷ/∂W = (1/√m) (e ⊙ (c + v)) xᵀ,   ∂ŷ/∂u = z,   ∂ŷ/∂v = φ.

The Jacobian J (N × P, P = m² + md + 2m, blocks in A, W, u, v order, row-major) gives the
loss gradient Jᵀr and the Gram blocks J_b J_bᵀ.
"""

from __future__ import annotations

import numpy as np

BLOCK_NAMES = ("A", "W", "u", "v")


# -- data -----------------------------------------------------------------------------------
def make_data(N, d, seed, *, labels="normal"):
    """X (N, d) with unit rows (Gaussian directions), y (N,) standard normal or ±1."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    if labels == "normal":
        y = rng.standard_normal(N)
    elif labels == "sign":
        y = rng.choice([-1.0, 1.0], size=N)
    else:
        raise ValueError(labels)
    return X, y


def relu(x):
    return np.where(x > 0, x, 0.0)


# -- equilibrium ----------------------------------------------------------------------------
def equilibrium_sample(A, phi, gt, *, tol=1e-12, max_iter=100_000, newton_steps=50):
    """(z, d) for one sample: z = σ(gt·A z + φ), d = 1[gt·A z + φ > 0] (boolean)."""
    m = A.shape[0]
    z = np.zeros(m)
    for _ in range(max_iter):  # plain per-sample Picard loop, to locate the pattern
        z_new = relu(gt * (A @ z) + phi)
        step = np.linalg.norm(z_new - z)
        z = z_new
        if step < tol:
            break
    else:
        raise RuntimeError("reference fixed-point loop did not converge")
    eye = np.eye(m)
    for _ in range(newton_steps):  # active-set Newton on the exact linear system
        d = (gt * (A @ z) + phi) > 0
        D = np.diag(d.astype(float))
        z_new = np.linalg.solve(eye - gt * D @ A, D @ phi)
        d_new = (gt * (A @ z_new) + phi) > 0
        z = z_new
        if np.array_equal(d_new, d):
            break
    else:
        raise RuntimeError("reference active-set Newton did not settle")
    resid = np.linalg.norm(relu(gt * (A @ z) + phi) - z)
    scale = max(1.0, np.linalg.norm(z))
    if not resid <= 1e-13 * scale:
        raise RuntimeError(f"reference equilibrium inconsistent: residual {resid:.2e}")
    return z, d


def sample_quantities(params, x, gamma):
    """Dict with q, e, phi, z, d, yhat, G = (I − γ̃DA)⁻¹D, c = Gᵀu for one sample."""
    A, W, u, v = (np.asarray(getattr(params, b), dtype=float) for b in BLOCK_NAMES)
    m = A.shape[0]
    gt = gamma / np.sqrt(m)
    q = W @ x
    e = q > 0
    phi = relu(q) / np.sqrt(m)
    z, d = equilibrium_sample(A, phi, gt)
    D = np.diag(d.astype(float))
    G = np.linalg.solve(np.eye(m) - gt * D @ A, D)
    c = G.T @ u
    return dict(q=q, e=e, phi=phi, z=z, d=d, G=G, c=c, yhat=float(u @ z + v @ phi), gt=gt, m=m)


def predict(params, X, gamma):
    return np.array([sample_quantities(params, x, gamma)["yhat"] for x in X])


def equilibria(params, X, gamma):
    """Z (N, m), Phi (N, m), one sample per row."""
    rows = [sample_quantities(params, x, gamma) for x in X]
    return np.array([s["z"] for s in rows]), np.array([s["phi"] for s in rows])


# -- Jacobian, gradients, Gram ---------------------------------------------------------------
def jacobian_sample(params, x, gamma):
    """{block: ∂ŷ/∂block} for one sample (arrays shaped like the blocks)."""
    s = sample_quantities(params, x, gamma)
    m, gt, c, z = s["m"], s["gt"], s["c"], s["z"]
    v = np.asarray(params.v, dtype=float)
    return {
        "A": gt * np.outer(c, z),
        "W": np.outer(s["e"] * (c + v), x) / np.sqrt(m),
        "u": z.copy(),
        "v": s["phi"].copy(),
    }


def jacobian(params, X, gamma):
    """{block: J_b (N, size of block)} with rows ∂ŷ_i/∂block flattened row-major."""
    rows = [jacobian_sample(params, x, gamma) for x in X]
    return {b: np.array([r[b].ravel() for r in rows]) for b in BLOCK_NAMES}


def loss_and_grad(params, X, y, gamma):
    """(½Σ(ŷ−y)², {block: ∇_block L}) = (½‖r‖², Σ_i r_i ∂ŷ_i/∂block)."""
    grads = {b: np.zeros(np.shape(getattr(params, b))) for b in BLOCK_NAMES}
    total = 0.0
    for x, yi in zip(X, y):
        s_yhat = predict(params, x[None, :], gamma)[0]
        r = s_yhat - yi
        total += 0.5 * r * r
        J = jacobian_sample(params, x, gamma)
        for b in BLOCK_NAMES:
            grads[b] += r * J[b]
    return total, grads


def gram_blocks(params, X, gamma):
    """{block: J_b J_bᵀ} (N, N)."""
    J = jacobian(params, X, gamma)
    return {b: J[b] @ J[b].T for b in BLOCK_NAMES}


def arccos_kernel(X):
    """G∞_ij = E_w[σ(wᵀx_i)σ(wᵀx_j)] = (sin θ + (π − θ) cos θ)/(2π), cos θ = x_iᵀx_j."""
    C = np.clip(X @ X.T, -1.0, 1.0)
    theta = np.arccos(C)
    return (np.sin(theta) + (np.pi - theta) * C) / (2 * np.pi)
