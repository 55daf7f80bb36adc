"""Rule `gradient_flow`: the gradient-flow ODE dθ/dt = −∇L(θ) of ``flow`` → one CSV per job.

Per seed, from the same θ(0) = init_params(d, m, seed) as the GD runs: η_max = f_max·2/λ_max(H(0))
(implicit.auto_lr, as the GD run with the largest step computes it), then implicit.gradient_flow
(scipy solve_ivp, RK45, tolerances gf_rtol/gf_atol on θ) to t_max = steps·η_max, reported at
t = k·η_max for the recorded steps k of that GD run — the times every GD run of the experiment
records.  Rows have the GD run columns (method "GF", ``t``, ``step`` = k, ``lr`` empty); a seed
whose solve fails is "stopped", with the times it reached and a failure row.
"""

from wfio import logged, write_csv, write_json

with logged(snakemake, "gradient_flow") as log:
    import time

    import numpy as np
    import pandas as pd

    import implicit
    from implicit.data import load_dataset
    from implicit.runtime import config_hash

    implicit.set_threads(snakemake.threads)
    job = dict(snakemake.params.run)
    ds = load_dataset(snakemake.input.data)
    trainable = tuple(job["trainable"].split("+"))
    solver = {"max_iter": job["max_iter"], "method": job["method"]}
    lam0 = implicit.lambda0(ds.X_train)
    steps = np.unique(np.r_[np.arange(0, job["steps"] + 1, job["record_every"]), job["steps"]])
    tables, runs = [], []
    for seed, run_id in zip(job["seeds"], job["run_ids"]):
        t0 = time.perf_counter()
        params = implicit.init_params(ds.d, job["m"], seed)
        status, reason, info = "completed", "", {}
        try:
            eta = implicit.auto_lr(params, ds.X_train, ds.y_train, job["gamma"], trainable=trainable,
                                   fraction=job["lr_fraction"], tol=job["tol"], **solver)
            times = steps * eta
            out = implicit.gradient_flow(params, ds.X_train, ds.y_train, job["gamma"], float(times[-1]), t_eval=times,
                                         rtol=job["rtol"], atol=job["atol"], trainable=trainable, tol=job["tol"], **solver)
            info = dict(out.attrs)
            if out.attrs.get("status", 0) != 0 or len(out) < len(times):
                status, reason = "stopped", f"solve_ivp: {out.attrs.get('message')} (reached t = {out['t'].max():.4g} of {times[-1]:.4g})"
            trace = pd.DataFrame({"method": "GF", "t": out["t"], "step": steps[: len(out)], "train_loss": out["loss"], "failure": False})
        except implicit.NotConverged as exc:
            eta, status, reason = np.nan, "stopped", f"{exc}"
            trace = pd.DataFrame({"method": ["GF"], "t": [np.nan], "step": [0], "train_loss": [np.nan], "failure": [True]})
        if status != "completed" and not trace["failure"].any():
            trace = pd.concat([trace, pd.DataFrame({"method": ["GF"], "t": [np.nan], "step": [int(steps[len(trace)]) if len(trace) < len(steps) else int(steps[-1])],
                                                    "train_loss": [np.nan], "failure": [True]})], ignore_index=True)
        head = {"experiment": "flow", "dataset": job["dataset"], "run_id": run_id, "N": ds.n_train,
                "n_test": ds.n_test, "d": ds.d, "m": job["m"], "gamma": job["gamma"], "seed": seed, "lr": np.nan,
                "lr_config": "gradient flow", "lr_fraction": np.nan, "lambda0": lam0, "steps": job["steps"],
                "trainable": job["trainable"], "record_every": job["record_every"], "max_rho": np.nan,
                "status": status, "reason": reason}
        tables.append(pd.DataFrame({k: [v] * len(trace) for k, v in head.items()}).join(trace))
        runs.append({"seed": seed, "run_id": run_id, "status": status, "reason": reason, "eta_max": float(eta),
                     "nfev": info.get("nfev"), "message": info.get("message"), "wall_seconds": time.perf_counter() - t0})
        log.info("%s: %s", run_id, runs[-1])
    write_csv(pd.concat(tables, ignore_index=True), snakemake.output.csv)
    write_json(implicit.provenance(run=job, dataset=ds.info, seeds=job["seeds"], runs=runs, engine_hash=snakemake.params.engine,
                                   config_hash=config_hash({"run": job}), wall_seconds=sum(r["wall_seconds"] for r in runs)),
               snakemake.output.json)
