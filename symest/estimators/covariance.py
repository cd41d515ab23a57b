"""Covariance (moment) propagation: a Gaussian closure of the RNN, case by case.

Method ("covariance", kind "approximate"). For each *case* (a region of input space fixed by the
task's target, see below) the input distribution restricted to the case is replaced by the
Gaussian with the case's exact mean and covariance. The joint law of (x, h_t) is then carried
as a Gaussian through time:

1. z_t = W_hh h_{t-1} + W_hi x_t (+ b) is linear, so its mean, covariance and cross-covariance
   with x follow exactly from the carried Gaussian.
2. h_t = ReLU(z_t) gets its *exact* first and second moments under that Gaussian: E[ReLU z_i]
   and E[ReLU(z_i)^2] in closed form, E[ReLU z_i ReLU z_j] by the bivariate formula of
   docs/reference (``relu_moments``; it needs the bivariate normal cdf, computed by Genz's
   method with a fixed Gauss-Legendre rule, ``bvn_cdf``), and Cov(x_k, ReLU z_i) =
   Cov(x_k, z_i) Phi(mu_i / s_i) by Stein's lemma.
3. (x, h_t) is treated as Gaussian again (the only approximation, made once per step; at step 0
   with an exactly Gaussian input the moments of h_0 are exact).

The outputs y = W_oh h_{n-1} (+ c) are then jointly Gaussian with x (call this Gaussian G),
and each case is scored:

* rank tasks (2nd_argmax, argmax, argmedian), the case fixing the target position j:
  - ``scoring="conditional"`` (default): P_G(y_j > y_m for all m != j | x in R) where R is the
    case's region (for a fine case the orthant x_a > x_j > x_b, a above, b below; a coarse
    case's region is the union of those orthants). G is only an approximation of the case's
    law, which lives on R; conditioning G on R puts that known support back. This is exact
    when the logit differences are linear in x on the case (handcrafted_2nd_argmax_2: 1.0)
    and was never worse than "plain" on the models tried.
  - ``scoring="plain"``: P_G(y_j > y_m for all m != j), the brief's original rule.
  Orthant probabilities (``orthant_prob``): exact closed forms for one or two differences
  (Phi, and the bivariate cdf), else the Mendell-Elston sequential-conditioning approximation
  with greedy smallest-probability-first ordering: within 0.01 of Genz's QMC on 9-dimensional
  logit-difference Gaussians and 0.02 on zero-mean trivariate orthants (the tests check
  both), ~0.02 on handcrafted_3's near-singular 4-dimensional ones; small next to the
  closure's error.
* median: the case makes the target linear (x_j for odd n, (x_a + x_b)/2 for even n), so the
  squared error e = y - target has E[e^2] = mean^2 + variance under G;
  RMSE = sqrt(sum over cases of weight x E[e^2]).

Cases and their moments (``case_table``). "fine" cases fix every rank relation the target
needs: for a rank task with r inputs above the target, a case is (target j, the set S of the
r positions above it); given x_j = v the others are independent N(0,1) truncated above or below
v. For 2nd_argmax this is the ordered pair (argmax, 2nd argmax): n(n-1) cases of weight
1/(n(n-1)). "coarse" cases fix only the target position(s), the others being an exchangeable
mixture of "above" and "below" (n cases for rank tasks); they cost n - 1 times less but are
much worse (errors 0.3-0.5 on trained models, whose computation depends on the whole order).
For even-length median the case is an ordered pair of adjacent middle positions (a
two-dimensional block). The exact case means and covariances are one- or two-dimensional
integrals over the block values (products of truncated-normal moments), computed once per
(n, task) by deterministic quadrature (trapezoid rule on a 0.01 grid over [-10, 10],
Gauss-Legendre in the gap of a 2-block) to ~1e-10; they do not depend on the weights and are
not billed (a table of properties of N(0, I), like a table of normal quantiles).
``cases="auto"`` uses fine cases when there are at most 128, else coarse.

FLOPs: the whole per-model computation (propagation and scoring, batched over cases) is
written once against an array namespace ``xp`` and billed by running it under
``flopscope.numpy`` (:func:`symest.flops.count`; float64, so billed at twice float32). Every
operation is batched over cases, so the count is exactly C times the count for one case
(measured once per shape and cached). Per case: about 3.8e4 FLOPs for M_{4,3} and 2.6e6 for
M_{16,10} (2.3e8 for its 90 fine cases), dominated by the bivariate cdf (about 1.4e3 FLOPs per
neuron pair per step at float64).

No standard error is reported: the closure error is not controlled. Observed against
sampling: 0 (handcrafted_2, conditional), 0.005-0.07 on random small and 16x10 models,
0.05-0.15 on partly trained 2nd_argmax models, 0.15-0.24 on handcrafted_3 and handcrafted_10,
whose exact max/ReLU tricks the closure smears out.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from typing import Any

import numpy as np

from symest._errors import BudgetError, MethodError
from symest.estimate import Estimate
from symest.estimators import register
from symest.graph import rank_above
from symest.model import Model

TINY = 1e-300       # variance floor (keeps divisions finite for deterministic neurons)
A_CLIP = 38.0       # |mu / sigma| beyond which Phi is 0 or 1 to double precision
R_EPS = 1e-15       # correlations are clipped to [-1 + eps, 1 - eps]
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
MAX_FINE_CASES = 128


# -------------------------------------------------------------------------------------------
# special functions against an array namespace
# -------------------------------------------------------------------------------------------
def _ndtr(xp: Any) -> Any:
    """The standard normal cdf for namespace ``xp`` (numpy/scipy, flopscope, or jax)."""
    name = getattr(xp, "__name__", "")
    if name.startswith("flopscope"):
        import flopscope

        return flopscope.stats.norm.cdf
    if name.startswith("jax"):
        from jax.scipy.special import ndtr

        return ndtr
    from scipy.special import ndtr

    return ndtr


def _phi(xp: Any, x: Any) -> Any:
    return xp.exp(-0.5 * x * x) * INV_SQRT_2PI


@functools.lru_cache(maxsize=8)
def _gauss_legendre(m: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x, w = np.polynomial.legendre.leggauss(m)
    return tuple(float(v) for v in x), tuple(float(v) for v in w)


def bvn_cdf(xp: Any, a: Any, b: Any, r: Any, nodes: int = 6, pa: Any = None, pb: Any = None) -> Any:
    """Phi2(a, b; r) = P(X < a, Y < b) for standard bivariate normal (X, Y) with correlation r.

    Genz's BVND (Genz 2004, "Numerical computation of rectangular bivariate and trivariate
    normal and t probabilities"), vectorised: for |r| < 0.925 a ``nodes``-point Gauss-Legendre
    rule on Sheppard's arcsine integral; above it, the Drezner-Wesolowsky expansion plus a
    correction integral with max(3, nodes // 2) points. Both branches are evaluated everywhere
    on clipped inputs and selected with ``where`` (so the cost is shape-only). Max abs error
    (against mpmath on 600 random points, 100 of them with |r| within 1e-12..0.1 of 1, and
    against the 20-node rule on a 121 x 121 x 201 grid of a, b in [-6, 6], |r| < 0.999):
    1e-6 (6 nodes, worst near |r| = 0.92), 3e-8 (8), 1e-9 (10), 2e-14 (20); exact at r = +-1.
    ``pa``/``pb`` may pass Phi(a), Phi(b) when the caller has them (saves four normal cdfs).
    """
    ndtr = _ndtr(xp)
    xh, wh = _gauss_legendre(max(3, nodes // 2))
    if pa is None:
        pa = ndtr(a)
    if pb is None:
        pb = ndtr(b)
    xs, ws = _gauss_legendre(nodes)
    h, k = -a, -b  # Genz computes P(X > h, Y > k)
    hk = h * k
    # |r| < 0.925: Phi(-h) Phi(-k) + (1/2pi) int_0^{asin r} exp(-(h^2 + k^2 - 2 h k sin t)/(2 cos^2 t)) dt
    rl = xp.clip(r, -0.925, 0.925)
    asr = xp.arcsin(rl)
    hs = (h * h + k * k) * 0.5
    t_lo = np.array([(x + 1.0) * 0.5 for x in xs])                   # nodes on a trailing axis
    sn = xp.sin(asr[..., None] * t_lo)
    f_lo = xp.exp((sn * hk[..., None] - hs[..., None]) / (1.0 - sn * sn))
    low = (f_lo * np.array(ws)).sum(axis=-1) * asr * (1.0 / (4.0 * math.pi)) + pa * pb
    # |r| >= 0.925
    neg = r < 0
    kk = xp.where(neg, -k, k)
    hkk = xp.where(neg, -hk, hk)
    rh = xp.clip(xp.abs(r), 0.925, 1.0 - R_EPS)
    as_ = (1.0 - rh) * (1.0 + rh)
    A = xp.sqrt(as_)
    bs = (h - kk) * (h - kk)
    c = (4.0 - hkk) * 0.125
    d = (12.0 - hkk) * 0.0625
    hi = A * xp.exp(-(bs / as_ + hkk) * 0.5) * (1.0 - c * (bs - as_) * (1.0 - d * bs * 0.2) * (1.0 / 3.0)
                                               + c * d * as_ * as_ * 0.2)
    B = xp.sqrt(bs)
    corr = (xp.exp(-xp.maximum(hkk, -160.0) * 0.5) * math.sqrt(2.0 * math.pi) * ndtr(-B / A) * B
            * (1.0 - c * bs * (1.0 - d * bs * 0.2) * (1.0 / 3.0)))
    hi = hi - xp.where(hkk > -160.0, corr, 0.0)
    xsq = (as_ * 0.25)[..., None] * np.array([(x + 1.0) ** 2 for x in xh])
    rs = xp.sqrt(1.0 - xsq)
    bs_, hk_, c_, d_ = bs[..., None], hkk[..., None], c[..., None], d[..., None]
    f_hi = (xp.exp(-bs_ / (2.0 * xsq) - hk_ / (1.0 + rs)) / rs
            - xp.exp(-(bs_ / xsq + hk_) * 0.5) * (1.0 + c_ * xsq * (1.0 + d_ * xsq)))
    hi = (hi + (A * 0.5) * (f_hi * np.array(wh)).sum(axis=-1)) * (-1.0 / (2.0 * math.pi))
    p_k = xp.where(neg, 1.0 - pb, pb)  # Phi(-kk); Phi(-h) = pa
    pos = hi + xp.minimum(pa, p_k)      # Phi(-max(h, kk))
    negv = -hi + xp.where(kk > h, pa - p_k, 0.0)
    high = xp.where(neg, negv, pos)
    return xp.where(xp.abs(r) < 0.925, low, high)


def relu_pair_moment(xp: Any, mx: Any, my: Any, sx: Any, sy: Any, r: Any, nodes: int = 6,
                     pre: tuple[Any, ...] | None = None) -> Any:
    """E[ReLU X ReLU Y] for bivariate normal (X, Y) (means mx, my, sds sx, sy, correlation r).

    The bivariate formula: with a = mx/sx, b = my/sy, c = sqrt(1 - r^2),
    (mx my + r sx sy) Phi2(a, b; r) + my sx phi(a) Phi((b - r a)/c) + mx sy phi(b) Phi((a - r b)/c)
    + sx sy c phi(a) phi((b - r a)/c). Inputs must have sx, sy > 0 (use a floor).
    ``pre`` may pass (a, b, Phi(a), Phi(b), phi(a), phi(b)) already computed per neuron."""
    ndtr = _ndtr(xp)
    if pre is None:
        a = xp.clip(mx / sx, -A_CLIP, A_CLIP)
        b = xp.clip(my / sy, -A_CLIP, A_CLIP)
        pre = (a, b, ndtr(a), ndtr(b), _phi(xp, a), _phi(xp, b))
    a, b, Pa, Pb, da, db = pre
    r = xp.clip(r, -1.0 + R_EPS, 1.0 - R_EPS)
    c = xp.sqrt((1.0 - r) * (1.0 + r))
    u = (b - r * a) / c
    v = (a - r * b) / c
    return ((mx * my + r * sx * sy) * bvn_cdf(xp, a, b, r, nodes, Pa, Pb) + my * sx * da * ndtr(u)
            + mx * sy * db * ndtr(v) + sx * sy * c * da * _phi(xp, u))


@functools.lru_cache(maxsize=32)
def _pair_index(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iu, ju = np.triu_indices(d, 1)
    idx = np.empty((d, d), dtype=np.int64)
    idx[iu, ju] = np.arange(len(iu))
    idx[ju, iu] = np.arange(len(iu))
    idx[np.arange(d), np.arange(d)] = len(iu) + np.arange(d)
    return iu, ju, idx


def relu_moments(xp: Any, mu: Any, cov: Any, nodes: int = 6) -> tuple[Any, Any, Any]:
    """Exact mean, covariance and Stein gain Phi(mu/sigma) of ReLU(z) for z ~ N(mu, cov).

    ``mu`` (..., d), ``cov`` (..., d, d). Returns (mean (..., d), cov (..., d, d), gain (..., d)).
    """
    ndtr = _ndtr(xp)
    d = mu.shape[-1]
    var = xp.diagonal(cov, axis1=-2, axis2=-1)
    s = xp.sqrt(xp.maximum(var, TINY))
    a = xp.clip(mu / s, -A_CLIP, A_CLIP)
    gain = ndtr(a)
    pa = _phi(xp, a)
    mean = mu * gain + s * pa
    var_h = (mu * mu + var) * gain + mu * s * pa - mean * mean
    iu, ju, idx = _pair_index(d)
    if len(iu):
        sx, sy = s[..., iu], s[..., ju]
        r = cov[..., iu, ju] / (sx * sy)
        pre = (a[..., iu], a[..., ju], gain[..., iu], gain[..., ju], pa[..., iu], pa[..., ju])
        e_xy = relu_pair_moment(xp, mu[..., iu], mu[..., ju], sx, sy, r, nodes, pre)
        vals = xp.concatenate([e_xy - mean[..., iu] * mean[..., ju], var_h], axis=-1)
    else:
        vals = var_h
    return mean, vals[..., idx], gain


# -------------------------------------------------------------------------------------------
# orthant probabilities
# -------------------------------------------------------------------------------------------
def orthant_prob(xp: Any, mu: Any, cov: Any, nodes: int = 6) -> Any:
    """P(D > 0 componentwise) for D ~ N(mu, cov), batched over leading axes.

    m = 0: 1; m = 1: Phi(mu/s); m = 2: the bivariate cdf (error <= 1e-6); m >= 3: the
    Mendell-Elston approximation (condition on one coordinate at a time, smallest conditional
    probability first, replacing each truncated law by the Gaussian with its moments)."""
    ndtr = _ndtr(xp)
    m = mu.shape[-1]
    if m == 0:
        return xp.ones(mu.shape[:-1])
    var = xp.diagonal(cov, axis1=-2, axis2=-1)
    s = xp.sqrt(xp.maximum(var, TINY))
    a = xp.clip(mu / s, -A_CLIP, A_CLIP)
    if m == 1:
        return ndtr(a[..., 0])
    if m == 2:
        return bvn_cdf(xp, a[..., 0], a[..., 1], cov[..., 0, 1] / (s[..., 0] * s[..., 1]), nodes)
    return _mendell_elston(xp, mu, cov, ndtr)


def _mendell_elston(xp: Any, mu: Any, cov: Any, ndtr: Any) -> Any:
    m = mu.shape[-1]
    ar = np.arange(m)
    done = xp.zeros(mu.shape, dtype=bool)
    p = 1.0
    for step in range(m):
        var = xp.diagonal(cov, axis1=-2, axis2=-1)
        s = xp.sqrt(xp.maximum(var, TINY))
        a = xp.clip(mu / s, -30.0, 30.0)
        pick = xp.argmin(xp.where(done, 1e9, a), axis=-1)
        sel = (ar == pick[..., None]).astype(mu.dtype)  # one-hot (..., m)
        ak = (a * sel).sum(axis=-1)
        sk = (s * sel).sum(axis=-1)
        pk = ndtr(ak)
        p = p * pk
        if step == m - 1:
            break
        lam = _phi(xp, ak) / xp.maximum(pk, TINY)
        col = (cov * sel[..., None, :]).sum(axis=-1)  # cov[..., :, k]
        mu = mu + col * (lam / sk)[..., None]
        shrink = lam * (lam + ak) / (sk * sk)
        cov = cov - col[..., :, None] * col[..., None, :] * shrink[..., None, None]
        done = done | (sel > 0)
    return p


# -------------------------------------------------------------------------------------------
# case tables: exact moments of N(0, I) restricted to a rank case
# -------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def block_moments(n: int, k: int, r: int, split: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of x ~ N(0, I_n) conditioned on a rank case, canonical order.

    The case: a block of k in {1, 2} coordinates that are adjacent order statistics (block[0]
    the larger), with r coordinates above the block and s = n - k - r below it. Canonical order:
    block, then (``split``) the r "above" coordinates and the s "below" ones, or (not split) the
    n - k others as an exchangeable mixture (each above with probability r / (n - k)).
    Given the block values the others are iid N(0, 1) truncated to (top, inf) or (-inf, bottom),
    so every moment is an integral over the block's density
    phi(top) [phi(bottom)] (1 - Phi(top))^r Phi(bottom)^s, done by quadrature (~1e-10)."""
    from scipy.special import log_ndtr

    s_cnt = n - k - r
    if k not in (1, 2) or r < 0 or s_cnt < 0:
        raise ValueError(f"bad case block n={n} k={k} r={r}")
    v = np.linspace(-10.0, 10.0, 2001)
    if k == 1:
        top = bot = v
        blocks = [v]
        logw = -0.5 * v * v + r * log_ndtr(-v) + s_cnt * log_ndtr(v)
    else:
        gx, gw = np.polynomial.legendre.leggauss(96)
        gap = 6.0 * (gx + 1.0)  # u - v in [0, 12]
        bot = np.repeat(v, len(gap))
        top = bot + np.tile(gap, len(v))
        blocks = [top, bot]
        logw = (np.log(np.tile(gw, len(v))) - 0.5 * top * top - 0.5 * bot * bot
                + r * log_ndtr(-top) + s_cnt * log_ndtr(bot))
    w = np.exp(logw - logw.max())
    w /= w.sum()
    lphi_t, lphi_b = -0.5 * top * top, -0.5 * bot * bot
    m1a = np.exp(lphi_t - log_ndtr(-top)) * INV_SQRT_2PI   # E[X | X > top]
    m2a = 1.0 + top * m1a
    m1b = -np.exp(lphi_b - log_ndtr(bot)) * INV_SQRT_2PI   # E[X | X < bot]
    m2b = 1.0 + bot * m1b

    def E(f: np.ndarray) -> float:
        return float(np.dot(w, f))

    mean = np.zeros(n)
    sec = np.zeros((n, n))
    for i, bi in enumerate(blocks):
        mean[i] = E(bi)
        for j, bj in enumerate(blocks):
            sec[i, j] = E(bi * bj)
    o = slice(k, n)
    if split:
        A, Bl = slice(k, k + r), slice(k + r, n)
        mean[A], mean[Bl] = E(m1a), E(m1b)
        for i, bi in enumerate(blocks):
            sec[i, A] = sec[A, i] = E(bi * m1a)
            sec[i, Bl] = sec[Bl, i] = E(bi * m1b)
        sec[A, A], sec[Bl, Bl], sec[A, Bl] = E(m1a * m1a), E(m1b * m1b), E(m1a * m1b)
        sec[Bl, A] = sec[A, Bl].T
        idx = np.arange(k, n)
        sec[idx[:r], idx[:r]] = E(m2a)
        sec[idx[r:], idx[r:]] = E(m2b)
    elif n > k:
        q = n - k
        pa, pb = r / q, s_cnt / q
        mean[o] = pa * E(m1a) + pb * E(m1b)
        for i, bi in enumerate(blocks):
            sec[i, o] = sec[o, i] = pa * E(bi * m1a) + pb * E(bi * m1b)
        if q > 1:
            sec[o, o] = (r * (r - 1) * E(m1a * m1a) + s_cnt * (s_cnt - 1) * E(m1b * m1b)
                         + 2 * r * s_cnt * E(m1a * m1b)) / (q * (q - 1))
        sec[np.arange(k, n), np.arange(k, n)] = pa * E(m2a) + pb * E(m2b)
    cov = sec - np.outer(mean, mean)
    return mean, (cov + cov.T) / 2


def case_table(task_name: str, n: int, cases: str) -> dict[str, Any]:
    """The cases of a task at length n: weights, input means/covs, and what to score.

    Returns ``weight`` (C,), ``mean`` (C, n), ``cov`` (C, n, n), and either ``target`` (C,) int
    positions (classification) or ``target_vec`` (C, n) linear targets (median)."""
    if cases not in ("fine", "coarse"):
        raise MethodError(f"cases must be 'fine', 'coarse' or 'auto', got {cases!r}")
    split = cases == "fine"
    r = rank_above(task_name, n)
    if task_name == "median":
        k = 1 if n % 2 else 2
        r = (n - 1) // 2 if n % 2 else n // 2 - 1
    elif r is not None:
        k = 1
    else:
        raise MethodError(f"the covariance method does not support task {task_name} "
                          "(its target is not a rank of the inputs)")
    mu_c, cov_c = block_moments(n, k, r, split)
    layouts: list[list[int]] = []
    for block in itertools.permutations(range(n), k):
        others = [i for i in range(n) if i not in block]
        if split:
            for above in itertools.combinations(others, r):
                layouts.append([*block, *above, *[i for i in others if i not in above]])
        else:
            layouts.append([*block, *others])
    C = len(layouts)
    mean, cov = np.zeros((C, n)), np.zeros((C, n, n))
    for c, pos in enumerate(layouts):
        mean[c, pos] = mu_c
        cov[c][np.ix_(pos, pos)] = cov_c
    out: dict[str, Any] = {"weight": np.full(C, 1.0 / C), "mean": mean, "cov": cov, "layouts": layouts}
    if task_name == "median":
        tv = np.zeros((C, n))
        for c, pos in enumerate(layouts):
            tv[c, pos[:k]] = 1.0 / k
        out["target_vec"] = tv
    else:
        out["target"] = np.array([pos[0] for pos in layouts])
    return out


def count_cases(task_name: str, n: int, cases: str) -> int:
    r = rank_above(task_name, n)
    if task_name == "median":
        k, r = (1, (n - 1) // 2) if n % 2 else (2, n // 2 - 1)
    elif r is not None:
        k = 1
    else:
        return 0
    blocks = math.perm(n, k)
    return blocks * math.comb(n - k, r) if cases == "fine" else blocks


# -------------------------------------------------------------------------------------------
# the propagation, written against xp
# -------------------------------------------------------------------------------------------
def propagate(xp: Any, w: dict[str, Any], mean_x: Any, cov_x: Any, nodes: int = 6) -> tuple[Any, Any, Any]:
    """Carry the Gaussian closure through the RNN, batched over cases.

    ``w``: ``w_hi`` (d,), ``w_hh`` (d, d), ``w_oh`` (k, d), optional ``b`` (d,), ``b_o`` (k,).
    ``mean_x`` (C, n), ``cov_x`` (C, n, n). Returns the outputs' mean (C, k), covariance
    (C, k, k) and cross-covariance with x (C, n, k)."""
    w_hi, w_hh, w_oh = w["w_hi"], w["w_hh"], w["w_oh"]
    n = mean_x.shape[-1]
    mu_h = cov_hh = cov_xh = None
    for t in range(n):
        cxt = cov_x[..., :, t:t + 1]                         # Cov(x, x_t)  (C, n, 1)
        if mu_h is None:
            mu_z = mean_x[..., t:t + 1] * w_hi
            cov_xz = cxt * w_hi
            cov_zz = cov_xz[..., t, :][..., None, :] * w_hi[:, None]    # w_hi Cov(x_t, z)
        else:
            mu_z = mu_h @ w_hh.T + mean_x[..., t:t + 1] * w_hi
            cov_xz = cov_xh @ w_hh.T + cxt * w_hi
            cov_hz = cov_hh @ w_hh.T + cov_xh[..., t, :][..., :, None] * w_hi
            cov_zz = w_hh @ cov_hz + w_hi[:, None] * cov_xz[..., t, :][..., None, :]
        if "b" in w:
            mu_z = mu_z + w["b"]
        mu_h, cov_hh, gain = relu_moments(xp, mu_z, cov_zz, nodes)
        cov_xh = cov_xz * gain[..., None, :]
    mu_y = mu_h @ w_oh.T
    if "b_o" in w:
        mu_y = mu_y + w["b_o"]
    cov_yy = w_oh @ (cov_hh @ w_oh.T)
    return mu_y, cov_yy, cov_xh @ w_oh.T


def _score(xp: Any, w: dict[str, Any], tab: dict[str, Any], static: dict[str, Any], nodes: int) -> Any:
    """Per-case scores: P(correct | case) (classification) or E[(y - target)^2] (median)."""
    mean_x, cov_x = tab["mean"], tab["cov"]
    mu_y, cov_yy, cov_xy = propagate(xp, w, mean_x, cov_x, nodes)
    if "target_vec" in tab:
        T = tab["target_vec"]                                # (C, n)
        mean_e = mu_y[..., 0] - (T * mean_x).sum(axis=-1)
        var_e = (cov_yy[..., 0, 0] - 2.0 * (T * cov_xy[..., :, 0]).sum(axis=-1)
                 + (T * (cov_x @ T[..., :, None])[..., 0]).sum(axis=-1))
        return mean_e * mean_e + var_e
    if "contrast" in tab:                                    # plain: P(y_j > y_m, m != j)
        E = tab["contrast"]                                  # (C, n-1, k)
        mu_d = (E * mu_y[..., None, :]).sum(axis=-1)
        cov_d = E @ cov_yy @ xp.swapaxes(E, -1, -2)
        return orthant_prob(xp, mu_d, cov_d, nodes)
    # conditional: P(y_j > y_m and x in R) / P(x in R), summed over the case's regions R
    jm = xp.concatenate([mean_x, mu_y], axis=-1)
    jc = xp.concatenate([xp.concatenate([cov_x, cov_xy], axis=-1),
                         xp.concatenate([xp.swapaxes(cov_xy, -1, -2), cov_yy], axis=-1)], axis=-2)
    per, q = static["regions_per_case"], static["n_x_rows"]
    if per == 1:
        mr, cr = jm, jc
    else:  # the regions of case c are rows c*per .. c*per + per - 1
        idx = np.repeat(np.arange(mean_x.shape[0]), per)
        mr, cr = jm[idx], jc[idx]
    M = tab["reg_M"]                                         # (G, q + n - 1, n + k)
    mu = (M * mr[..., None, :]).sum(axis=-1)
    S = M @ cr @ xp.swapaxes(M, -1, -2)
    num = orthant_prob(xp, mu, S, nodes)
    den = orthant_prob(xp, mu[..., :q], S[..., :q, :q], nodes)
    if per == 1:
        return num / xp.maximum(den, TINY)
    num = num.reshape(-1, per).sum(axis=-1)
    den = den.reshape(-1, per).sum(axis=-1)
    return num / xp.maximum(den, TINY)


def _inputs(model: Model, cases: str, scoring: str) -> tuple[dict, dict, dict, np.ndarray]:
    """Weights, case arrays, static (index) data and case weights for one model."""
    wts = model.weights
    w = {"w_hi": wts["rnn.weight_ih_l0"][:, 0], "w_hh": wts["rnn.weight_hh_l0"], "w_oh": wts["linear.weight"]}
    if "rnn.bias_ih_l0" in wts:
        w["b"] = wts["rnn.bias_ih_l0"] + wts["rnn.bias_hh_l0"]
    if "linear.bias" in wts:
        w["b_o"] = wts["linear.bias"]
    raw = case_table(model.task.name, model.seq_len, cases)
    tab: dict[str, np.ndarray] = {"mean": raw["mean"], "cov": raw["cov"]}
    static: dict[str, Any] = {}
    n = model.seq_len
    if "target_vec" in raw:
        tab["target_vec"] = raw["target_vec"]
        return w, tab, static, raw["weight"]
    targets = raw["target"]
    C = len(targets)
    if scoring == "plain":
        E = np.zeros((C, n - 1, n))
        for c, j in enumerate(targets):
            E[c, np.arange(n - 1), j] = 1.0
            E[c, np.arange(n - 1), [m for m in range(n) if m != j]] = -1.0
        tab["contrast"] = E
        return w, tab, static, raw["weight"]
    if scoring != "conditional":
        raise MethodError(f"scoring must be 'conditional' or 'plain', got {scoring!r}")
    r = rank_above(model.task.name, n)
    mats: list[np.ndarray] = []
    for pos in raw["layouts"]:
        j = pos[0]
        others = pos[1:]
        for above in itertools.combinations(others, r) if cases == "coarse" else [tuple(pos[1:1 + r])]:
            M = np.zeros((2 * (n - 1), 2 * n))
            for row, m in enumerate(o for o in range(n) if o != j):
                sgn = 1.0 if m in above else -1.0          # x_m - x_j > 0 above, x_j - x_m > 0 below
                M[row, m], M[row, j] = sgn, -sgn
                M[n - 1 + row, n + j], M[n - 1 + row, n + m] = 1.0, -1.0
            mats.append(M)
    tab["reg_M"] = np.stack(mats)
    static.update(regions_per_case=len(mats) // C, n_x_rows=n - 1)
    return w, tab, static, raw["weight"]


_FLOP_CACHE: dict[tuple, int] = {}


def _first_cases(tab: dict[str, np.ndarray], static: dict[str, Any], c: int) -> dict[str, np.ndarray]:
    per = static.get("regions_per_case", 1)
    return {k: v[: c * per] if k == "reg_M" else v[:c] for k, v in tab.items()}


def flops_for(model: Model, cases: str = "fine", nodes: int = 6, scoring: str = "conditional") -> int:
    """FLOPs (flopscope, float64) the covariance method spends on ``model`` with these options.

    Every operation is batched over the C cases (nothing acts on the weights alone), so the
    count is exactly proportional to C: it is measured under flopscope on the first case and
    multiplied (the tests check this against full counts), and cached per shape."""
    from symest.flops import count

    w, tab, static, weight = _inputs(model, cases, scoring)
    key = (tuple(sorted((k, v.shape) for k, v in w.items())),
           tuple(sorted((k, v.shape) for k, v in tab.items())), nodes, static.get("regions_per_case"))
    if key not in _FLOP_CACHE:
        one = _first_cases(tab, static, 1)
        _FLOP_CACHE[key] = len(weight) * count(lambda fnp, w_, t_: _score(fnp, w_, t_, static, nodes), w, one)
    return _FLOP_CACHE[key]


def covariance_estimate(model: Model, *, cases: str = "auto", scoring: str = "conditional", nodes: int = 6,
                        budget: float | None = None, samples: int | None = None, seed: int = 0,
                        progress: bool = False, **_: Any) -> Estimate:
    """The covariance-propagation estimate of the model's accuracy (RMSE for median models).

    ``cases``: "fine", "coarse" or "auto" (fine when at most 128 cases, else coarse; with a
    ``budget`` in FLOPs, coarse when fine would exceed it; BudgetError if nothing fits).
    ``scoring`` (classification): "conditional" or "plain" (see the module docstring).
    ``nodes``: Gauss-Legendre order of the bivariate normal cdf (6: error <= 1e-6).
    ``samples``/``seed`` are ignored (the method is deterministic)."""
    t0 = time.perf_counter()
    if model.arch != "rnn":
        raise MethodError("the covariance method handles RNNs only (transformers are not supported)")
    if nodes < 2:
        raise MethodError(f"nodes must be at least 2, got {nodes}")
    n = model.seq_len
    if cases == "auto":
        cases = "fine" if count_cases(model.task.name, n, "fine") <= MAX_FINE_CASES else "coarse"
        if budget is not None and cases == "fine" and flops_for(model, "fine", nodes, scoring) > budget:
            cases = "coarse"
    flops = flops_for(model, cases, nodes, scoring)
    if budget is not None and flops > budget:
        raise BudgetError(f"the covariance method needs {flops:.3g} FLOPs on {model.name} "
                          f"({cases} cases), above the budget {budget:.3g}")
    w, tab, static, weight = _inputs(model, cases, scoring)
    per_case = np.asarray(_score(np, w, tab, static, nodes), dtype=np.float64)
    total = float(np.dot(weight, per_case))
    details: dict[str, Any] = {"cases": cases, "n_cases": len(weight), "bvn_nodes": nodes}
    if model.task.metric == "accuracy":
        value = min(max(total, 0.0), 1.0)
        dims = 2 * (n - 1) if scoring == "conditional" else n - 1
        details.update(scoring=scoring, orthant="exact" if dims <= 2 else "mendell-elston")
    else:
        value = math.sqrt(max(total, 0.0))
    return Estimate(model.name, "covariance", model.task.metric, value, "approximate", flops,
                    seconds=time.perf_counter() - t0, details=details)


register("covariance", covariance_estimate)
