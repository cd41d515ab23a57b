"""Emptiness and redundancy (linear programs): :func:`is_empty`, :func:`remove_redundant`."""

from __future__ import annotations

import numpy as np

from symest.cones._cone import Cone
from symest.cones._prepare import _dedupe, _unit_rows

_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def _lp(c: np.ndarray, a_ub: np.ndarray, b_ub: np.ndarray, bounds: list[tuple[float, float]]) -> float:
    from scipy.optimize import linprog

    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", options=_LP_OPTIONS)
    if res.status != 0:  # pragma: no cover - bounded, feasible by construction
        raise RuntimeError(f"LP failed: {res.message}")
    return float(res.fun)


def is_empty(cone: Cone, tol: float = 1e-9) -> bool:
    """Whether the cone has empty interior (so Gaussian measure 0).

    With unit normals, the LP ``t* = max { t : a_i . x >= t for all i, -1 <= x_j <= 1 }``
    measures the largest inscribed ball (``t*`` lies between its radius about the box's unit
    vector and ``sqrt(n)`` times it); the cone is reported empty when ``t* <= tol``. Linearly
    independent normals (and ``m <= 1``) never give an empty cone and skip the LP.
    """
    a = _unit_rows(cone.normals)
    m, n = a.shape
    if m <= 1:
        return False
    if np.linalg.matrix_rank(a) == m:
        return False
    # variables (x, t): minimise -t subject to t - a_i . x <= 0
    a_ub = np.hstack([-a, np.ones((m, 1))])
    t = -_lp(np.r_[np.zeros(n), -1.0], a_ub, np.zeros(m), [(-1.0, 1.0)] * n + [(None, 1.0)])
    return t <= tol


def remove_redundant(cone: Cone) -> Cone:
    """The same cone without zero rows, duplicate rows and constraints implied by the others.

    Rows are normalised (unit length) and duplicates (equal to within 8 eps) dropped; then each
    remaining constraint ``i`` in turn is dropped if ``min { a_i . x : a_j . x >= 0 for the kept
    j != i, -1 <= x <= 1 } >= -1e-9`` (an LP), i.e. if the others imply it. Sequential removal
    keeps the set equal to the original cone. Linearly independent rows are all kept without
    LPs. For a cone with empty interior this keeps enough rows to define the same set.
    """
    a = _dedupe(_unit_rows(cone.normals))
    m, n = a.shape
    if m <= 1 or np.linalg.matrix_rank(a) == m:
        return Cone(a.reshape(m, n))
    keep = np.ones(m, dtype=bool)
    for i in range(m):
        others = keep.copy()
        others[i] = False
        if not others.any():
            continue
        val = _lp(a[i], -a[others], np.zeros(int(others.sum())), [(-1.0, 1.0)] * n)
        if val >= -1e-9:
            keep[i] = False
    return Cone(a[keep])
