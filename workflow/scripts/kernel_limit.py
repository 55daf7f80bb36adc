"""Rule `kernel_limit`: the infinite-width kernels of one data set at one γ → results/kernels/<dataset>_g<γ>.npz.

G∞ (arc-cosine kernel, closed form) and K∞ (equilibrium kernel, fixed point of a 4-D Gaussian
expectation; implicit.kernels.equilibrium_kernel, ~1e-11 accurate) on the training inputs,
computed once and read by every ``kernel_errors`` job of that data set and γ.
"""

from wfio import logged

with logged(snakemake, "kernel_limit") as log:
    import time

    import numpy as np

    import implicit
    from implicit.data import load_dataset
    from implicit.files import atomic_output

    implicit.set_threads(snakemake.threads)
    gamma = float(snakemake.wildcards.gamma)
    ds = load_dataset(snakemake.input.data)
    t0 = time.perf_counter()
    G = implicit.arccos_kernel(ds.X_train)
    K = implicit.equilibrium_kernel(ds.X_train, gamma)
    seconds = time.perf_counter() - t0
    with atomic_output(snakemake.output.npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, G_inf=G, K_inf=K, gamma=gamma, lambda0=float(np.linalg.eigvalsh(G)[0]), seconds=seconds)
    log.info("%s, gamma=%g: N=%d, K_inf diagonal %.6f, %.1f s", snakemake.wildcards.dataset, gamma, ds.n_train, K[0, 0], seconds)
