"""Data types: :class:`Cone`, :class:`Measure` and the small helpers that build and bill measures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symest._errors import BudgetError
from symest.cones._costs import FLOPSCOPE_SCALE


@dataclass(frozen=True, eq=False)
class Cone:
    """The polyhedral cone ``{x in R^n : normals @ x >= 0}``.

    ``normals`` is an ``(m, n)`` float64 array (stored as a read-only copy, rows as given:
    normalisation and dropping of zero rows happen inside the functions of this module).
    ``m = 0`` is the whole space ``R^n``. Equality is identity (arrays do not compare as a whole).
    """

    normals: np.ndarray

    def __post_init__(self) -> None:
        a = np.array(self.normals, dtype=np.float64, copy=True)
        if a.ndim != 2:
            raise ValueError(f"cone normals must be a 2-D (m, n) array, got shape {a.shape}")
        if a.shape[1] < 1:
            raise ValueError("a cone needs dimension n >= 1")
        if not np.isfinite(a).all():
            raise ValueError("cone normals must be finite")
        a.setflags(write=False)
        object.__setattr__(self, "normals", a)

    @property
    def dim(self) -> int:
        """The ambient dimension ``n``."""
        return int(self.normals.shape[1])

    @property
    def n_constraints(self) -> int:
        """The number of rows ``m`` (zero rows and redundant rows included)."""
        return int(self.normals.shape[0])

    @classmethod
    def whole(cls, n: int) -> Cone:
        """The whole space ``R^n`` (no constraints)."""
        return cls(np.zeros((0, n)))

    def intersect(self, other_normals: np.ndarray) -> Cone:
        """``self ∩ {x : other_normals @ x >= 0}``; ``other_normals`` is ``(k, n)`` or one ``(n,)`` row."""
        b = np.asarray(other_normals, dtype=np.float64)
        if b.ndim == 1:
            b = b[None, :]
        if b.ndim != 2 or b.shape[1] != self.dim:
            raise ValueError(f"normals of shape {b.shape} do not fit a cone in R^{self.dim}")
        return Cone(np.vstack([self.normals, b]))


@dataclass(frozen=True)
class Measure:
    """A Gaussian measure with its error bound and cost.

    ``value`` in ``[0, 1]``; ``|value - truth| <= error_bound`` (``0.0`` means exact up to
    floating-point rounding); ``exact`` is True for closed forms (``r <= 3`` after removing the
    lineality space, and cones found to be empty); ``flops`` under the module's cost model.
    """

    value: float
    error_bound: float
    exact: bool
    flops: int


def _scaled(m: Measure) -> Measure:
    return Measure(m.value, m.error_bound, m.exact, FLOPSCOPE_SCALE * m.flops)


def _exact(value: float, flops: int) -> Measure:
    return Measure(value=float(value), error_bound=0.0, exact=True, flops=int(flops))


def _check_budget(flops: int, max_flops: float) -> None:
    if flops > max_flops:
        raise BudgetError(f"cone measure needs {flops} FLOPs, more than max_flops={max_flops:.3g}")


def _loosen(meas: Measure, extra: float) -> Measure:
    """``meas`` for a cone moved by at most ``extra`` (in measure): no longer exact."""
    if extra <= 0:
        return meas
    return Measure(meas.value, meas.error_bound + extra, False, meas.flops)
