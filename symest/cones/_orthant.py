"""Orthant probabilities P(U X >= 0) by Plackett's reduction and tanh-sinh quadrature, refined
level by level with a posteriori error bounds."""

from __future__ import annotations

import functools
import math

import numpy as np

from symest._errors import BudgetError
from symest.cones._constants import _CHUNK_ELEMS, _DE_T, _DE_TAIL, _EPS, _MAX_LEVEL, _START_LEVELS
from symest.cones._costs import _T, _svd_flops
from symest.cones._prepare import _norm


@functools.lru_cache(maxsize=16)
def _de_rule(level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tanh-sinh nodes x in (0, 1), complements 1 - x, weights; step h = 2^-(level/2 + 1), |t| <= ~3.5."""
    h = 2.0 ** -(level / 2 + 1)
    j = math.ceil(_DE_T / h - 1e-9)
    t = np.arange(-j, j + 1) * h
    u = np.pi * np.sinh(t)
    x = 1.0 / (1.0 + np.exp(-u))
    c = 1.0 / (1.0 + np.exp(u))
    w = h * np.pi * np.cosh(t) * x * c
    for arr in (x, c, w):
        arr.setflags(write=False)
    return x, c, w


def _p2(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """P(u.X >= 0, v.X >= 0) for unit u, v: (pi - angle(u, v)) / (2 pi), accurate at both ends."""
    return np.arctan2(_norm(u + v), _norm(u - v)) / np.pi


def _orthant(u: np.ndarray, level: int, acc: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Orthant probabilities P(U_b X >= 0) for a batch U of shape (B, d, D) (rows need not be unit).

    Returns (values, scales): a scale is the sum of the absolute values of all terms added on the
    way (rounding errors are a small multiple of eps times it). ``acc[0]`` accumulates the
    FLOPs spent, computed from the array sizes of each step.
    """
    bsz, d, dd = u.shape
    if d == 0:
        return np.ones(bsz), np.ones(bsz)
    acc[0] += bsz * _base_flops(d, dd)
    nrm = _norm(u)
    u = u / np.where(nrm > 0, nrm, 1.0)[..., None]
    if d == 1:
        return np.full(bsz, 0.5), np.full(bsz, 0.5)
    if d == 2:
        p = _p2(u[:, 0], u[:, 1])
        return p, p
    if d == 3:
        half = 0.5 * (_p2(u[:, 0], u[:, 1]) + _p2(u[:, 0], u[:, 2]) + _p2(u[:, 1], u[:, 2]))
        return half - 0.25, half + 0.25
    q = _de_rule(level)[0].size
    chunk = max(1, _CHUNK_ELEMS // ((d - 1) * q * (d - 2) * (d - 1)))
    if bsz > chunk:
        parts = [_orthant_rec(u[s : s + chunk], level, acc) for s in range(0, bsz, chunk)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _orthant_rec(u, level, acc)


@functools.lru_cache(maxsize=32)
def _rest_index(d: int) -> np.ndarray:
    last = d - 1
    return np.array([[k for k in range(last) if k != i] for i in range(last)], dtype=np.intp)


def _coords(v: np.ndarray) -> np.ndarray:
    """Rows (N, k, D) re-expressed isometrically in R^k: the rows of R^T where v^T = Q R."""
    k = v.shape[1]
    if k == 1:
        return _norm(v)[:, :, None]
    if k == 2:  # two-column Gram–Schmidt
        r1 = _norm(v[:, 0])
        q1 = v[:, 0] / np.where(r1 > 0, r1, 1.0)[:, None]
        r12 = np.einsum("nd,nd->n", v[:, 1], q1)
        r22 = _norm(v[:, 1] - r12[:, None] * q1)
        out = np.zeros((v.shape[0], 2, 2))
        out[:, 0, 0], out[:, 1, 0], out[:, 1, 1] = r1, r12, r22
        return out
    return np.swapaxes(np.linalg.qr(np.swapaxes(v, 1, 2), mode="r"), 1, 2)


def _project_off(v: np.ndarray, u: np.ndarray, c: np.ndarray, careful: bool) -> np.ndarray:
    """Rows ``v`` (N, k, D) projected off the unit vectors ``u`` (N, D); ``c = v . u`` (N, k).

    ``careful`` (the caller's test: some row within about 2.5 degrees of parallel or
    antiparallel to its ``u``): evaluated as ``s - (s . u) u`` with ``s = v - sign(c) |v| u``, the same vector
    (``s - v`` is along ``u``), but the difference ``s`` of nearly equal numbers is formed first,
    so the small result keeps its direction to a few eps, where ``v - c u`` is off by
    ``eps / sin(angle)`` in angle. That error is fixed per pair (the same at every quadrature
    level, so the level differences do not see it) and lands in O(1) terms that cancel to a tiny
    measure: an almost antiparallel pair of normals at angle ``pi - 5e-9`` once gave 3.577e-10
    for 3.772e-10 with a bound of 7e-14. Otherwise the plain form loses at most a factor 23,
    inside the rounding floor ``16 d eps S kappa`` (``d >= 4``).
    """
    if not careful:
        return v - c[..., None] * u[:, None, :]
    s = v - np.copysign(_norm(v), c)[..., None] * u[:, None, :]
    return s - np.einsum("nkd,nd->nk", s, u)[..., None] * u[:, None, :]


def _leaves(up: np.ndarray, hk: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P_k and its scale for the rows W_r = [up_r, hk_r tau] (k = 2, 3), for every node at once.

    up (N, k, k), hk (N, k), tau (N, q); returns arrays (N * q,). Same formulas as _orthant.
    """
    k = up.shape[1]
    ht = hk[:, :, None] * tau[:, None, :]  # (N, k, q): the last coordinate of each row
    inv = 1.0 / np.sqrt(np.einsum("nkc,nkc->nk", up, up)[:, :, None] + ht * ht)  # (N, k, q)
    ht = ht * inv
    p2 = []
    for r, t in ((0, 1), (0, 2), (1, 2))[: 1 if k == 2 else 3]:
        a, b = up[:, r, :, None] * inv[:, None, r, :], up[:, t, :, None] * inv[:, None, t, :]  # (N, k, q)
        plus = np.sqrt(((a + b) ** 2).sum(axis=1) + (ht[:, r] + ht[:, t]) ** 2)
        minus = np.sqrt(((a - b) ** 2).sum(axis=1) + (ht[:, r] - ht[:, t]) ** 2)
        p2.append(np.arctan2(plus, minus) / np.pi)
    if k == 2:
        return p2[0].ravel(), p2[0].ravel()
    half = 0.5 * (p2[0] + p2[1] + p2[2])
    return (half - 0.25).ravel(), (half + 0.25).ravel()


def _leaf_flops(k: int) -> int:
    """Per node: the k rows' norms and the closed form of _leaves."""
    pairs = 1 if k == 2 else 3
    return k * (2 * k + 3 + _T) + pairs * (2 * k + 6 * (k + 1) + 2 * _T + _T + 1) + (4 if k == 3 else 0)


def _orthant_rec(u: np.ndarray, level: int, acc: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Plackett step for unit rows u (B, d, D), d >= 4 (see the module docstring)."""
    bsz, d, dd = u.shape
    last = d - 1
    x, c, w = _de_rule(level)
    head, head_scale = _orthant(u[:, :last], level, acc)
    head, head_scale = 0.5 * head, 0.5 * head_scale
    ui = u[:, :last]  # (B, L, D)
    ul = u[:, last]  # (B, D)
    dm = _norm(ui - ul[:, None, :])
    dp = _norm(ui + ul[:, None, :])
    theta = 2.0 * np.arctan2(dm, dp)  # angle(u_i, u_L)
    theta_c = 2.0 * np.arctan2(dp, dm)  # pi - angle
    psi1 = 0.5 * (theta_c - theta)  # asin(rho_iL), accurate
    # pairs with |asin rho_iL| <= 8 eps contribute at most 8 eps / (2 pi) (covered by the rounding
    # floor): skip them; keep the others, flattened to (N,)
    bi, ii = np.nonzero(np.abs(psi1) > 8 * _EPS)
    acc[0] += bsz * (last * _angle_flops(dd) + 1)
    if bi.size == 0:
        return head, head_scale
    psi1 = psi1[bi, ii]
    thp = np.minimum(theta, theta_c)[bi, ii]  # pi/2 - |psi1|, accurate
    ui, ul = u[bi, ii], u[bi, last]  # (N, D)
    rho = np.einsum("nd,nd->n", ui, ul)
    ur = u[bi[:, None], _rest_index(d)[ii]]  # (N, d-2, D)
    # projections off u_i and e_L by _project_off: rows almost parallel or antiparallel to the
    # direction projected out (an almost antiparallel pair of normals) keep a direction
    # accurate to a few eps, where v - (v.u) u would leave a rounding error of eps / sin(angle)
    ck = np.einsum("nkd,nd->nk", ur, ui)
    c_max = float(np.abs(ck).max())
    ut = _project_off(ur, ui, ck, c_max > 0.999)
    lt = _project_off(ul[:, None, :], ui, rho[:, None], float(thp.min()) < 0.0447)[:, 0]  # |rho| > 0.999
    ln = _norm(lt)
    el = lt / np.where(ln > 0, ln, 1.0)[:, None]
    hk = np.einsum("nkd,nd->nk", ut, el)  # (N, d-2)
    # careful unless every |hk| is well below |ut| (|ut|^2 = 1 - ck^2, to rounding): a quick
    # test against the smallest |ut| first, then row by row
    careful = float(np.abs(hk).max()) > 0.999 * math.sqrt(max(1.0 - c_max * c_max - 4 * _EPS, 0.0))
    careful = careful and bool((hk * hk > 0.998 * (1.0 - ck * ck) - 4 * _EPS).any())
    up = _coords(_project_off(ut, el, hk, careful))  # (N, d-2, d-2)
    ps = psi1[:, None]
    sp = np.sin(ps)
    s = np.sin(ps * x) / sp  # (N, q)
    oms = 2.0 * np.cos(0.5 * ps * (1.0 + x)) * np.sin(0.5 * ps * c) / sp  # 1 - s
    cosx = np.sin(thp[:, None] + np.abs(ps) * c)  # cos(psi) = cos(psi1 x)
    tau = np.sqrt(np.maximum(oms * (1.0 + s), 0.0)) / np.where(cosx > 0, cosx, 1.0)
    n, q, k = bi.size, x.size, d - 2
    acc[0] += n * _pair_flops(d, dd, q)
    if k <= 3:  # closed-form leaves, evaluated without building the rows W
        acc[0] += n * q * _leaf_flops(k)
        vals, scales = _leaves(up, hk, tau)
    else:
        wrows = np.empty((n, q, k, k + 1))
        wrows[..., :k] = up[:, None, :, :]
        wrows[..., k] = hk[:, None, :] * tau[..., None]
        vals, scales = _orthant(wrows.reshape(n * q, k, k + 1), level, acc)
    contrib = np.zeros(bsz)
    np.add.at(contrib, bi, psi1 * (vals.reshape(n, q) @ w))
    cscale = np.zeros(bsz)
    np.add.at(cscale, bi, np.abs(psi1) * (scales.reshape(n, q) @ w))
    return head + contrib / (2 * np.pi), head_scale + cscale / (2 * np.pi)


def _base_flops(d: int, dd: int) -> int:
    """One matrix of d rows in R^dd: normalising, plus the closed form when d <= 3."""
    f = d * (3 * dd + _T)
    if d == 2:
        f += 6 * dd + 3 * _T + 1
    elif d == 3:
        f += 3 * (6 * dd + 3 * _T + 1) + 4
    return f


def _angle_flops(dd: int) -> int:
    """Angles and asin(rho) between one pair of rows in R^dd."""
    return 6 * dd + 2 * _T + 6


def _pair_flops(d: int, dd: int, q: int) -> int:
    """One nonzero pair of a Plackett step (without the recursive orthant calls)."""
    k = d - 2
    f = 2 * dd + 4 * dd * k + 2 * dd + (2 * dd + _T) + dd + 2 * dd * k + 2 * dd * k  # projections
    f += 2 * dd * k * k if k >= 3 else (3 * dd + 2 * _T + 4 if k == 2 else dd + _T)  # coordinates
    f += _T + q * (4 * _T + 14 + k)  # s, 1 - s, cos psi, tau, last column
    f += 2 * q + 3  # quadrature and accumulation
    return f


@functools.lru_cache(maxsize=512)
def _orthant_flops(d: int, dd: int, q: int) -> int:
    """FLOPs of one orthant probability of d rows in R^dd, q nodes, every pair nonzero (an upper bound)."""
    f = _base_flops(d, dd)
    if d <= 3:
        return f
    last = d - 1
    f += _orthant_flops(last, dd, q) + last * _angle_flops(dd) + 1
    leaf = _leaf_flops(d - 2) if d - 2 <= 3 else _orthant_flops(d - 2, d - 1, q)
    f += last * (_pair_flops(d, dd, q) + q * leaf)
    return f


def _bound(d_new: np.ndarray, d_old: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Error bound of level k from the changes d_new = |V_k - V_(k-1)|, d_old = |V_(k-1) - V_(k-2)|.

    The larger of (i) ``d_new`` (``d_new * rho / (1 - rho)``, ``rho = d_new / d_old``, if the
    changes shrink by less than half per level, ``d_new + d_old`` if they do not shrink), and
    (ii) the error one more level should leave if the digits grow in proportion to 1/h,
    ``scale * (d_old / scale)^sqrt(2)`` (``d_old`` standing for the error of level k-2). (ii)
    guards against two consecutive levels agreeing by coincidence (the trapezoid error
    oscillates in h).
    """
    rho = d_new / np.where(d_old > 0, d_old, 1.0)
    rich = d_new * rho / np.where(rho < 1, 1.0 - rho, 1.0)
    first = np.where(rho <= 0.5, d_new, np.where(rho < 1, rich, d_new + d_old))
    sc = np.where(scale > 0, scale, 1.0)
    return np.maximum(first, sc * np.minimum(d_old / sc, 1.0) ** math.sqrt(2))


def _flatness(rays: np.ndarray) -> tuple[np.ndarray, int]:
    """Condition number of [v_1, unit(v_2 - v_1), ..., unit(v_d - v_1)] for unit rays (S, d, d).

    Large for flat pieces (a ray close to the hyperplane of the others), which amplify the
    rounding of the orthant recursion, and moderate for thin but round cones (whose normals are
    ill-conditioned without any such amplification).
    """
    nsimp, d, _ = rays.shape
    e = rays.copy()
    e[:, 1:] -= rays[:, :1]
    e[:, 1:] /= np.maximum(_norm(e[:, 1:]), 1e-300)[..., None]
    sv = np.linalg.svd(e, compute_uv=False)
    return sv[:, 0] / np.maximum(sv[:, -1], 1e-300), nsimp * (_svd_flops(d, d) + 4 * d * d)


def _orthant_levels(
    rows: np.ndarray, rtol: float, budget: float, spent: int, flat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Orthant probabilities of the simplicial pieces ``rows`` (S, d, D) and their error bounds.

    Levels 1, 2, 3 are computed for every piece; then pieces whose bound exceeds their share of
    ``rtol * value`` are raised one level at a time. Raises BudgetError when the first three
    levels do not fit in ``budget - spent``.
    """
    npieces, d, dd = rows.shape

    def cost(level: int, count: int) -> int:
        return count * _orthant_flops(d, dd, _de_rule(level)[0].size)

    first = sum(cost(k, npieces) for k in _START_LEVELS)
    if spent + first > budget:
        raise BudgetError(f"cone measure needs more than max_flops={budget:.3g} (orthant quadrature)")
    acc = [0]
    v0, v1, (val, scale) = (_orthant(rows, k, acc) for k in _START_LEVELS)
    v0, v1 = v0[0], v1[0]
    d_old, diff = np.abs(v1 - v0), np.abs(val - v1)
    err = _bound(diff, d_old, scale)
    level = np.full(npieces, _START_LEVELS[-1])
    def floor_of(sc: np.ndarray, sel: slice | np.ndarray = slice(None)) -> np.ndarray:
        return 16 * d * _EPS * sc * flat[sel] + _DE_TAIL * d


    floor = floor_of(scale)
    while True:
        total = float(val.sum())
        target = rtol * abs(total)
        if float((err + floor).sum()) <= target:
            break
        share = target * np.abs(val) / total if total > 0 else np.full(npieces, target / npieces)
        # worth refining: the quadrature part is above both what this piece may spend and the
        # rounding floor (below the floor, more nodes cannot help)
        todo = np.nonzero((err > np.maximum(share - floor, floor)) & (level < _MAX_LEVEL))[0]
        if todo.size == 0:
            break
        # refine the worst pieces first, as many as the budget allows
        todo = todo[np.argsort(-err[todo])]
        nxt = level[todo] + 1
        costs = np.array([cost(int(k), 1) for k in nxt])
        afford = np.cumsum(costs) <= budget - spent - acc[0]
        todo, nxt = todo[afford], nxt[afford]
        if todo.size == 0:
            break
        for k in np.unique(nxt):
            sel = todo[nxt == k]
            new, sc = _orthant(rows[sel], int(k), acc)
            floor[sel] = floor_of(sc, sel)
            dnew = np.abs(new - val[sel])
            err[sel] = _bound(dnew, diff[sel], sc)
            diff[sel] = dnew
            val[sel] = new
            level[sel] = k
    return val, err + floor, spent + acc[0] + 4 * npieces * (level.max() + 1)
