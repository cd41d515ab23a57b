"""A property-testing kit for estimators: Hypothesis strategies and assertion helpers.

Strategies (``hypothesis`` must be installed: ``pip install symest[test]``):

* :func:`rnn_models` — bias-free RNN models of given sizes for a task;
* :func:`reparametrizations` — positive rescalings and permutations of a model's hidden neurons
  (function-preserving, see :mod:`symest.derivation`);
* :func:`covariances` — symmetric positive semi-definite matrices;
* :func:`cones` — polyhedral cones through the origin (:class:`symest.cones.Cone`).

Assertions, for your own estimator (a callable ``model -> Estimate | float`` or a method name
of :func:`symest.estimate`):

* :func:`assert_agrees_with_sampling` — within k standard errors (plus the estimate's own error
  bound / stated uncertainty) of a seeded sampling estimate;
* :func:`assert_invariant_under_reparametrization` — the same value on a reparametrized model;
* :func:`assert_exact_limit` — an approximation agrees with an exact method within ``tol``.

Example::

    from hypothesis import given
    from symest.testing import rnn_models, assert_agrees_with_sampling

    @given(rnn_models("2nd_argmax", hidden=2, seq_len=2))
    def test_mine(model):
        assert_agrees_with_sampling(my_estimator, model, k=5, samples=1 << 16, seed=0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from symest.estimate import Estimate
from symest.model import Model, make_model
from symest.tasks import get_task

Estimator = Callable[[Model], Any] | str

__all__ = [
    "assert_agrees_with_sampling",
    "assert_exact_limit",
    "assert_invariant_under_reparametrization",
    "cones",
    "covariances",
    "reparametrizations",
    "rnn_models",
]


def _st() -> Any:
    try:
        from hypothesis import strategies as st
    except ModuleNotFoundError as e:  # pragma: no cover - test extra
        raise ModuleNotFoundError("symest.testing strategies need hypothesis: pip install 'symest[test]'") from e
    return st


def _floats(scale: float) -> Any:
    st = _st()
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=32)


def rnn_models(task: str = "2nd_argmax", hidden: int | Any = 2, seq_len: int | Any = 2, *, scale: float = 3.0,
               dtype: str = "float64") -> Any:
    """Strategy: bias-free AlgZoo RNNs for ``task`` with weights in [-scale, scale] (float32 values).

    ``hidden`` and ``seq_len`` may be integers or strategies of integers.
    """
    st = _st()
    t = get_task(task)
    hs = hidden if not isinstance(hidden, int) else st.just(hidden)
    ns = seq_len if not isinstance(seq_len, int) else st.just(seq_len)

    @st.composite
    def build(draw: Any) -> Model:
        d, n = draw(hs), draw(ns)
        k = t.out_size(n)

        def arr(shape: tuple[int, int]) -> np.ndarray:
            vals = draw(st.lists(_floats(scale), min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]))
            return np.array(vals, dtype=np.float64).reshape(shape)

        weights = {"rnn.weight_ih_l0": arr((d, 1)), "rnn.weight_hh_l0": arr((d, d)), "linear.weight": arr((k, d))}
        return make_model(t, n, weights, name=f"random_{task}_{d}_{n}", dtype=dtype)

    return build()


def reparametrizations(model: Model, *, min_factor: float = 0.125, max_factor: float = 8.0) -> Any:
    """Strategy: a :class:`~symest.derivation.Rescale`, :class:`~symest.derivation.Permute` or
    their :class:`~symest.derivation.Compose` for ``model``'s hidden neurons."""
    from symest.derivation import Compose, Permute, Rescale

    st = _st()
    d = model.hidden
    factors = st.lists(st.floats(min_factor, max_factor, allow_nan=False, allow_infinity=False), min_size=d,
                       max_size=d).map(lambda fs: Rescale(tuple(fs)))
    perms = st.permutations(list(range(d))).map(lambda p: Permute(tuple(p)))
    both = st.tuples(factors, perms).map(lambda fp: Compose(fp))
    return st.one_of(factors, perms, both)


def covariances(dim: int, *, scale: float = 2.0, rank: int | None = None) -> Any:
    """Strategy: symmetric PSD ``dim x dim`` matrices ``A A^T`` (rank at most ``rank``, default full)."""
    st = _st()
    r = dim if rank is None else rank
    return st.lists(_floats(scale), min_size=dim * r, max_size=dim * r).map(
        lambda v: (lambda a: a @ a.T)(np.array(v, dtype=np.float64).reshape(dim, r)))


def cones(dim: int, max_constraints: int, *, min_constraints: int = 0) -> Any:
    """Strategy: :class:`symest.cones.Cone` in R^dim with 0..max_constraints normals (entries in [-1, 1])."""
    from symest.cones import Cone

    st = _st()

    @st.composite
    def build(draw: Any) -> Any:
        m = draw(st.integers(min_constraints, max_constraints))
        vals = draw(st.lists(_floats(1.0), min_size=m * dim, max_size=m * dim))
        return Cone(np.array(vals, dtype=np.float64).reshape(m, dim))

    return build()


# ----------------------------------------------------------------------------------------------
# Assertions
# ----------------------------------------------------------------------------------------------


def _run(estimator: Estimator, model: Model) -> tuple[float, float]:
    """(value, own uncertainty: error bound + stderr) of an estimator's answer."""
    if isinstance(estimator, str):
        from symest import estimate

        got = estimate(model, estimator)
    else:
        got = estimator(model)
    if isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], Estimate):
        got = got[0]  # (Estimate, Ledger) from a derivation
    if isinstance(got, Estimate):
        if got.kind == "bounds" and got.lower is not None and got.upper is not None:
            return got.value, (got.upper - got.lower) / 2
        return float(got.value), float(got.error_bound or 0.0) + float(got.stderr or 0.0)
    return float(got), 0.0


def assert_agrees_with_sampling(estimator: Estimator, model: Model, k: float = 5.0, samples: int = 1 << 18,
                                seed: int = 0) -> None:
    """Assert |estimate - sampled accuracy| <= k standard errors + the estimate's own uncertainty.

    The standard error uses the sampled accuracy, floored at one error in ``samples`` (so a
    perfect sample does not demand an exact 1).
    """
    from symest.estimators.sampling import sample_estimate

    value, own = _run(estimator, model)
    s = sample_estimate(model, samples, seed)
    p = min(max(s.value, 1.0 / samples), 1 - 1.0 / samples)
    se = math.sqrt(p * (1 - p) / samples)
    tol = k * se + own
    assert abs(value - s.value) <= tol, (
        f"{model.name}: estimate {value:.8g} differs from sampling {s.value:.8g} ({samples} samples, seed {seed}) "
        f"by {abs(value - s.value):.3g} > {k} s.e. + own uncertainty = {tol:.3g}")


def assert_invariant_under_reparametrization(estimator: Estimator, model: Model, reparam: Any,
                                             tol: float = 1e-9) -> None:
    """Assert the estimator gives the same value (within ``tol`` plus both answers' own
    uncertainty) on ``model`` and on ``model`` reparametrized by ``reparam`` (verified to be
    function-preserving first)."""
    from symest.derivation import apply_reparametrization

    other, ok, note, _ = apply_reparametrization(model, reparam)
    assert ok, f"not a function-preserving reparametrization: {note}"
    a, ua = _run(estimator, model)
    b, ub = _run(estimator, other)
    assert abs(a - b) <= tol + ua + ub, (
        f"{model.name}: estimate {a:.12g} changes to {b:.12g} under {reparam} (difference {abs(a - b):.3g})")


def assert_exact_limit(approx: Estimator, exact: Estimator, model: Model, tol: float) -> None:
    """Assert an approximate estimator agrees with an exact one within ``tol`` on ``model``."""
    a, _ = _run(approx, model)
    e, ue = _run(exact, model)
    assert abs(a - e) <= tol + ue, f"{model.name}: approximation {a:.12g} vs exact {e:.12g} (tolerance {tol:.3g})"


def reference_simplicial_measure(rays: np.ndarray, k: int = 10) -> float:
    """Standard-Gaussian measure of the simplicial cone spanned by the rows of ``rays``: an
    independent reference for testing cone measures (yours or :mod:`symest.cones`).

    mu = |det R| Gamma(n/2) / (2 pi^(n/2)) * integral over the simplex of (t^T G t)^(-n/2) dt,
    G = R R^T for unit rays R, with Duffy's collapsed coordinates and a k-point Gauss-Legendre
    rule per coordinate (processed one first-coordinate node at a time to bound memory). Converges
    as k grows; compare two values of k to see that it has."""
    from scipy.special import roots_legendre

    n = rays.shape[0]
    r = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    g = r @ r.T
    x, w = roots_legendre(k)
    u, w = (x + 1) / 2, w / 2
    rest = [a.ravel() for a in np.meshgrid(*([u] * (n - 2)), indexing="ij")]
    wrest = functools.reduce(np.multiply, np.meshgrid(*([w] * (n - 2)), indexing="ij")).ravel()
    total = 0.0
    for u0, w0 in zip(u, w, strict=True):  # one chunk per node of the first coordinate
        grid = [np.full_like(rest[0], u0), *rest]
        t = np.zeros((n, grid[0].size))
        rem, jac = np.ones_like(grid[0]), np.ones_like(grid[0])
        for i in range(n - 1):  # Duffy's collapsed coordinates
            t[i] = rem * grid[i]
            jac = jac * (1 - grid[i]) ** (n - 2 - i)
            rem = rem * (1 - grid[i])
        t[n - 1] = rem
        quad = np.einsum("ip,ij,jp->p", t, g, t)
        total += w0 * float((wrest * jac * quad ** (-n / 2)).sum())
    return abs(np.linalg.det(r)) * math.gamma(n / 2) / (2 * math.pi ** (n / 2)) * total
