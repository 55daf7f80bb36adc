"""ReLU implicit networks in NumPy + Numba: equilibrium, analytic gradients, Gram matrices.

Model (SPEC §2): φ = σ(Wx)/√m, z = σ(γ/√m·Az + φ), ŷ = uᵀz + vᵀφ, L = ½Σ(ŷ − y)².
"""

__version__ = "0.1.0"

from .gradients import WarmStart, evaluate, loss, loss_and_grad, predict
from .ntk import gram
from .infinite_width import arccos_kernel, equilibrium_kernel, lambda0
from .linalg import PowerNorm, lambda_min, spectral_norm
from .model import BLOCKS, Params, init_params
from .runtime import provenance, set_threads
from .solver import Equilibrium, NotConverged, equilibrium, features
from .training import TRACE_COLUMNS, GRAM_COLUMNS, auto_lr, gradient_flow, train

__all__ = [
    "BLOCKS", "Equilibrium", "GRAM_COLUMNS", "NotConverged", "Params", "PowerNorm",
    "TRACE_COLUMNS", "WarmStart", "arccos_kernel", "auto_lr", "equilibrium", "equilibrium_kernel",
    "evaluate", "features", "lambda0",
    "gradient_flow", "gram", "init_params", "lambda_min", "loss", "loss_and_grad", "predict",
    "provenance", "set_threads", "spectral_norm", "train",
]
