"""Opt-in timing hook: the engine reports where a GD step's time goes (``python -m
benchmarks.step breakdown``).

``sink`` is None by default, and then a report site costs one attribute load and one test:
the clock is not read and nothing is called.  Installed (:func:`installed`), ``sink`` is a
callable ``sink(part, rows, dtype, seconds)`` that the engine calls after each of its large
products, its Numba passes and a few other timed pieces:

``part``
    ``"forward"`` / ``"adjoint"``: a product of the forward / adjoint solve;
    ``"gradients"``: the products ∇A = MᵀZ and ∇W = SᵀX;  ``"features"``: the product XWᵀ;
    ``"power"``: the power iteration for ρ (:class:`implicit.PowerNorm`, in :func:`implicit.train`);
    ``"warmstart"``: the warm starts' predictions and bookkeeping (their Numba passes and the
    NumPy around them); ``"pass:<kernel>"``: a kernel of :mod:`implicit._numba` (``axpy_dist``
    is the GD update); ``"step"``: a mark, not a timing (``seconds`` 0) — :func:`implicit.train`
    has evaluated GD step ``rows``.
``rows``
    the left operand's row count for a product, else 0 (the step's number for ``"step"``).
``dtype``
    the product's :class:`numpy.dtype` (float64 steps, float32 increments), else None
    (``dtype.name`` costs microseconds: a sink resolves names after the run).
``seconds``
    wall time of the piece (the sink's own time is not counted in the next piece).

A report site in the engine reads::

    t = _timing.sink and _timing.clock()     # None without a sink
    np.matmul(a, b, out=c)
    t = t and _timing.report(t, "forward", len(a), a.dtype)   # the clock now, for the next piece
    _numba.relu_map(...)
    t = t and _timing.report(t, "pass:relu_map")

One process-wide sink (not per thread); the engine runs a step in one thread.
"""

from __future__ import annotations

import contextlib
from time import perf_counter as clock

#: None, or the callable ``sink(part, rows, dtype, seconds)`` the engine reports to.
sink = None


def report(t0: float, part: str, rows: int = 0, dtype=None) -> float:
    """Report the piece that began at clock ``t0`` to the sink; return the clock after the
    report (the start of the next piece).  Call only when a sink is installed."""
    t = clock()
    s = sink
    if s is not None:
        s(part, rows, dtype, t - t0)
    return clock()


def mark(part: str, rows: int = 0) -> None:
    """Send a mark (``seconds`` 0) to the sink, if one is installed."""
    s = sink
    if s is not None:
        s(part, rows, None, 0.0)


@contextlib.contextmanager
def installed(fn):
    """Install ``fn`` as the sink while the block runs; the previous sink (normally None) is
    back afterwards, also when the block raises."""
    global sink
    if not callable(fn):
        raise TypeError(f"the sink must be callable, got {type(fn).__name__}")
    previous, sink = sink, fn
    try:
        yield fn
    finally:
        sink = previous
