"""r >= 4: extreme rays (double description), facets, pulling triangulation, simplicial normals."""

from __future__ import annotations

import numpy as np

from symest._errors import BudgetError
from symest.cones._constants import _EPS, _RAY_TOL
from symest.cones._costs import _T, _svd_flops


def _extreme_rays(a: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Extreme rays of the pointed cone {x in R^r : a x >= 0} (a: (m, r) unit rows, rank r).

    Returns (rays (k, r) unit rows, tight (k, m) bool incidences, flops).
    """
    import scipy.linalg

    m, r = a.shape
    _, _, piv = scipy.linalg.qr(a.T, mode="economic", pivoting=True)
    basis = np.sort(piv[:r])
    rays = np.linalg.inv(a[basis]).T.copy()
    rays /= np.sqrt(np.einsum("ij,ij->i", rays, rays))[:, None]
    flops = 4 * m * r * r + 2 * r**3 + r * (3 * r + _T)
    tight = np.zeros((r, m), dtype=bool)
    tight[:, basis] = True
    tight[np.arange(r), basis] = False
    rest = [i for i in range(m) if i not in set(basis.tolist())]
    for i in rest:
        v = rays @ a[i]
        k = rays.shape[0]
        flops += k * r + 2 * k
        pos = np.nonzero(v > _RAY_TOL)[0]
        neg = np.nonzero(v < -_RAY_TOL)[0]
        zero = np.abs(v) <= _RAY_TOL
        if neg.size == 0:
            tight[zero, i] = True
            continue
        new_rays = np.zeros((0, r))
        new_tight = np.zeros((0, m), dtype=bool)
        if pos.size:
            common = tight[pos][:, None, :] & tight[neg][None, :, :]
            cnt = common.sum(axis=2)
            pi, ni = np.nonzero(cnt >= r - 2)
            flops += 2 * pos.size * neg.size * m
            if pi.size:
                com = common[pi, ni]
                sub = ~(com[:, None, :] & ~tight[None, :, :]).any(axis=2)
                adj = sub.sum(axis=1) == 2
                flops += 3 * pi.size * k * m
                p, q = pos[pi[adj]], neg[ni[adj]]
                new_rays = v[p, None] * rays[q] - v[q, None] * rays[p]
                new_rays /= np.sqrt(np.einsum("ij,ij->i", new_rays, new_rays))[:, None]
                new_tight = com[adj].copy()
                new_tight[:, i] = True
                flops += p.size * (6 * r + _T)
        keep = ~(v < -_RAY_TOL)
        tight[zero, i] = True
        rays = np.concatenate([rays[keep], new_rays])
        tight = np.concatenate([tight[keep], new_tight])
        if flops > budget:
            raise BudgetError(f"cone measure needs more than max_flops={budget:.3g} (ray enumeration)")
    return rays, tight, flops


def _maximal(sets: list[frozenset]) -> list[int]:
    """Indices of the distinct sets (first of equals) that are not proper subsets of another."""
    keep: list[int] = []
    for i, si in enumerate(sets):
        if any(si < sj for sj in sets) or any(si == sets[j] for j in keep):
            continue
        keep.append(i)
    return keep


def _facets(tight: np.ndarray, r: int) -> tuple[list[int], int]:
    """One constraint per facet: the maximal ray-incidence sets (of at least r - 1 rays).

    Combinatorial, so it agrees with the double description's own incidences: every face of a
    polyhedral cone is cut out by the facet hyperplanes, and the facets are its maximal proper
    faces. (A numerical rank test would misjudge thin faces of nearly degenerate cones.)
    """
    sets = [frozenset(np.nonzero(tight[:, i])[0].tolist()) for i in range(tight.shape[1])]
    cand = [i for i in range(len(sets)) if len(sets[i]) >= r - 1]
    keep = _maximal([sets[i] for i in cand])
    return [cand[j] for j in keep], len(sets) * len(sets) * tight.shape[0]


def _triangulate(rays: np.ndarray, tight: np.ndarray, facets: list[int], r: int) -> tuple[list[tuple[int, ...]], int]:
    """Pulling triangulation of the pointed cone spanned by ``rays``: simplices as ray-index tuples.

    The facets of a face F are the maximal proper sets among ``F ∩ (facet incidence sets)``
    (purely combinatorial, see ``_facets``); pull the lowest-numbered ray v0 of F and recurse
    into the facets of F that do not contain it.
    """
    facet_sets = [frozenset(np.nonzero(tight[:, i])[0].tolist()) for i in facets]
    memo: dict[frozenset, list[tuple[int, ...]]] = {}
    work = [0]

    def tri(face: frozenset, d: int) -> list[tuple[int, ...]]:
        if len(face) <= d:  # simplicial (fewer rays: inconsistent input, a flat piece, dropped later)
            return [tuple(sorted(face))] if len(face) == d else []
        if face in memo:
            return memo[face]
        v0 = min(face)
        subs = list({face & fs for fs in facet_sets if len(face & fs) >= d - 1 and face & fs != face})
        work[0] += len(facet_sets) * len(face) + len(subs) ** 2 * len(face)
        out: list[tuple[int, ...]] = []
        for j in _maximal(subs):
            if v0 not in subs[j]:
                out.extend((v0, *s) for s in tri(subs[j], d - 1))
        memo[face] = out
        return out

    return tri(frozenset(range(rays.shape[0])), r), work[0]


def _simplex_normals(mats: np.ndarray, with_mask: bool = False, with_sens: bool = False) -> tuple:
    """Inward unit normals of simplicial cones given by their rays (S, r, r) (rays as rows).

    Normal k is the null vector of the other r - 1 rays (last right-singular vector), oriented
    towards ray k. Unlike the rows of the inverse, this stays accurate for flat (sliver) pieces,
    whose condition number can be huge while each facet's own rays are well spread. Pieces
    whose rays are numerically dependent (no interior) are dropped.

    ``with_sens`` (used the other way round, rays from a simplicial cone's normals): also the
    relative change of the measure that the rounding of the results may cause, ``sum_k theta_k /
    |n_k . m_k|`` with ``theta_k = 4 r eps / sigma_min`` the null vector's angular error (the
    smallest singular value of the other ``r - 1`` rows) and ``|n_k . m_k|`` the height of
    result ``n_k`` over the hyperplane of the others (moving a vertex of a thin simplex by
    ``theta`` changes its volume by ``theta / height`` relative). Almost antiparallel normals
    make ``sigma_min`` small; the ray-chart route (2b), which uses these rays, adds this.
    """
    nsimp, r, _ = mats.shape
    others = np.array([[j for j in range(r) if j != k] for k in range(r)])
    sub = mats[:, others]  # (S, r, r-1, r)
    _, sv, vt = np.linalg.svd(sub, full_matrices=True)  # (S, r, r-1), (S, r, r, r)
    nrm = vt[:, :, -1, :]  # (S, r, r)
    side = np.einsum("skd,skd->sk", nrm, mats)
    nrm = nrm * np.sign(side)[..., None]
    ok = (np.abs(side) > 1e-13).all(axis=1)
    flops = nsimp * r * (_svd_flops(r, r - 1) + 4 * r)
    out = (nrm[ok], flops, ok) if with_mask else (nrm[ok], flops)
    if with_sens:
        theta = 4 * r * _EPS / np.maximum(sv[..., -1], 1e-300)
        out = (*out, (theta / np.maximum(np.abs(side), 1e-300)).sum(axis=1)[ok])
    return out
