"""Exact measures in 1, 2 and 3 dimensions (vectorised over a batch of cones with equal m):
1-D, 2-D sectors, 3-D spherical polygons."""

from __future__ import annotations

import functools

import numpy as np

from symest.cones._constants import _EPS, _FAN_OK, _VERTEX_TOL
from symest.cones._costs import _T, _sort_flops
from symest.cones._lp import _LP_OPTIONS
from symest.cones._prepare import _norm


def _measure1(a: np.ndarray) -> float:
    """r = 1: all normals are ±(one direction)."""
    s = a[:, 0]
    return 0.5 if (s > 0).all() or (s < 0).all() else 0.0


def _measure2_batch(a: np.ndarray) -> np.ndarray:
    """Sector measures of B cones in R^2; ``a`` is (B, m, 2) with unit rows, m >= 1."""
    bsz, m, _ = a.shape
    phi = np.arctan2(a[..., 1], a[..., 0])
    order = np.argsort(phi, axis=1)
    phis = np.take_along_axis(phi, order, axis=1)
    gaps = np.diff(np.concatenate([phis, phis[:, :1] + 2 * np.pi], axis=1), axis=1)
    j = np.argmax(gaps, axis=1)
    rows = np.arange(bsz)
    hi = a[rows, order[rows, j]]  # the last normal before the largest gap
    lo = a[rows, order[rows, (j + 1) % m]]  # the first normal after it
    cross = lo[:, 0] * hi[:, 1] - lo[:, 1] * hi[:, 0]
    dot = lo[:, 0] * hi[:, 0] + lo[:, 1] * hi[:, 1]
    ang = 2.0 * np.arctan2(_norm(lo + hi), _norm(lo - hi))  # angle(lo, -hi) = pi - angle(lo, hi)
    # empty unless the normals fit in an arc shorter than pi (an antiparallel pair: a line, 0)
    ang = np.where((gaps[rows, j] > np.pi) & ((np.abs(cross) > 64 * _EPS) | (dot > 0)), ang, 0.0)
    return ang / (2 * np.pi)


def _measure2_flops(m: int) -> int:
    return m * _T + _sort_flops(m) + 2 * m + m + 8 + 2 * _T


@functools.lru_cache(maxsize=128)
def _pairs(m: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(m, 1)


_LEVI_CIVITA = np.zeros((3, 3, 3))
_LEVI_CIVITA[0, 1, 2] = _LEVI_CIVITA[1, 2, 0] = _LEVI_CIVITA[2, 0, 1] = 1.0
_LEVI_CIVITA[0, 2, 1] = _LEVI_CIVITA[2, 1, 0] = _LEVI_CIVITA[1, 0, 2] = -1.0


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.size <= 96:  # one einsum call is cheapest for small arrays
        return np.einsum("ijk,...j,...k->...i", _LEVI_CIVITA, a, b)
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    np.subtract(a1 * b2, a2 * b1, out=out[..., 0])
    np.subtract(a2 * b0, a0 * b2, out=out[..., 1])
    np.subtract(a0 * b1, a1 * b0, out=out[..., 2])
    return out


def _cross_unit(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a x b`` for unit vectors, accurate in direction to a few eps even when ``a = ±b`` nearly,
    as ``a x (b -+ a)`` (the difference of close numbers is exact); also ``angle(a, b)``."""
    dm, dp = a - b, a + b
    ang = 2.0 * np.arctan2(_norm(dm), _norm(dp))
    return _cross(a, np.where((ang <= np.pi / 2)[..., None], -dm, dp)), ang


def _measure3_batch(a: np.ndarray) -> np.ndarray:
    """Spherical-polygon measures of B pointed cones in R^3; ``a`` is (B, m, 3), unit rows, rank 3.

    Two exact formulas are evaluated and, per cone, the better conditioned one is kept:
    the Van Oosterom–Strackee fan (relative accuracy for small polygons; its rounding error is
    about ``eps / sqrt(2 (1 + v1.v2)(1 + v2.v3)(1 + v3.v1))`` per triangle, large only when a
    triangle has almost antipodal vertices) and Girard's theorem in the form
    ``area = 2 pi - sum over vertices of the turning angle``, the turning angle at a vertex being
    the largest angle between normals tight there (absolute error of a few eps per vertex).
    """
    bsz, m, _ = a.shape
    ii, jj = _pairs(m)
    ai, aj = a[:, ii], a[:, jj]
    c, turn = _cross_unit(ai, aj)  # (B, P, 3), (B, P)
    cn = _norm(c)
    valid = cn > 0
    c /= np.where(valid, cn, 1.0)[..., None]
    flat = (~valid & (turn > np.pi / 2)).any(axis=1)  # a_i = -a_j: the cone lies in a plane
    cand = np.concatenate([c, -c], axis=1)  # (B, 2P, 3)
    pair_turn, turn = turn, np.concatenate([turn, turn], axis=1)
    # candidates are accurate to a few eps, so a vertex on a third plane evaluates to +-few eps
    # there; a looser tolerance would admit vertices just outside (an error of tol x perimeter)
    dots = cand @ a.transpose(0, 2, 1)
    feas = (dots >= -_VERTEX_TOL).all(axis=2)
    feas &= np.concatenate([valid, valid], axis=1)
    nfeas = feas.sum(axis=1)
    # order the feasible vertices by angle around their sum (an interior direction)
    cen = np.einsum("bp,bpk->bk", feas, cand)
    cen /= np.where(nfeas > 0, _norm(cen), 1.0)[:, None]
    # ... unless nearly antipodal vertices cancel in that sum, leaving it on the boundary (a
    # polygon close to a lune): then an interior point by LP (rare, ill-conditioned cones)
    margin = np.einsum("bk,bik->bi", cen, a).min(axis=1)
    far = np.where(feas, np.einsum("bpk,bk->bp", cand, cen), np.inf)  # cos of distance to cen
    spread = np.sqrt(np.maximum(2.0 - 2.0 * far.min(axis=1), 0.0))
    for b in np.flatnonzero((nfeas >= 3) & (margin <= 1e-8 * spread)):
        cen[b] = _interior_point(a[b], cen[b])
    ref = cand[np.arange(bsz), np.argmin(far, axis=1)]  # the feasible vertex farthest from cen
    e2 = _cross(cen, ref)
    e1 = _cross(e2, cen)
    ang = np.where(feas, np.arctan2(np.einsum("bpk,bk->bp", cand, e2), np.einsum("bpk,bk->bp", cand, e1)), np.inf)
    order = np.argsort(ang, axis=1)
    v = np.take_along_axis(cand, order[..., None], axis=1)
    turn = np.take_along_axis(turn, order, axis=1)
    pos = np.arange(v.shape[1])
    # Van Oosterom–Strackee fan from the first vertex
    v0 = np.broadcast_to(v[:, :1, :], v[:, 1:-1, :].shape)
    v1, v2 = v[:, 1:-1, :], v[:, 2:, :]
    d01 = np.einsum("bpk,bpk->bp", v0, v1)
    d12 = np.einsum("bpk,bpk->bp", v1, v2)
    d20 = np.einsum("bpk,bpk->bp", v2, v0)
    det = np.einsum("bpk,bpk->bp", v0, _cross(v1 - v0, v2 - v0))  # differences: exact for tiny triangles
    tri = pos[None, 2:] < nfeas[:, None]
    omega = np.where(tri, 2.0 * np.arctan2(np.abs(det), 1.0 + d01 + d12 + d20), 0.0)
    area_os = omega.sum(axis=1)
    cond = np.sqrt(np.maximum(2.0 * (1.0 + d01) * (1.0 + d12) * (1.0 + d20), 1e-300))
    err_os = 16 * _EPS * np.where(tri, 1.0 / cond, 0.0).sum(axis=1)
    # Girard: 2 pi - the sum of the turning angles, the polar polygon's perimeter. Vertices closer
    # than 1e-9 form one cluster (duplicates from several pairs of normals through one point, or
    # a corner cut off by a nearby plane). A cluster turns by the angle between the planes of
    # the edges that enter and leave it; each edge's plane is the normal tight (smallest
    # |a . v|) at both of its end clusters. That is ambiguous only for an edge between almost
    # antipodal clusters (every plane through that axis is tight at both ends) and in polygons
    # of fewer than three clusters; there the cluster turns by the largest angle between the
    # normals tight at its vertices (its chord), equal to the sum of its turns up to second
    # order in the cluster's size. The edge rule is the robust one otherwise: a vertex admitted
    # by the feasibility tolerance although just outside a nearly parallel plane (near-duplicate
    # normals) lies on its neighbour's edge planes and turns by 0, where its chord counts the
    # angle between those planes a second time.
    live = pos[None, :] < nfeas[:, None]
    new = np.ones(v.shape[:2], dtype=bool)
    new[:, 1:] = (np.abs(v[:, 1:] - v[:, :-1]).max(axis=2) > 1e-9) | (live[:, 1:] != live[:, :-1])
    pair = order % ii.size
    pi, pj = ii[pair], jj[pair]
    grid = np.zeros((bsz, m, m))  # angles between the normals
    grid[:, ii, jj] = grid[:, jj, ii] = pair_turn
    bix = np.arange(bsz)[:, None]
    same = live
    for k in range(1, v.shape[1]):  # chords: positions s and s + k in one cluster (rarely any)
        same = same[:, :-1] & live[:, k:] & ~new[:, k:]
        if not same.any():
            break
        a_i, a_j, b_i, b_j = pi[:, :-k], pj[:, :-k], pi[:, k:], pj[:, k:]
        cross_turn = np.maximum(
            np.maximum(grid[bix, a_i, b_i], grid[bix, a_i, b_j]), np.maximum(grid[bix, a_j, b_i], grid[bix, a_j, b_j])
        )
        turn[:, :-k] = np.maximum(turn[:, :-k], np.where(same, cross_turn, 0.0))
    # clusters of all cones, flattened: first position, cone, chord, smallest residual per normal
    flat_live = live.ravel()
    starts = np.flatnonzero(new.ravel())
    keep = flat_live[starts]
    chord = np.maximum.reduceat(turn.ravel(), starts)[keep]
    res = np.abs(np.take_along_axis(dots, order[..., None], axis=1)).reshape(-1, m)
    res = np.minimum.reduceat(res, starts, axis=0)[keep]
    starts = starts[keep]
    cone = starts // v.shape[1]
    rep = v.reshape(-1, 3)[starts]
    nvert = np.bincount(cone, minlength=bsz)
    idx = np.arange(starts.size)
    first = np.r_[True, cone[1:] != cone[:-1]] if starts.size else np.zeros(0, dtype=bool)
    lastc = np.r_[cone[1:] != cone[:-1], True] if starts.size else np.zeros(0, dtype=bool)
    head = np.maximum.accumulate(np.where(first, idx, 0))
    nxt = np.where(lastc, head, idx + 1)  # the next cluster of the same cone, cyclically
    prv = np.empty_like(nxt)
    prv[nxt] = idx
    score = np.maximum(res, res[nxt])  # (clusters, m): how far each plane is from both ends
    edge = np.argmin(score, axis=1)  # the plane of the edge from a cluster to the next
    sure = (score[idx, edge] <= _VERTEX_TOL) & (_norm(rep + rep[nxt]) > 1e-6) & (nvert[cone] >= 3)
    by_edges = grid[cone, edge[prv], edge]
    turns = np.where(sure & sure[prv], by_edges, chord)
    area_g = 2 * np.pi - np.bincount(cone, weights=turns, minlength=bsz)
    err_g = _EPS * (8 * np.pi + 8 * nvert)
    # The fan is kept whenever its rounding error is small in absolute terms, not only when it
    # beats Girard's: a vertex admitted by the feasibility tolerance although just outside a
    # third plane moves the fan by about that tolerance, while Girard's sum depends on the
    # edge planes and chords above being identified right (its errors are structural, not
    # rounding). One cluster: the polygon is a point or tiny (the fan is accurate; a single
    # chord would stand for a closed chain of normals around the whole circle).
    # A chord is never less than the turns it stands for (the triangle inequality among the
    # normals), so Girard's sum with chords is an upper bound. It is off at first order, though,
    # when a cluster is not small against the polygon's width (a slab cut by two planes about
    # 1e-9 apart measured 2.48e-10 for 2.12e-10): where it exceeds the fan by more than both
    # rounding errors, the fan is the one within its error.
    use_os = (err_os <= np.maximum(err_g, _FAN_OK)) | (nvert < 2) | (area_g - area_os > err_os + err_g)
    area = np.where(use_os, area_os, np.maximum(area_g, 0.0))
    # the cone lies in the lune of any two of its planes, of area 2 (pi - angle): this caps
    # slabs between almost antiparallel planes, too thin for either formula's vertices
    area = np.minimum(area, 2.0 * (np.pi - pair_turn.max(axis=1)))
    return np.where((nfeas >= 3) & ~flat, area, 0.0) / (4 * np.pi)


def _interior_point(a: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """A unit vector deep inside ``{x : a x >= 0}``: ``argmax min_i a_i . x`` over the box
    ``|x_j| <= 1`` (an LP); ``fallback`` when the cone has no interior."""
    from scipy.optimize import linprog

    m, n = a.shape
    res = linprog(
        np.r_[np.zeros(n), -1.0], A_ub=np.hstack([-a, np.ones((m, 1))]), b_ub=np.zeros(m),
        bounds=[(-1.0, 1.0)] * n + [(None, 1.0)], method="highs", options=_LP_OPTIONS,
    )
    if res.status != 0 or not -res.fun > 0:
        return fallback
    x = res.x[:n]
    return x / np.linalg.norm(x)


def _measure3_simplicial(a: np.ndarray) -> np.ndarray:
    """``_measure3_batch`` for m = 3 (a spherical triangle), from the dual basis directly."""
    # r_k ∝ ±(a_i x a_j), the rays up to one common sign (that of det(a)), which the fan's area
    # does not see: negating every vertex maps the triangle to its antipode, of equal area
    r = _cross_unit(a[:, [1, 2, 0]], a[:, [2, 0, 1]])[0]
    rn = _norm(r)
    r /= np.where(rn > 0, rn, 1.0)[..., None]
    d = np.einsum("bpk,bpk->bp", r, r[:, [1, 2, 0]])  # r0.r1, r1.r2, r2.r0
    vol = np.abs(np.einsum("bk,bk->b", r[:, 0], _cross(r[:, 1] - r[:, 0], r[:, 2] - r[:, 0])))
    area_os = 2.0 * np.arctan2(vol, 1.0 + d.sum(axis=1))
    err_os = 16 * _EPS / np.sqrt(np.maximum(2.0 * (1.0 + d).prod(axis=1), 1e-300))
    b = a[:, [1, 2, 0]]
    pair_turn = 2.0 * np.arctan2(_norm(a - b), _norm(a + b))
    area_g = 2 * np.pi - pair_turn.sum(axis=1)
    area = np.where(err_os <= _EPS * (8 * np.pi + 24), area_os, np.maximum(area_g, 0.0))
    area = np.minimum(area, 2.0 * (np.pi - pair_turn.max(axis=1)))  # inside each pair's lune
    # three independent normals always bound a cone with interior (a linear image of the
    # octant), so there is no emptiness test on det here: rank was decided by _reduce, and
    # nearly parallel rows make det tiny (even 0.0 in floating point) while the cone is close to
    # a half-space (Girard: 2 pi - the small angles between the normals)
    return area / (4 * np.pi)


def _measure3(a: np.ndarray) -> np.ndarray:
    """Measures of a batch of rank-3 cones (unit rows in R^3): :func:`_measure3_vertices`.

    Cones with empty interior need no separate test: their feasible candidates all coincide
    (one cluster of vertices), which the fan measures as 0. (An earlier Girard sum counted one
    turn for such a cluster and measured some empty cones with nearly parallel rows as about
    0.26; an LP emptiness test with tolerance 1e-9 then also zeroed thin non-empty cones.)"""
    return _measure3_vertices(a)


def _measure3_vertices(a: np.ndarray) -> np.ndarray:
    """Exact measures of B pointed cones in R^3, ``a`` (B, m, 3) unit rows of rank 3, in chunks."""
    bsz, m, _ = a.shape
    if m == 3:
        return _measure3_simplicial(a)
    step = max(1, (1 << 18) // (m * (m - 1) * m))
    if bsz <= step:
        return _measure3_batch(a)
    return np.concatenate([_measure3_batch(a[i : i + step]) for i in range(0, bsz, step)])


def _measure3_flops(m: int) -> int:
    if m == 3:  # _measure3_simplicial
        return 142 + 12 * _T
    p = m * (m - 1) // 2
    q = 2 * p
    return (
        9 * p + p * (5 + _T) + 5 * p  # cross, norm, validity, normalise, tolerance
        + p * (14 + 3 * _T)  # angles between the pair's normals
        + 3 * q * m + 2 * q * m  # candidate values (matmul) and feasibility
        + 3 * q + 3 * q + 10 + 4 * _T  # centre, basis
        + 4 * m + 4 * q + 8 + _T  # the centre's margin, distances to it, farthest vertex
        + 6 * q + q * _T + _sort_flops(q)  # angles, sort
        + q * (9 + 5 + 3 * 5 + 4 + _T + 2 + 8 + _T)  # fan triangles and their conditioning
        + q * 12  # duplicate detection, segment maxima
        + 4 * q * m + q * (12 + _T)  # edge planes: residuals, their cluster minima, scores, argmin
        + 2 * q + 8 + 2 * p  # sums; lune cap
    )
