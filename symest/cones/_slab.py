"""The slab route's pair: the most nearly antiparallel normals and their exact angle."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from symest.cones._constants import _SLAB_ANGLE
from symest.cones._costs import _T


def _slab_pair(a: np.ndarray) -> tuple[int, int, float, int]:
    """The most nearly antiparallel pair of unit rows: (i, j, pi - angle(a_i, a_j), flops); the
    angle is only evaluated (accurately, from ``|a_i + a_j|``) when the pair is within
    ``_SLAB_ANGLE`` of antiparallel (``inf`` otherwise)."""
    m, r = a.shape
    g = a @ a.T
    k = int(np.argmin(g))
    i, j = divmod(k, m)
    flops = m * m * (r + 1)
    if not g[i, j] < -math.cos(2 * _SLAB_ANGLE):
        return i, j, math.inf, flops
    gap = 2.0 * math.atan2(float(np.linalg.norm(a[i] + a[j])), float(np.linalg.norm(a[i] - a[j])))
    return i, j, gap, flops + 6 * r + 2 * _T


def _raw_pair(a_i: np.ndarray, a_j: np.ndarray, raw: tuple[np.ndarray, np.ndarray] | None) -> tuple | None:
    """``(pi - angle, f)`` for the input rows ``p, q`` that the unit rows ``a_i, a_j`` were
    normalised from (``f`` the unit part of ``q`` orthogonal to ``p``), in exact rational
    arithmetic, so both keep full relative accuracy however thin the slab; None if unknown."""
    if raw is None:
        return None
    unit, rows = raw
    rows = rows[np.abs(rows).max(axis=1) > 0]  # the rows _unit_rows kept, in its order
    found = [np.flatnonzero((unit == v).all(axis=1)) for v in (a_i, a_j)]
    if found[0].size != 1 or found[1].size != 1:  # unknown, or several input rows normalise to it
        return None
    p, q = (np.ldexp(rows[k[0]], -math.frexp(float(np.abs(rows[k[0]]).max()))[1]) for k in found)  # exact
    P, Q = [Fraction(float(x)) for x in p], [Fraction(float(x)) for x in q]
    pp = sum(x * x for x in P)
    qp = sum(x * y for x, y in zip(P, Q, strict=True))
    t = qp / pp
    wf = np.array([float(y - t * x) for x, y in zip(P, Q, strict=True)])  # q's part orthogonal to p
    wn = float(np.linalg.norm(wf))
    if wn == 0.0:
        return 0.0, None
    return math.atan2(wn * math.sqrt(float(pp)), -float(qp)), wf / wn
