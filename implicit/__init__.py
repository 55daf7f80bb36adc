"""ReLU implicit networks in NumPy + Numba: equilibrium, analytic gradients, Gram matrices.

Model (docs/model.md): φ = σ(Wx)/√m, z = σ(γ/√m·Az + φ), ŷ = uᵀz + vᵀφ, L = ½Σ(ŷ − y)².
"""

__version__ = "0.1.0"

from .gradients import evaluate, loss, loss_and_grad, predict
from .infinite_width import arccos_kernel, equilibrium_kernel, lambda0
from .linalg import PowerNorm, lambda_min, spectral_norm
from .model import BLOCKS, Params, features, init_params, output
from .ntk import gram
from .runtime import provenance, set_threads
from .solver import Equilibrium, NotConverged, SolverSettings, equilibrium
from .training import GRAM_COLUMNS, INVARIANT_COLUMNS, TRACE_COLUMNS, auto_lr, gradient_flow, train
from .warmstart import WarmStart

__all__ = [
    "BLOCKS", "Equilibrium", "GRAM_COLUMNS", "INVARIANT_COLUMNS", "NotConverged", "Params", "PowerNorm", "SolverSettings",
    "TRACE_COLUMNS", "WarmStart", "arccos_kernel", "auto_lr", "equilibrium", "equilibrium_kernel",
    "evaluate", "features", "gradient_flow", "gram", "init_params", "lambda0", "lambda_min", "loss",
    "loss_and_grad", "output", "predict", "provenance", "set_threads", "spectral_norm", "train",
]
