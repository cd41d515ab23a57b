"""The measure itself: :func:`gaussian_measure`, :func:`gaussian_measures` and the dispatch on the
reduced dimension, the r >= 4 route (triangulation, ray chart, orthant quadrature) and the slab
route (0b) for almost antiparallel normals. The slab route measures facets by recursing into the
dispatcher, so these live in one module."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from symest._errors import BudgetError
from symest.cones._chart import _ray_chart, _ray_chart_terms, _taylor_order
from symest.cones._cone import Cone, Measure, _check_budget, _exact, _loosen, _scaled
from symest.cones._constants import (
    _EPS,
    _INTERIOR_TOL,
    _MERGE_ANGLE,
    _NORMALISE_ANGLE,
    _RANK_RTOL,
    _RAY_TOL,
    _SLAB_ANGLE,
    _SLAB_PARTS,
    _START_LEVELS,
)
from symest.cones._costs import _T, FLOPSCOPE_SCALE, _clean_flops, _svd_flops
from symest.cones._low import _measure1, _measure2_batch, _measure2_flops, _measure3, _measure3_flops
from symest.cones._orthant import _de_rule, _flatness, _orthant_flops, _orthant_levels, _rest_index
from symest.cones._prepare import _dedupe, _merge_close, _norm, _prepare, _prepare_rows, _reduce, _unit_rows
from symest.cones._rays import _extreme_rays, _facets, _simplex_normals, _triangulate
from symest.cones._slab import _raw_pair, _slab_pair


def _facet_sums(b: np.ndarray, rtol: float, budget: float) -> tuple[np.ndarray, np.ndarray, int]:
    """``h = sqrt(2 pi) E[X_k 1_K(X)]`` for ``G`` cones ``K = {x in R^k : b x >= 0}`` (``b`` is
    (G, M, k); each ``K`` lies in ``{x_k >= 0}``), ``X`` standard Gaussian: (h, error bounds, flops).

    Gaussian integration by parts: ``E[X_k 1_K] = sum over facets F of (e_k . n_F) gamma(F) /
    sqrt(2 pi)``, ``n_F`` the inward unit normal and ``gamma(F)`` the Gaussian measure of ``F``
    in its own ``(k-1)``-dimensional hyperplane. Every row is tried as a facet: the other rows,
    projected onto its hyperplane (a Householder reflection taking ``n_F`` to the last axis),
    bound a cone whose measure is 0 when the row is no facet. All facets of all cones are
    measured in one batch (closed forms for ``k <= 4``).
    """
    g, mm, k = b.shape
    nb = _norm(b)
    u = b / np.where(nb > 0, nb, 1.0)[..., None]
    # a row repeating an earlier one (to 8 eps) is no second facet: zero it (0 >= 0 always holds);
    # otherwise both would keep the whole facet, the other row projecting to 0 on it. (Rows that
    # are only close split the facet between them, consistently: see the projection below.)
    same = (np.abs(u[:, :, None, :] - u[:, None, :, :]) <= 8 * _EPS).all(axis=3)
    u = np.where((np.triu(same, 1).any(axis=1) | (nb == 0))[..., None], 0.0, u)
    coef = u[..., -1]  # (G, M): e_k . n_F
    gi, li = np.nonzero(coef != 0.0)
    n_l = u[gi, li]  # (P, k)
    others = u[gi[:, None], _rest_index(mm + 1)[li]]  # (P, M-1, k)
    c = np.einsum("pmk,pk->pm", others, n_l)
    # subtract the (anti)parallel part first, so rows almost parallel to n_l keep their direction
    x = others - np.where(c < 0, -1.0, 1.0)[..., None] * n_l[:, None, :]
    v = n_l.copy()
    v[:, -1] += np.where(n_l[:, -1] < 0, -1.0, 1.0)  # reflection v: n_l -> -+e_k, no cancellation
    hx = x - (2.0 * np.einsum("pmk,pk->pm", x, v) / np.einsum("pk,pk->p", v, v)[:, None])[..., None] * v[:, None, :]
    # facet rows within _MERGE_ANGLE of an earlier one are replaced by a copy of it, as in
    # _merge_close (the closed forms can lose digits on such pairs next to an almost
    # antiparallel one); each merge moves the facet's measure by at most angle / (2 pi)
    fr = hx[..., :-1]
    fn = _norm(fr)
    fr = fr / np.where(fn > 0, fn, 1.0)[..., None]
    ang = 2.0 * np.arctan2(_norm(fr[:, :, None] - fr[:, None]), _norm(fr[:, :, None] + fr[:, None]))
    alive = fn > 0
    moved = np.zeros(gi.size)
    for j in range(1, mm - 1):
        close = alive[:, :j] & (ang[:, j, :j] < _MERGE_ANGLE) & alive[:, j, None]
        hit = np.flatnonzero(close.any(axis=1))
        if hit.size:
            keeper = np.argmin(np.where(close[hit], ang[hit, j, :j], np.inf), axis=1)
            moved[hit] += ang[hit, j, keeper] / (2 * np.pi)
            fr[hit, j] = fr[hit, keeper]
    flops = g * mm * (3 * k + _T + 2 * mm * k) + gi.size * (mm - 1) * (8 * k + mm * (6 * k + 2 * _T))
    cones = [Cone(f) for f in fr]
    if k - 1 <= 3:
        meas = gaussian_measures(cones, rtol=rtol)
        vals = np.array([m_.value for m_ in meas])
        bnds = np.array([m_.error_bound for m_ in meas])
        flops += sum(m_.flops for m_ in meas) // FLOPSCOPE_SCALE
    else:
        vals, bnds = np.zeros(len(cones)), np.zeros(len(cones))
        for t, cone in enumerate(cones):
            m_ = _measure_rows(cone.normals, rtol, budget - flops)
            vals[t], bnds[t], flops = m_.value, m_.error_bound, flops + m_.flops
    h, err = np.zeros(g), np.zeros(g)
    np.add.at(h, gi, coef[gi, li] * vals)
    np.add.at(err, gi, np.abs(coef[gi, li]) * (bnds + moved + 64 * _EPS))
    return h, err, flops


def _measure_slab(
    a: np.ndarray, r: int, i: int, j: int, delta: float, rtol: float, budget: float, spent: int,
    raw: tuple[np.ndarray, np.ndarray] | None = None,
) -> Measure:
    """Step 0b: the cone lies in the thin wedge between the almost antiparallel planes of
    ``a_i`` and ``a_j`` (``delta = pi - angle(a_i, a_j)``).

    Rotate ``a_j`` back: ``a_j(psi) = -cos(psi) a_i + sin(psi) f`` (``f`` the unit part of ``a_j``
    orthogonal to ``a_i``), ``a_j(0) = -a_i`` (measure 0) and ``a_j(delta) = a_j``. The cone grows
    with ``psi`` through its moving facet, the half-hyperplane ``E + R_+ w(psi)``, ``E = {a_i, f}^perp``,
    ``w = sin(psi) a_i + cos(psi) f``, at rate ``dist(x, E) = g`` (the ``w`` coordinate), so
    ``gamma = (1 / 2 pi) int_0^delta h(psi) d psi``, ``h = sqrt(2 pi) E[g 1_K]`` over the
    ``(r-1)``-dimensional cone ``K = {(y, g) : g >= 0, a_k^E . y + c_k(psi) g >= 0}``,
    ``c_k = a_k . w(psi)`` (:func:`_facet_sums`: measures of ``(r-2)``-dimensional cones, closed
    forms for ``r <= 5``). ``K`` only grows with each ``c_k`` (``g >= 0`` on it), so on each part
    of ``[0, delta]`` ``h`` lies between its values at the smallest and at the largest ``c``
    there: a rigorous bracket of the integral, whose midpoint is returned; the parts are
    refined until its width meets ``rtol``. Everything is relative to ``delta``, so slabs far
    too thin for the ray enumeration's zero tests keep their relative accuracy, except for
    normalising the rows, which may turn the pair by ``_NORMALISE_ANGLE``: that angle times the
    largest ``h / 2 pi`` is added to the bound.
    """
    ai = a[i]
    exact_pair = _raw_pair(ai, a[j], raw)
    spent += 8 * r + _T
    if exact_pair is not None:
        delta, f = exact_pair
        slack = 4 * _EPS * delta  # how far delta may be from the input's angle
        spent += 6 * r + 4 * _T
    else:
        s = a[j] + ai  # small: formed exactly enough, so f keeps its direction
        fv = s - (s @ ai) * ai
        fn = float(np.linalg.norm(fv))
        f = fv / fn if fn > 0 else None
        slack = _NORMALISE_ANGLE + 4 * _EPS * delta
    if delta == 0.0 or f is None:  # exactly antiparallel rows: a hyperplane piece
        return _exact(0.0, spent)
    basis = np.linalg.qr(np.column_stack([ai, f]), mode="complete")[0][:, 2:]
    rest = np.delete(a, [i, j], axis=0)
    y = rest @ basis
    alpha, beta = rest @ f, rest @ ai
    amp = np.hypot(alpha, beta)
    spent += 4 * r * r + 2 * r**3 + rest.shape[0] * (r * (r - 2) + 4 * r + _T)
    top = np.r_[np.zeros(r - 2), 1.0]

    def c_range(p0: np.ndarray, p1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of c_k(psi) = alpha cos(psi) + beta sin(psi) over [p0, p1] (p: (P, 1)): its
        values at the ends, or its extremum where the derivative changes sign inside."""
        c0, c1 = alpha * np.cos(p0) + beta * np.sin(p0), alpha * np.cos(p1) + beta * np.sin(p1)
        d0, d1 = beta * np.cos(p0) - alpha * np.sin(p0), beta * np.cos(p1) - alpha * np.sin(p1)
        pad = 8 * _EPS * amp
        lo = np.where((d0 < 0) & (d1 > 0), -amp, np.minimum(c0, c1)) - pad
        hi = np.where((d0 > 0) & (d1 < 0), amp, np.maximum(c0, c1)) + pad
        return lo, hi

    def k_rows(c: np.ndarray) -> np.ndarray:
        """The rows of K (P, m - 1, r - 1) for coefficients c (P, m - 2)."""
        b = np.concatenate([np.broadcast_to(y, (c.shape[0], *y.shape)), c[..., None]], axis=2)
        return np.concatenate([b, np.broadcast_to(top, (c.shape[0], 1, r - 1))], axis=1)

    def integrate(parts: int) -> tuple[float, float, float, int]:
        """(value, width of the bracket, the fixed part of the bound, flops) with ``parts`` parts."""
        edges = np.linspace(0.0, delta, parts + 1)
        p0, p1 = edges[:-1, None], edges[1:, None].copy()
        p1[-1] += slack  # the last part reaches past delta by its uncertainty
        b = k_rows(np.concatenate(c_range(p0, p1)))  # K at the smallest, then the largest c
        h, e, used = _facet_sums(b, rtol / 4, budget - spent)
        # h only grows with c: where the evaluations say otherwise, their errors are at least that
        e = e + np.tile(np.maximum(h[:parts] - h[parts:], 0.0), 2)
        h_lo = np.maximum(h[:parts] - e[:parts], 0.0)
        h_hi = np.maximum(h[parts:] + e[parts:], 0.0)
        width = np.diff(edges)
        value = float(width @ (h_lo + h_hi)) / (4 * np.pi)
        # the bound: the bracket (shrinks like 1 / parts) and what more parts cannot shrink
        # (rounding in h, the slack of delta)
        rounding = float(width @ (e[:parts] + e[parts:])) / (4 * np.pi)
        total = float(width @ (h_hi - h_lo)) / (4 * np.pi)
        fixed = slack * float(h_hi[-1]) / (2 * np.pi) + 16 * r * _EPS * value
        return value, total + fixed, min(rounding, total) + fixed, used + parts * rest.shape[0] * (4 * _T + 16)

    value, bound, fixed, used = integrate(1)
    spent += used
    _check_budget(spent, budget)
    if value <= bound:  # h at rounding level: K may have empty interior for every psi
        c_max = c_range(np.zeros((1, 1)), np.full((1, 1), delta + slack))[1]
        largest = _measure_rows(k_rows(c_max)[0], rtol, budget - spent)
        spent += largest.flops
        if largest.exact and largest.value == 0.0:  # K(psi) lies in it for every psi: h = 0
            return _exact(0.0, spent)
    target = rtol * value
    cap = _SLAB_PARTS[0] if r <= 5 else _SLAB_PARTS[1]
    if bound > target:  # more parts, as many as the bracket needs (what they cannot shrink aside)
        parts = math.ceil(1.25 * (bound - fixed) / max(target - fixed, fixed, 1e-300))
        parts = parts if parts <= cap else 8  # out of reach (a nearly empty K): a cheap improvement
        if parts > 1 and spent + parts * used <= budget:
            v2, b2, _, used2 = integrate(parts)
            spent += used2
            if b2 < bound:
                value, bound = v2, b2
    return Measure(value=float(min(value, 1.0)), error_bound=float(bound), exact=bool(bound == 0.0), flops=int(spent))


def _measure_numeric(
    a: np.ndarray, r: int, rtol: float, budget: float, spent: int, raw: tuple[np.ndarray, np.ndarray] | None = None
) -> Measure:
    """Pointed cone {a x >= 0} in R^r, r >= 4, a (m, r) distinct unit rows of rank r; ``raw``
    (unit rows, the input rows, zero rows included, they were normalised from) when ``a`` holds
    unprojected rows."""
    i, j, delta, f = _slab_pair(a)
    spent += f
    if delta < _SLAB_ANGLE:
        return _measure_slab(a, r, i, j, delta, rtol, budget, spent, raw)
    rows = rays = None
    snapped = 0.0
    if a.shape[0] == r:
        rows = a[None]
    else:
        ext, tight, f = _extreme_rays(a, budget - spent)
        spent += f
        k = ext.shape[0]
        if k < r:
            return _exact(0.0, spent)
        cen = ext.sum(axis=0)
        cen /= np.linalg.norm(cen)
        spent += k * r + 3 * r + _T + a.shape[0] * (2 * r + 1)
        if (a @ cen).min() <= _INTERIOR_TOL:
            return _exact(0.0, spent)
        # planes the enumeration counted as through a ray although they miss it by more than
        # rounding (nearly degenerate input): the cone used differs from the true one near those
        # rays; charge 10 x (the largest such miss) / (2 pi) per plane, a wedge of that angle
        miss = np.abs(ext @ a.T)
        miss = np.where((miss <= _RAY_TOL) & (miss > 1e-13), miss, 0.0).max(axis=0)
        snapped = 10 * float(miss.sum()) / (2 * np.pi)
        spent += 3 * k * a.shape[0] * r
        facets, f = _facets(tight, r)
        spent += f
        if len(facets) == r:
            rows = a[facets][None]
        else:
            simplices, f = _triangulate(ext, tight, facets, r)
            spent += f
            rays = ext[np.array(simplices, dtype=np.intp)]
            rows, f, ok = _simplex_normals(rays, with_mask=True)
            rays = rays[ok]
            spent += f
    sens = None  # relative error of the measure from rounding in rays computed from normals
    if rays is None:  # simplicial: the rays are the dual basis of the normals
        rays, f, ok, sens = _simplex_normals(rows, with_mask=True, with_sens=True)
        rows = rows[ok]
        spent += f + rows.shape[0] * r * (r + 3)
    if rows.shape[0] == 0:
        return _exact(0.0, spent)
    _check_budget(spent, budget)
    # thin pieces: the ray-chart bracket, when it is cheaper than the orthant quadrature
    npieces = rays.shape[0]
    h, qmax, det = _ray_chart_terms(rays)
    order = _taylor_order(r, qmax, rtol / 4)
    plackett = sum(_orthant_flops(r, r, _de_rule(k)[0].size) for k in _START_LEVELS)
    chart_cost = np.where(order > 0, (order + 1.0) ** (r - 1) * (r * r + 12), np.inf)
    cheap = chart_cost < plackett
    spent += npieces * r * (3 * r * r + 8)
    val, bnd = np.zeros(npieces), np.zeros(npieces)

    def chart(sel: np.ndarray) -> None:
        nonlocal spent
        for k in np.unique(order[sel]):
            part = sel[order[sel] == k]
            v, b, f = _ray_chart(rays[part], h[part], qmax[part], det[part], int(k))
            if sens is not None:  # the chart measures the computed rays' cone
                b = b + 2.0 * sens[part] * np.abs(v)
            val[part], bnd[part], spent = v, b, spent + f
            _check_budget(spent, budget)

    chart(np.nonzero(cheap)[0])
    rest = np.nonzero(~cheap)[0]
    if rest.size:
        flat, f = _flatness(rays[rest])
        val[rest], bnd[rest], spent = _orthant_levels(rows[rest], rtol, budget, spent + f, flat)
        # quadrature pieces held above their share by the rounding floor (thin, tiny pieces):
        # redo them by the ray chart when that is affordable (at most 100 quadratures' cost)
        share = rtol * max(float(val.sum()), 0.0) * np.abs(val[rest]) / max(float(np.abs(val).sum()), 1e-300)
        redo = rest[(bnd[rest] > share) & (chart_cost[rest] < 100 * plackett + 1e5)]
        redo = redo[np.cumsum(chart_cost[redo]) <= budget - spent]
        if redo.size:
            old_val, old_bnd = val[redo].copy(), bnd[redo].copy()
            chart(redo)
            worse = bnd[redo] > old_bnd
            val[redo[worse]], bnd[redo[worse]] = old_val[worse], old_bnd[worse]
    value, bound = float(np.clip(val.sum(), 0.0, 1.0)), float(bnd.sum()) + snapped
    return Measure(value=value, error_bound=bound, exact=False, flops=int(spent))


def gaussian_measure(cone: Cone, *, rtol: float = 1e-6, max_flops: float | None = None) -> Measure:
    """See :func:`_gaussian_measure`; FLOPs reported in symest's cost model."""
    cap = None if max_flops is None else max_flops / FLOPSCOPE_SCALE
    return _scaled(_gaussian_measure(cone, rtol=rtol, max_flops=cap))


def _gaussian_measure(cone: Cone, *, rtol: float = 1e-6, max_flops: float | None = None) -> Measure:
    """Standard-Gaussian measure ``P(X in cone)``, ``X ~ N(0, I_n)``, with an error bound.

    Exact closed forms when the cone, after removing its lineality space, has dimension
    ``r <= 3``; otherwise triangulation into simplicial cones and orthant probabilities by
    Plackett's reduction with tanh-sinh quadrature, refined until
    ``error_bound <= rtol * value`` (see the module docstring for why the bound is sound and
    when the rounding floor prevents reaching ``rtol``). ``max_flops`` caps the cost: if the
    requested accuracy does not fit, the best value is returned with its larger bound; if not
    even a first estimate fits, :class:`symest._errors.BudgetError` is raised.
    """
    if not rtol > 0:
        raise ValueError(f"rtol must be positive, got {rtol}")
    budget = math.inf if max_flops is None else float(max_flops)
    if not budget > 0:
        raise BudgetError(f"max_flops must be positive, got {max_flops}")
    return _measure_rows(cone.normals, rtol, budget)


def _measure_rows(rows: np.ndarray, rtol: float, budget: float) -> Measure:
    """:func:`_gaussian_measure` of ``{x : rows x >= 0}`` (FLOPs unscaled)."""
    a, r, spent, moved = _prepare_rows(rows)
    raw = None
    if moved > 0 and rows.shape[1] >= 4:
        # the rank tolerance dropped more than rounding: if that was an almost antiparallel pair
        # (a slab thinner than 1e-12), the slab route measures the cone itself, unprojected
        u = _unit_rows(rows)
        i, j, delta, f = _slab_pair(u)
        spent += f
        if delta < _SLAB_ANGLE:
            return _measure_slab(u, rows.shape[1], i, j, delta, rtol, budget, spent, (u, rows))
    if r >= 4:
        m = a.shape[0]
        if r == rows.shape[1]:  # not projected: the unit rows are _unit_rows(rows), for _raw_pair
            raw = (a, rows)
        a, merged = _merge_close(_dedupe(a))
        spent += m * m * (4 * r + 3 * _T + 4)
        if merged > 0:  # merging may lower the rank
            a, r, f, again = _reduce(a)
            spent += f
            moved += merged + again
    return _loosen(_measure_reduced(a, r, rtol, budget, spent, raw), moved)


def _measure_reduced(
    a: np.ndarray, r: int, rtol: float, budget: float, spent: int, raw: tuple[np.ndarray, np.ndarray] | None = None
) -> Measure:
    """Dispatch on the reduced dimension r (a: unit rows of rank r in R^r)."""
    m = a.shape[0]
    if r == 0:
        _check_budget(spent, budget)
        return _exact(1.0, spent)
    if r == 1:
        spent += m
        _check_budget(spent, budget)
        return _exact(_measure1(a), spent)
    if r == 2:
        spent += _measure2_flops(m)
        _check_budget(spent, budget)
        return _exact(float(_measure2_batch(a[None])[0]), spent)
    if r == 3:
        spent += _measure3_flops(m)
        _check_budget(spent, budget)
        return _exact(float(_measure3(a[None])[0]), spent)
    _check_budget(spent, budget)
    return _measure_numeric(a, r, rtol, budget, spent, raw)


def gaussian_measures(cones: Sequence[Cone], **kw: float | None) -> list[Measure]:
    """:func:`gaussian_measure` of each cone (same keywords; ``max_flops`` applies per cone).

    Cones of reduced dimension ``r <= 3`` are grouped by ``(r, m)`` and computed vectorised;
    the others one by one.
    """
    rtol = kw.pop("rtol", 1e-6)
    max_flops = kw.pop("max_flops", None)
    if kw:
        raise TypeError(f"unexpected keyword arguments {sorted(kw)}")
    budget = math.inf if max_flops is None else float(max_flops)
    out: list[Measure | None] = [None] * len(cones)
    groups: dict[tuple[int, int], list[tuple[int, np.ndarray, int, float]]] = {}
    # vectorised preparation of cones sharing a shape
    by_shape: dict[tuple[int, int], list[int]] = {}
    for idx, cone in enumerate(cones):
        by_shape.setdefault(cone.normals.shape, []).append(idx)
    for (m0, n), idxs in by_shape.items():
        stack = np.stack([cones[i].normals for i in idxs])
        scale = np.abs(stack).max(axis=2) if m0 else np.zeros((len(idxs), 0))
        if m0 == 0 or (scale == 0).any() or n > 3:
            for i in idxs:
                if n > 3:
                    out[i] = _gaussian_measure(cones[i], rtol=rtol, max_flops=max_flops)
                    continue
                a, r, spent, moved = _prepare(cones[i])
                groups.setdefault((r, a.shape[0]), []).append((i, a, spent, moved))
            continue
        b = stack / scale[..., None]
        b = b / np.sqrt(np.einsum("bij,bij->bi", b, b))[..., None]
        s = np.linalg.svd(b, compute_uv=False)
        ranks = (s > _RANK_RTOL * s[:, :1]).sum(axis=1)
        base = _clean_flops(m0, n) + _svd_flops(m0, n) + s.shape[1]
        for j, i in enumerate(idxs):
            if ranks[j] == n:
                groups.setdefault((n, m0), []).append((i, b[j], base, 0.0))
            else:
                a, r, spent, moved = _prepare(cones[i])
                groups.setdefault((r, a.shape[0]), []).append((i, a, spent, moved))
    for (r, m), items in groups.items():
        if r == 0:
            vals, extra = np.ones(len(items)), 0
        elif r == 1:
            vals, extra = np.array([_measure1(a) for _, a, _, _ in items]), m
        elif r == 2:
            vals, extra = _measure2_batch(np.stack([a for _, a, _, _ in items])), _measure2_flops(m)
        elif r == 3:
            vals, extra = _measure3(np.stack([a for _, a, _, _ in items])), _measure3_flops(m)
        else:  # pragma: no cover - r <= n <= 3 here
            raise AssertionError(r)
        for (i, _, spent, moved), v in zip(items, vals, strict=True):
            _check_budget(spent + extra, budget)
            out[i] = _loosen(_exact(float(v), spent + extra), moved)
    return [_scaled(o) for o in out if o is not None]
