"""Time one full-batch GD step of ``implicit.train``, side by side with PyTorch + torchdeq.

    python -m benchmarks.step                 # the headline table (issue targets)
    python -m benchmarks.step scaling         # time per step against m and against N
    python -m benchmarks.step float32         # float32 against float64 over 200 steps
    python -m benchmarks.step solvers         # iterations per step: cold / warm / Anderson
    python -m benchmarks.step breakdown       # where a step's time goes: products, passes, rest

Everything in one table is measured in one process, alternating the codes, because the
machines are shared and noisy: ratios are meaningful, absolute times less so.  The peer
runs only when ``torch`` and ``torchdeq`` import (``pip install -e .[bench]``).

Problem (the performance issue's setting): the model of docs/model.md, float64, N = 200,
d = 200, m = 800, γ = 0.1, lr = 0.01, labels sign(wᵀx) of a random linear teacher, both
solves stopped when the largest per-sample Euclidean residual norm is below 1e-10
(torchdeq's ``abs`` stop mode takes the per-sample norm and its maximum over the batch, the
same criterion).

``breakdown`` (and the headline's "in BLAS products" row) times the engine through its
explicit timing hook, :mod:`implicit._timing`: a sink installed for one run receives every
product, Numba pass and power iteration the engine reports; without a sink a report site
costs one attribute test.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

import implicit
from implicit import _timing


def problem(N=200, d=200, m=800, seed=0):
    """(X, y, θ(0)): unit-norm inputs, sign(wᵀx) labels, θ(0) from ``implicit.init_params``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.sign(X @ rng.standard_normal(d))
    return X, y, implicit.init_params(d, m, seed + 1)


def dgemm_rate(N, m, dtype=np.float64, reps=20) -> float:
    """GFLOP/s of NumPy's (N, m) × (m, m) product, the shape of one fixed-point iteration."""
    rng = np.random.default_rng(0)
    Z, A = rng.standard_normal((N, m)).astype(dtype), rng.standard_normal((m, m)).astype(dtype)
    out = np.empty((N, m), dtype)
    for _ in range(3):
        np.matmul(Z, A.T, out=out)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        np.matmul(Z, A.T, out=out)
        times.append(time.perf_counter() - t)
    return 2 * m * m * N / np.median(times) / 1e9


def step_flops(trace, N, d, m):
    """Useful flops per step: 2m²N per full-batch iteration (forward and adjoint, counted in
    sample-iterations), 2m²N for ∇A, 2Nmd each for the features XWᵀ and for ∇W."""
    iters = trace["fwd_work"] + trace["adj_work"]
    return iters * 2 * m * m * N + 2 * m * m * N + 4 * N * m * d


def floor_seconds(work, N, d, m, rate64, rate32):
    """Least time of the products one GD step of this design must do, at ``work`` full-batch
    fixed-point iterations per step (forward + adjoint) and GEMM rates in flop/s:

        (2·t64 + (work − 2)·t32) + t64 + 4Nmd / rate64,   t = 2m²N / rate   (work ≥ 2)

    — the first iteration of each solve in float64 (A changed since the last step, so the
    kept product must be rebuilt, and a residual of 1e-10 cannot be certified from a float32
    accumulation), every other iteration as a float32 increment, the product for ∇A and
    those for XWᵀ and ∇W; all at full-batch GEMM rates (no small active blocks), with no
    element-wise pass, row move or Python in between."""
    t64, t32 = 2.0 * m * m * N / rate64, 2.0 * m * m * N / rate32
    n64 = min(work, 2.0)
    return n64 * t64 + (work - n64) * t32 + t64 + 4.0 * N * m * d / rate64


def run_ours(X, y, params, gamma, lr, steps, solver, **kw):
    """``implicit.train``'s trace (``solver``: an :class:`implicit.SolverSettings`; ``kw``:
    ``certified``, ``extrapolate``) with ``step_seconds``, rows 1 … steps−1 (a full step
    before each)."""
    _, trace = implicit.train(params, X, y, gamma, lr=lr, steps=steps, solver=solver, **kw)
    trace = trace.copy()
    trace["step_seconds"] = trace["seconds"].diff()
    out = trace.iloc[1:-1]  # rows with a full step after them (the last row has no update)
    out.attrs = dict(trace.attrs)
    return out


def run_peer(X, y, params, gamma, lr, steps, tol, warm=True):
    """The same GD with torch autograd + torchdeq (``warm``: forward warm-started from the last
    step's equilibrium — a favour to the peer; torchdeq's usual call starts from zeros)."""
    import torch
    from torchdeq import get_deq

    torch.set_default_dtype(torch.float64)
    A, W, u, v = (torch.tensor(a, requires_grad=True) for _, a in params.blocks())
    Xt, yt = torch.tensor(X), torch.tensor(y)
    m = params.m
    gt = gamma / m**0.5
    deq = get_deq(f_solver="fixed_point_iter", b_solver="fixed_point_iter", f_tol=tol, b_tol=tol,
                  ift=True, f_max_iter=500, b_max_iter=500)
    z = torch.zeros(X.shape[0], m)
    rows, bwd = [], {}

    def writer(info):
        bwd["nstep"] = float(info["nstep"].max())

    t0 = time.perf_counter()
    for k in range(steps + 1):
        phi = torch.relu(Xt @ W.T) / m**0.5
        z_out, info = deq(lambda z_: torch.relu(gt * z_ @ A.T + phi), z, backward_writer=writer)
        zs = z_out[-1]
        r = zs @ u + phi @ v - yt
        loss = 0.5 * (r * r).sum()
        if k < steps:
            for p in (A, W, u, v):
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in (A, W, u, v):
                    p -= lr * p.grad
            z = zs.detach() if warm else torch.zeros_like(zs)
        rows.append({"step": k, "train_loss": float(loss.detach()), "fwd_iter": float(info["nstep"].max()),
                     "adj_iter": bwd.get("nstep", np.nan), "seconds": time.perf_counter() - t0})
    import pandas as pd

    trace = pd.DataFrame(rows)
    trace["step_seconds"] = trace["seconds"].diff()
    return trace.iloc[1:-1]


@contextlib.contextmanager
def instrumented():
    """Time the engine's BLAS products and Numba passes, per GD step, while the block runs.

    Installs a sink in the engine's timing hook (:mod:`implicit._timing`, None outside the
    block, also after an error): no module attribute is replaced and no frame is inspected.
    Yields a list that, once the block has run, holds per GD step evaluated by
    :func:`implicit.train` the engine's reports since the previous one (the GD update
    before it included): a list of ``(part, rows, dtype, seconds)``.  ``part`` is
    ``"forward"``/``"adjoint"`` for the products of the two solves, ``"gradients"`` (∇A, ∇W),
    ``"features"`` (XWᵀ), ``"power"`` (the power iteration for ρ), ``"warmstart"`` (the warm
    starts' predictions: their Numba passes and the NumPy around them, one piece) or
    ``"pass:<kernel>"`` for a Numba kernel of :mod:`implicit._numba` (``axpy_dist`` is the
    GD update); ``rows`` is the left operand's row count, ``dtype`` its dtype's name ("" for
    anything but a product).  A report costs about half a microsecond (two clock reads and
    this sink), counted in the step's untimed rest, not in the next piece.
    """
    steps, calls = [], []

    def sink(part, rows, dtype, seconds):
        if part == "step":  # train has evaluated a GD step: its reports are complete
            steps.append(calls.copy())
            calls.clear()
        else:
            calls.append((part, rows, dtype, seconds))

    try:
        with _timing.installed(sink):
            yield steps
    finally:  # dtype names once the run is over (dtype.name is slow: keep the sink cheap)
        names = {None: ""}
        for dt in {c[2] for calls_ in steps for c in calls_} - names.keys():
            names[dt] = np.dtype(dt).name
        steps[:] = [[(part, rows, names[dt], sec) for part, rows, dt, sec in calls_] for calls_ in steps]


def blas_seconds(X, y, params, gamma, lr, steps, solver, warmup) -> float:
    """Median time per GD step spent inside the engine's ``np.matmul`` calls (the products
    of both solves, the gradients and the features), over steps warmup+1 … steps−1 of one
    run; everything else a step does is the difference to the step's time."""
    with instrumented() as log:
        run_ours(X, y, params, gamma, lr, steps, solver)
    return float(np.median([sum(c[3] for c in calls if c[2])  # products have a dtype
                            for calls in log[warmup + 1:steps]]))


def have_peer() -> bool:
    try:
        import torch  # noqa: F401
        import torchdeq  # noqa: F401
    except ImportError:
        return False
    return True


def headline(args):
    X, y, params = problem(args.N, args.d, args.m)
    n = args.warmup + args.steps
    solver = implicit.SolverSettings(tol=args.tol)
    ours, peer, cold = [], [], []
    for _ in range(args.repeats):  # alternate the codes so that machine noise hits both
        ours.append(run_ours(X, y, params, args.gamma, args.lr, n, solver))
        if have_peer():
            import torch

            torch.set_num_threads(args.threads)
            peer.append(run_peer(X, y, params, args.gamma, args.lr, n, args.tol))
            cold.append(run_peer(X, y, params, args.gamma, args.lr, n, args.tol, warm=False))
    gemm = dgemm_rate(args.N, args.m)
    sgemm = dgemm_rate(args.N, args.m, np.float32)
    late = None
    t_blas = blas_seconds(X, y, params, args.gamma, args.lr, n, solver, args.warmup)
    lo, hi = args.late_steps
    if hi > 0:  # iterations further into training, where GD has settled
        if not 1 <= lo < hi:
            raise SystemExit(f"--late-steps needs 1 <= FROM < TO, got {lo} {hi}")
        late = run_ours(X, y, params, args.gamma, args.lr, hi + 1, solver).iloc[lo - 1:hi - 1]  # steps lo..hi−1
    steady = [t.iloc[args.warmup:] for t in ours]
    t_ours = float(np.median(np.concatenate([t["step_seconds"] for t in steady])))
    flops = float(np.median(np.concatenate([step_flops(t, args.N, args.d, args.m) for t in steady])))
    iters = np.concatenate([t["fwd_iter"] + t["adj_iter"] for t in steady])
    work = np.concatenate([t["fwd_work"] + t["adj_work"] for t in steady])
    work64 = np.concatenate([t["fwd_work_f64"] + t["adj_work_f64"] for t in steady])
    t_floor = floor_seconds(work.mean(), args.N, args.d, args.m, gemm * 1e9, sgemm * 1e9)
    lines = [
        f"problem: N={args.N} d={args.d} m={args.m} gamma={args.gamma} lr={args.lr} tol={args.tol:g} "
        f"float64, threads={args.threads}, {args.steps} timed steps after {args.warmup} warm-up, x{args.repeats} alternated",
        f"{'quantity':44s} {'value':>12s}",
        f"{'ours: median s / GD step':44s} {t_ours:12.4f}",
        f"{'ours: ... in BLAS products (one more run)':44s} {t_blas:12.4f}",
    ]
    if peer:
        t_peer = float(np.median(np.concatenate([t["step_seconds"].iloc[args.warmup:] for t in peer])))
        a, b = ours[0]["train_loss"].to_numpy(), peer[0]["train_loss"].to_numpy()
        rel = float(np.max(np.abs(a - b) / np.abs(b)))
        pit = np.concatenate([t["fwd_iter"].iloc[args.warmup:] + t["adj_iter"].iloc[args.warmup:] for t in peer])
        lines += [
            f"{'torchdeq: median s / GD step':44s} {t_peer:12.4f}",
            f"{'ratio ours / torchdeq (target <= 0.25)':44s} {t_ours / t_peer:12.3f}",
            f"{'... our BLAS products alone / torchdeq':44s} {t_blas / t_peer:12.3f}",
            f"{'... least products at our work / torchdeq':44s} {t_floor / t_peer:12.3f}",
            f"{'loss trajectories: max relative difference':44s} {rel:12.2e}",
            f"{'torchdeq: fwd + bwd iterations per step':44s} {pit.mean():12.2f}",
        ]
        t_cold = float(np.median(np.concatenate([t["step_seconds"].iloc[args.warmup:] for t in cold])))
        cit = np.concatenate([t["fwd_iter"].iloc[args.warmup:] + t["adj_iter"].iloc[args.warmup:] for t in cold])
        lines += [
            f"{'torchdeq from zeros each step: s / GD step':44s} {t_cold:12.4f}",
            f"{'... ratio ours / it; its iterations per step':44s} {t_ours / t_cold:12.3f} {cit.mean():6.2f}",
        ]
    else:
        lines.append(f"{'torchdeq':44s} {'not installed (pip install -e .[bench])':>12s}")
    lines += [
        f"{'ours: useful GFLOP/s':44s} {flops / t_ours / 1e9:12.1f}",
        f"{'NumPy DGEMM (N,m)x(m,m) GFLOP/s':44s} {gemm:12.1f}",
        f"{'ours / DGEMM rate (target >= 0.60)':44s} {flops / t_ours / 1e9 / gemm:12.3f}",
        f"{'NumPy SGEMM (N,m)x(m,m) GFLOP/s':44s} {sgemm:12.1f}",
        f"{'least products at our work, s / GD step':44s} {t_floor:12.4f}",
        f"{'ours: fwd + adj iterations, slowest sample':44s} {iters.mean():12.2f}",
        f"{'ours: fwd + adj work, full-batch iterations':44s} {work.mean():12.2f}",
        f"{'ours: ... of which float64 (rest float32)':44s} {work64.mean():12.2f}",
    ]
    if late is not None:
        lw = late["fwd_work"] + late["adj_work"]
        lines += [
            f"{f'ours, steps {lo}-{hi}: work (target <= 10)':44s} {lw.mean():12.2f}",
            f"{f'ours, steps {lo}-{hi}: slowest sample':44s} {(late['fwd_iter'] + late['adj_iter']).mean():12.2f}",
        ]
    print("\n".join(lines))


def scaling(args):
    """Median time per step over m (N fixed) and over N (m fixed); fitted log-log exponents.

    Each sweep is run ``args.repeats`` times, cycling through its sizes, and each size keeps
    the median over all its timed steps: a slow moment of the machine then hits every size.
    The exponent is fitted over the whole range and over the sizes at least the default ones
    (m ≥ 800, N ≥ 200), where the per-step overheads that do not grow like m²N are small.
    """
    def time_steps(N, m):
        X, y, params = problem(N, args.d, m)
        lr = args.lr * args.N / N  # λ_max(H) grows like N: keep η·λ_max (stability) fixed
        t = run_ours(X, y, params, args.gamma, lr, 3 + args.scaling_steps, implicit.SolverSettings(tol=args.tol))
        if t.attrs.get("status") != "completed":
            raise RuntimeError(f"N={N}, m={m}: run stopped: {t.attrs.get('reason')}")
        return t["step_seconds"].iloc[3:].to_numpy(), float((t["fwd_work"] + t["adj_work"]).iloc[3:].mean())

    print(f"{'sweep':6s} {'N':>6s} {'m':>6s} {'s/step':>10s} {'work':>6s} {'s/(work·m²N)·1e9':>18s}")
    for name, grid in (("m", [(args.N, m) for m in args.m_grid]), ("N", [(N, args.m) for N in args.N_grid])):
        times, work = {g: [] for g in grid}, {}
        for _ in range(args.repeats):
            for g in grid:
                t, work[g] = time_steps(*g)
                times[g].append(t)
        ts = []
        for N, m in grid:
            t, w = float(np.median(np.concatenate(times[(N, m)]))), work[(N, m)]
            ts.append(t)
            print(f"{name:6s} {N:6d} {m:6d} {t:10.4f} {w:6.1f} {t / ((w + 1) * m * m * N) * 1e9:18.3f}")
        x = np.log([m if name == "m" else N for N, m in grid])
        slope = np.polyfit(x, np.log(ts), 1)[0]
        big = x >= np.log(args.m if name == "m" else args.N)
        slope_big = np.polyfit(x[big], np.log(ts)[big], 1)[0] if big.sum() >= 2 else float("nan")
        print(f"fitted exponent of time per step in {name}: {slope:.2f} over the whole range, "
              f"{slope_big:.2f} from {name} = {args.m if name == 'm' else args.N} on (m²N model: {2 if name == 'm' else 1})")


def float32(args):
    """float32 against float64: speed (runs alternated ``args.repeats`` times, median step) and
    loss-trajectory deviation over ``args.f32_steps``."""
    X, y, params = problem(args.N, args.d, args.m)
    n = args.f32_steps
    runs64, runs32 = [], []
    for _ in range(args.repeats):  # alternated, like the step mode
        runs64.append(run_ours(X, y, params, args.gamma, args.lr, n, implicit.SolverSettings(tol=args.tol)))
        runs32.append(run_ours(X, y, params.astype(np.float32), args.gamma, args.lr, n,
                               implicit.SolverSettings(tol=args.tol32)))
    t64, t32 = runs64[0], runs32[0]
    s64, s32 = (float(np.median(np.concatenate([t["step_seconds"].iloc[5:] for t in runs]))) for runs in (runs64, runs32))
    dev = np.abs(t32["train_loss"].to_numpy() - t64["train_loss"].to_numpy()) / t64["train_loss"].to_numpy()
    w64 = (t64["fwd_work"] + t64["adj_work"]).mean()
    w32 = (t32["fwd_work"] + t32["adj_work"]).mean()
    gemm64, gemm32 = dgemm_rate(args.N, args.m), dgemm_rate(args.N, args.m, np.float32)
    print(f"GEMM (N,m)x(m,m): float64 {gemm64:.1f} GFLOP/s, float32 {gemm32:.1f} GFLOP/s (ratio {gemm32 / gemm64:.2f})")
    print(f"float64 (tol {args.tol:g}): {s64:.4f} s/step, {w64:.1f} iterations/step")
    print(f"float32 (tol {args.tol32:g}): {s32:.4f} s/step, {w32:.1f} iterations/step")
    print(f"speed-up float32 vs float64 (target >= 1.7): {s64 / s32:.2f}  (per iteration: {s64 / (w64 + 1) / (s32 / (w32 + 1)):.2f})")
    print(f"loss trajectory over {n} steps: max relative deviation {dev.max():.2e}, final {dev[-1]:.2e}")


def solvers(args):
    """Forward + adjoint iterations per GD step for the solver variants (steps 5..end)."""
    X, y, params = problem(args.N, args.d, args.m)
    n = args.warmup + args.steps

    def cold(method):
        theta, rows = params.copy(), []
        for _ in range(n):
            ws = implicit.WarmStart()  # fresh each step: no warm start
            ev = implicit.evaluate(theta, X, y, args.gamma, implicit.SolverSettings(tol=args.tol, method=method),
                                   warm_start=ws)
            rows.append((ws.fwd_iter, ws.adj_iter, ws.fwd_work, ws.adj_work, ws.fwd_exact_work, ws.adj_exact_work))
            theta.axpy(-args.lr, ev.grads)
        return np.array(rows[args.warmup:], dtype=float)

    def warm(method="fixed-point", mixed=None, **kw):
        solver = implicit.SolverSettings(tol=args.tol, method=method, mixed=mixed)
        t = run_ours(X, y, params, args.gamma, args.lr, n, solver, **kw).iloc[args.warmup:]
        cols = ["fwd_iter", "adj_iter", "fwd_work", "adj_work", "fwd_work_f64", "adj_work_f64"]
        return t[cols].to_numpy(dtype=float)

    exact = dict(certified=False, mixed=False)  # the measured criterion, float64 only
    variants = {
        "cold, plain": lambda: cold("fixed-point"),
        "cold, Anderson": lambda: cold("anderson"),
        "warm (last solution), plain": lambda: warm(extrapolate=False, **exact),
        "warm (last solution), Anderson": lambda: warm(extrapolate=False, method="anderson", **exact),
        "warm + extrapolated, plain": lambda: warm(**exact),
        " + certified stopping": lambda: warm(mixed=False),
        " + float32 increments (default)": lambda: warm(),
    }
    print(f"{'variant':34s} {'fwd':>6s} {'adj':>6s} {'fwd+adj':>8s} {'work':>6s} {'f64':>6s}"
          "   (iterations per GD step, slowest sample; work = sample-iterations / N, f64 = its float64 part;"
          " times: the step mode)")
    for name, fn in variants.items():
        a = fn().mean(axis=0)
        print(f"{name:34s} {a[0]:6.2f} {a[1]:6.2f} {a[0] + a[1]:8.2f} {a[2] + a[3]:6.2f} {a[4] + a[5]:6.2f}")


def breakdown(args):
    """Where a GD step's time goes, in one instrumented run (means per step over steps
    warmup+1 … warmup+steps−1): the products of each solve, float64 steps and float32
    increments apart, with their in-situ µs per row against the same product alone at full
    batch (the faster of two measurements, before and after the run); the gradients' and
    features' products; the power iteration; each Numba pass (``axpy_dist`` is the GD
    update) but the warm starts', which are timed with the NumPy around them as one piece
    (``implicit/warmstart.py`` does not report to the hook); and the untimed rest (NumPy and
    Python between them, the hook's own cost included).  The times come from the engine's
    timing hook (:func:`instrumented`).  Returns ``{label: ms per step}`` with the totals."""
    X, y, params = problem(args.N, args.d, args.m)
    n = args.warmup + args.steps

    def rates():
        return {t: dgemm_rate(args.N, args.m, np.dtype(t)) * 1e9 for t in ("float64", "float32")}

    before = rates()
    with instrumented() as log:
        _, trace = implicit.train(params, X, y, args.gamma, lr=args.lr, steps=n,
                                  solver=implicit.SolverSettings(tol=args.tol))
    rate = {t: max(r, before[t]) for t, r in rates().items()}  # measured before and after the run
    if trace.attrs["status"] != "completed":
        raise RuntimeError(f"run stopped: {trace.attrs['reason']}")
    ks = list(range(args.warmup + 1, n))  # an update before, a gradient after (the last step has none)
    step = trace["seconds"].diff().iloc[ks].to_numpy()
    timed = np.array([sum(c[3] for c in log[k]) for k in ks])
    parts = {}
    for k in ks:
        for part, rows, dtype, sec in log[k]:
            c = parts.setdefault((part, dtype), [0, 0, 0.0])
            c[0], c[1], c[2] = c[0] + 1, c[1] + rows, c[2] + sec
    names = {"forward": "forward solve", "adjoint": "adjoint solve", "gradients": "gradients ∇A, ∇W",
             "features": "features XWᵀ", "power": "power iteration for ρ (GEMVs)",
             "warmstart": "warm starts (4 Numba passes + NumPy)"}
    kinds = {"float64": "float64 steps", "float32": "float32 increments"}
    out = {}

    def line(label, ms, calls="", rows="", us="", alone=""):
        out[label] = ms
        print(f"{label:44s} {calls:>6s} {rows:>6s} {ms:8.3f} {us:>7s} {alone:>7s}".rstrip())

    print(f"problem: N={args.N} d={args.d} m={args.m} gamma={args.gamma} lr={args.lr} tol={args.tol:g}, "
          f"means per step over steps {ks[0]}-{ks[-1]} of one run timed by the engine's hook "
          f"(implicit._timing; ~0.5 µs per report, in the untimed rest)")
    print(f"{'part':44s} {'calls':>6s} {'rows':>6s} {'ms/step':>8s} {'µs/row':>7s} {'alone':>7s}")
    total = {"products": 0.0, "passes": 0.0}
    for part, dtype in sorted(parts, key=lambda p: (p[0].startswith("pass:"), -parts[p][2])):
        calls, rows, sec = parts[(part, dtype)]
        ms = sec / len(ks) * 1e3
        if part.startswith("pass:"):
            total["passes"] += ms
            line("Numba pass " + part[5:], ms, f"{calls / len(ks):.2f}")
        elif part in ("forward", "adjoint"):
            total["products"] += ms
            line(f"{names[part]}: {kinds[dtype]}", ms, f"{calls / len(ks):.2f}", f"{rows / calls:.0f}",
                 f"{sec / rows * 1e6:.2f}", f"{2e6 * args.m * args.m / rate[dtype]:.2f}")
        else:  # gradients and features (products, with a dtype), the power iteration, the warm starts
            if dtype:
                total["products"] += ms
            line(names.get(part, part), ms, f"{calls / len(ks):.2f}")
    work = float((trace["fwd_work"] + trace["adj_work"]).iloc[ks].mean())
    line("products, all", total["products"])
    line("Numba passes, all", total["passes"])
    line("untimed rest (NumPy, Python), median", float(np.median(step - timed)) * 1e3)
    line("GD step, mean", float(step.mean()) * 1e3)
    line("GD step, median", float(np.median(step)) * 1e3)
    line("least products at this work (floor_seconds)", floor_seconds(work, args.N, args.d, args.m, *rate.values()) * 1e3)
    print(f"(calls per step; rows per call; µs/row in situ and for the product alone at {args.N} rows; "
          f"work {work:.2f} full-batch iterations per step)")
    print("(not attributable any more: the warm starts' Numba passes extrapolate_forward, extrapolate_adjoint, "
          "flip_correction and same_mask_rows one by one — implicit/warmstart.py does not report to the hook; "
          "they are timed together with the NumPy around them, from implicit/gradients.py)")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", default="step", choices=("step", "scaling", "float32", "solvers", "breakdown", "all"))
    p.add_argument("--N", type=int, default=200)
    p.add_argument("--d", type=int, default=200)
    p.add_argument("--m", type=int, default=800)
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--tol", type=float, default=1e-10)
    p.add_argument("--tol32", type=float, default=1e-5, help="float32 tolerance (1e-10 is below its rounding)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--late-steps", type=int, nargs=2, default=[100, 200], metavar=("FROM", "TO"),
                   help="also report the iterations over these GD steps of one longer run (0 0: skip)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--scaling-steps", type=int, default=6)
    p.add_argument("--f32-steps", type=int, default=200)
    p.add_argument("--m-grid", type=int, nargs="+", default=[200, 400, 800, 1600, 3200])
    p.add_argument("--N-grid", type=int, nargs="+", default=[100, 200, 400, 800, 1600])
    args = p.parse_args(argv)
    implicit.set_threads(args.threads)
    modes = ("step", "solvers", "breakdown", "scaling", "float32") if args.mode == "all" else (args.mode,)
    results = {}
    for mode in modes:
        print(f"== {mode} ==")
        results[mode] = {"step": headline, "scaling": scaling, "float32": float32, "solvers": solvers,
                         "breakdown": breakdown}[mode](args)
    return results


if __name__ == "__main__":
    main()
