"""Preparation: normalise, drop zero rows, remove the lineality space, merge almost equal rows."""

from __future__ import annotations

import numpy as np

from symest.cones._cone import Cone
from symest.cones._constants import _EPS, _MERGE_ANGLE, _RANK_RTOL, _RESIDUAL_TOL
from symest.cones._costs import _T, _clean_flops, _svd_flops


def _unit_rows(a: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; zero rows removed (they say 0 >= 0)."""
    if a.shape[0] == 0:
        return a.copy()
    scale = np.abs(a).max(axis=1)
    keep = scale > 0
    b = a[keep] / scale[keep, None]
    return b / np.sqrt(np.einsum("ij,ij->i", b, b))[:, None]


def _dedupe(a: np.ndarray) -> np.ndarray:
    """Drop rows equal (to within 8 eps in every coordinate) to an earlier unit row."""
    m = a.shape[0]
    if m < 2:
        return a
    close = (np.abs(a[:, None, :] - a[None, :, :]) <= 8 * _EPS).all(axis=2)
    dup = np.triu(close, 1).any(axis=0)
    return a[~dup]


def _reduce(a: np.ndarray) -> tuple[np.ndarray, int, int, float]:
    """Project unit rows onto row(A); returns (rows in R^r, r, flops, moved). Rows stay unit length.

    Singular values below ``_RANK_RTOL`` times the largest are dropped, which turns each row
    ``a_i`` by the angle ``theta_i = asin |e_i|`` (``e_i`` its component along the dropped
    directions). The half-spaces before and after differ by two wedges of Gaussian measure
    ``theta_i / pi`` together, so the cone's measure moves by at most ``moved = sum theta_i / pi``.
    Residuals at the level of rounding (every ``|e_i| <= _RESIDUAL_TOL``) count as exact rank
    deficiency: ``moved = 0``.
    """
    m, n = a.shape
    if m == 0:
        return a, 0, 0, 0.0
    s = np.linalg.svd(a, compute_uv=False)
    r = int((s > _RANK_RTOL * s[0]).sum())
    flops = _svd_flops(m, n) + len(s)
    if r == n:
        return a, n, flops, 0.0
    vt = np.linalg.svd(a, full_matrices=False)[2]
    b = a @ vt[:r].T
    b = b / np.sqrt(np.einsum("ij,ij->i", b, b))[:, None]
    flops = 2 * flops + m * n * r + m * (3 * r + _T)
    moved = 0.0
    if r < len(s) and s[r] > _RESIDUAL_TOL:  # |e_i| <= s[r] for every i: else rounding level
        k = vt.shape[0] - r
        e = _norm(a @ vt[r:].T)
        flops += m * n * k + m * (2 * k + 2 * _T)
        if e.max() > _RESIDUAL_TOL:
            moved = float(np.arcsin(np.minimum(e, 1.0)).sum()) / np.pi
    return b, r, flops, moved


def _norm(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...k,...k->...", x, x))


def _prepare(cone: Cone) -> tuple[np.ndarray, int, int, float]:
    """Unit rows projected onto the row space: (rows (m, r), r, flops, moved), ``moved`` the
    bound of :func:`_reduce` on what dropping tiny singular values did to the measure."""
    return _prepare_rows(cone.normals)


def _prepare_rows(rows: np.ndarray) -> tuple[np.ndarray, int, int, float]:
    """:func:`_prepare` for the normals ``rows`` (m, n) of a cone."""
    m, n = rows.shape
    a = _unit_rows(rows)
    b, r, f, moved = _reduce(a)
    return b, r, _clean_flops(m, n) + f, moved


def _merge_close(a: np.ndarray) -> tuple[np.ndarray, float]:
    """Drop each unit row within angle ``_MERGE_ANGLE`` of an earlier kept row.

    Dropping ``a_j`` next to a kept ``a_i`` at angle ``delta`` enlarges the cone by a subset of
    the wedge ``{a_i . x >= 0 > a_j . x}``, whose Gaussian measure is exactly ``delta / (2 pi)``:
    returns the rows kept and the sum of those amounts (added to the error bound). Two planes
    this close would otherwise make the ray enumeration's zero tests ambiguous.
    """
    m = a.shape[0]
    if m < 2:
        return a, 0.0
    ang = 2.0 * np.arctan2(_norm(a[:, None, :] - a[None, :, :]), _norm(a[:, None, :] + a[None, :, :]))
    keep = np.ones(m, dtype=bool)
    extra = 0.0
    for j in range(1, m):
        close = keep[:j] & (ang[j, :j] < _MERGE_ANGLE)
        if close.any():
            keep[j] = False
            extra += float(ang[j, :j][close].min()) / (2 * np.pi)
    return a[keep], extra
