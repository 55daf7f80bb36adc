"""Rule `kernel_errors`: finite-width Gram matrices at initialisation against their infinite-width limits.

For each seed of the job: θ(0) = init_params(d, m, seed), the equilibrium of the training
inputs, then ΦΦᵀ (φ_i = σ(Wx_i)/√m, so ΦΦᵀ → G∞) and ZZᵀ (ZZᵀ → K∞), both N×N, against
G∞ and K∞ from ``kernel_limit``, in two norms: ``spectral`` (largest |eigenvalue| of the
difference) and ``frobenius/N`` (‖·‖_F / N, the root-mean-square entry error).  One row per
(seed, quantity, norm); a seed whose forward solve fails gets status "stopped" and NaN errors.
"""

from wfio import logged, write_csv, write_json

#: columns of the job's CSV (and of results/kernel.csv)
COLUMNS = ("experiment", "dataset", "run_id", "N", "d", "m", "gamma", "seed", "quantity", "norm", "error",
           "reference", "relative_error", "fwd_iter", "fwd_residual", "status", "reason")

with logged(snakemake, "kernel_errors") as log:
    import time

    import numpy as np
    import pandas as pd

    import implicit
    from implicit.data import load_dataset
    from implicit.runtime import config_hash

    implicit.set_threads(snakemake.threads)
    job = dict(snakemake.params.run)
    ds = load_dataset(snakemake.input.data)
    with np.load(snakemake.input.limit) as z:
        limits = {"PhiPhi-Ginf": z["G_inf"], "ZZ-Kinf": z["K_inf"]}
    N = ds.n_train

    def norms(D):
        return {"spectral": float(np.abs(np.linalg.eigvalsh(D)).max()), "frobenius/N": float(np.linalg.norm(D) / N)}

    rows, runs = [], []
    for seed, run_id in zip(job["seeds"], job["run_ids"]):
        t0 = time.perf_counter()
        head = {"experiment": "kernel", "dataset": job["dataset"], "run_id": run_id, "N": N, "d": ds.d,
                "m": job["m"], "gamma": job["gamma"], "seed": seed}
        params = implicit.init_params(ds.d, job["m"], seed)
        try:
            eq = implicit.equilibrium(params, ds.X_train, job["gamma"], tol=job["tol"], max_iter=job["max_iter"], method=job["method"])
            finite = {"PhiPhi-Ginf": eq.Phi @ eq.Phi.T, "ZZ-Kinf": eq.Z @ eq.Z.T}
            status, reason, it, res = "completed", "", eq.n_iter, eq.residual
        except implicit.NotConverged as exc:
            finite, status, reason, it, res = None, "stopped", str(exc), exc.residuals.size, float(exc.residuals[-1])
        for q, limit in limits.items():
            ref = norms(limit)
            err = norms(finite[q] - limit) if finite else {k: np.nan for k in ref}
            for norm in ("spectral", "frobenius/N"):
                rows.append(head | {"quantity": q, "norm": norm, "error": err[norm], "reference": ref[norm],
                                    "relative_error": err[norm] / ref[norm], "fwd_iter": it, "fwd_residual": res,
                                    "status": status, "reason": reason})
        runs.append({"seed": seed, "run_id": run_id, "status": status, "reason": reason, "wall_seconds": time.perf_counter() - t0})
        log.info("%s: %s", run_id, runs[-1])
    write_csv(pd.DataFrame(rows, columns=COLUMNS), snakemake.output.csv)
    write_json(implicit.provenance(run=job, dataset=ds.info, seeds=job["seeds"], runs=runs, engine_hash=snakemake.params.engine,
                                   config_hash=config_hash({"run": job}), wall_seconds=sum(r["wall_seconds"] for r in runs)),
               snakemake.output.json)
