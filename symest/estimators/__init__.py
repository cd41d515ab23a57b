"""Estimator registry: ``estimate(model, method, ...)`` dispatches by name.

Every estimator takes the model plus keyword options (``samples``, ``budget`` in FLOPs,
``seed``) and returns an :class:`~symest.estimate.Estimate` whose FLOPs follow
:mod:`symest.flops`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symest._errors import MethodError
from symest.estimate import Estimate
from symest.model import Model


def _sampling(model: Model, *, samples: int | None = None, budget: float | None = None, seed: int = 0,
              progress: bool = False, **_: Any) -> Estimate:
    from symest.estimators.sampling import sample_estimate, samples_for_flops

    n = samples if samples is not None else samples_for_flops(model, budget) if budget is not None else 1 << 20
    return sample_estimate(model, n, seed, progress=progress)


METHODS: dict[str, Callable[..., Estimate]] = {"sampling": _sampling}


def register(name: str, fn: Callable[..., Estimate]) -> None:
    METHODS[name] = fn


def _load_optional() -> None:
    import importlib

    for mod in ("exact", "covariance", "adaptive", "sweep"):
        try:
            importlib.import_module(f"symest.estimators.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"symest.estimators.{mod}":
                raise


def known(method: str) -> bool:
    """Whether ``method`` names an estimator: a registered one, or ``proof:<path>[:<function>]``
    (a derivation run as an estimator, :mod:`symest.estimators.proof`)."""
    if method.startswith("proof:"):
        from symest.estimators.proof import known as proof_known

        return proof_known(method)
    _load_optional()
    return method in METHODS


def estimate(model: Model, method: str = "sampling", **options: Any) -> Estimate:
    """Run estimator ``method`` on ``model``; unknown methods raise MethodError."""
    if isinstance(method, str) and method.startswith("proof:"):
        from symest.estimators.proof import proof_estimate

        return proof_estimate(model, method, **options)
    if not known(method):
        raise MethodError(f"unknown method {method!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[method](model, **options)
