"""Which trained subsets ("arms") of the ``linear-width`` experiment are linear models.

Its own module, without imports, because both the train jobs (:mod:`replication.jobs`, which
record GD's exact trajectory for such arms) and the fits (:mod:`replication.fits`, which decide
their outcomes from it) need it: an edit here reruns both, an edit of either does not rerun the
other's jobs.
"""

#: the blocks whose training leaves the features Z, Φ fixed (the output weights): an arm that
#: trains a subset of them is a linear model, least squares on J = [Z, Φ] (:func:`is_linear_arm`)
LINEAR_BLOCKS = frozenset({"u", "v"})


def is_linear_arm(trainable) -> bool:
    """Whether the trained blocks ``trainable`` ("u+v" or a sequence of block names) are a
    non-empty subset of {u, v}.

    Such a run keeps A and W at θ(0), so the equilibrium Z and the features Φ never change and
    ŷ = Zu + Φv is linear in the trained parameters: GD is r(k+1) = (I − ηH)r(k) exactly, with
    H = JJᵀ the Gram matrix of the trained blocks at initialisation (ZZᵀ + ΦΦᵀ for u, v), and
    its loss is known in closed form at every step (:func:`replication.jobs.closed_form_loss`).
    """
    blocks = set(trainable.split("+") if isinstance(trainable, str) else trainable)
    return bool(blocks) and blocks <= LINEAR_BLOCKS
