"""Thin simplicial cones: the ray-chart integral with a rigorous Taylor bracket."""

from __future__ import annotations

import functools
import math

import numpy as np

from symest.cones._constants import _EPS, _MAX_TAYLOR
from symest.cones._costs import _T
from symest.cones._prepare import _norm


@functools.lru_cache(maxsize=32)
def _simplex_rule(d: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Conical-product Gauss–Jacobi rule on the simplex {t >= 0, sum t = 1} (Lebesgue measure of
    the first d - 1 coordinates, total 1/(d-1)!): points t (d, p^(d-1)) and positive weights.
    Exact for polynomials of total degree <= 2p - 1 (Duffy's collapsed coordinates, the Jacobian
    (1 - u_i)^(d-2-i) taken as the Jacobi weight of coordinate i)."""
    from scipy.special import roots_jacobi

    us, ws = [], []
    for i in range(d - 1):
        alpha = d - 2 - i
        x, w = roots_jacobi(p, alpha, 0.0)
        us.append((1 + x) / 2)
        ws.append(w / 2.0 ** (alpha + 1))
    grid = [g.ravel() for g in np.meshgrid(*us, indexing="ij")]
    wts = functools.reduce(np.multiply, [g.ravel() for g in np.meshgrid(*ws, indexing="ij")])
    t = np.empty((d, grid[0].size))
    rem = np.ones_like(grid[0])
    for i in range(d - 1):
        t[i] = rem * grid[i]
        rem = rem * (1 - grid[i])
    t[d - 1] = rem
    t.setflags(write=False)
    wts.setflags(write=False)
    return t, wts


def _ray_chart_terms(rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For unit rays (S, d, d): H = 1 - v_i.v_j (from differences), Qmax >= max Q on the simplex
    (0 where the rays are not in an open hemisphere about their mean: not thin), |det V|."""
    dv = rays[:, :, None, :] - rays[:, None, :, :]
    h = 0.5 * np.einsum("sijk,sijk->sij", dv, dv)
    u = rays.sum(axis=1)
    u /= _norm(u)[:, None]
    gap = 0.5 * np.einsum("sik,sik->si", rays - u[:, None, :], rays - u[:, None, :]).max(axis=1)  # 1 - min u.v_i
    qmax = np.where(gap < 1.0, gap * (2.0 - gap), 1.0)  # 1 - (min u.v_i)^2
    edges = rays.copy()
    edges[:, 1:] -= rays[:, :1]
    det = np.abs(np.linalg.det(edges))  # det[v1, v2 - v1, ...] = det V, well scaled for thin cones
    return h, qmax, det


def _taylor_order(d: int, qmax: np.ndarray, rtol: float) -> np.ndarray:
    """Smallest K (0 where none <= _MAX_TAYLOR) with c_K Qmax^K (1 - Qmax)^(-d/2 - K) <= rtol."""
    a = d / 2
    order = np.zeros(qmax.shape, dtype=int)
    for k in range(_MAX_TAYLOR, 0, -1):
        ck = math.exp(math.lgamma(a + k) - math.lgamma(a) - math.lgamma(k + 1))
        with np.errstate(divide="ignore", over="ignore"):
            rel = ck * qmax**k * (1.0 - qmax) ** (-a - k)
        order = np.where(rel <= rtol, k, order)
    return order


def _ray_chart(
    rays: np.ndarray, h: np.ndarray, qmax: np.ndarray, det: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Measures of thin simplicial cones (unit rays (S, d, d)) with rigorous bounds, Taylor order k.

    gamma = |det V| Gamma(d/2) / (2 pi^(d/2)) int_simplex (1 - Q(t))^(-d/2) dt, Q = t^T H t >= 0.
    With T_k the Taylor polynomial of degree k - 1 in Q and c_k its next coefficient,
    0 <= f - T_k <= c_k Q^k (1 - Qmax)^(-d/2-k). The rule (degree 2k + 1, positive weights)
    integrates T_k and Q^k exactly, so both the integral and the rule's value lie in
    [rule(T_k), rule(T_k) + c_k (1 - Qmax)^(-d/2-k) rule(Q^k)]: the rule's value is returned with
    that width (plus 16 d eps relative for rounding) as its bound.
    """
    nsimp, d, _ = rays.shape
    a = d / 2
    t, w = _simplex_rule(d, k + 1)
    q = np.einsum("sip,ip->sp", h @ t, t)  # (S, P)
    val = (1.0 - q) ** (-a) @ w
    ck = math.exp(math.lgamma(a + k) - math.lgamma(a) - math.lgamma(k + 1))
    width = ck * (1.0 - qmax) ** (-a - k) * (q**k @ w)
    const = math.gamma(a) / (2 * math.pi**a) * det
    value = const * val
    npts = t.shape[1]
    flops = nsimp * (npts * (d * d + 2 * d + 3 * _T + 4 + k) + 2 * d**3 + 4 * d * d)
    return value, const * width + 16 * d * _EPS * value, flops
