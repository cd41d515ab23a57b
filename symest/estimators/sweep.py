r"""Sweep: the last input integrated exactly, the direction of the others by quadrature.

Method ``"sweep"`` for bias-free RNNs on rank tasks (2nd_argmax, argmax, argmedian) with
sequence length n = 2 or 3; kind ``exact`` for n = 2, ``approximate`` for n = 3. No input is
sampled: every evaluation point is fixed by the weights.

**The line sweep.** Write x = (u, c) with u = (x_1..x_{n-1}) and c = x_n. For fixed u the state
h = h_{n-1}(u) is fixed and the last pre-activation z(c) = W_hh h + W_hi c is affine in c. Its
zeros c_i = -(W_hh h)_i / W_hi_i and the order breakpoints c = u_l cut the line into at most
d + n intervals; on each, the active set, hence the logits L(c) = A + B c, and the target j are
fixed, and the model is right on the sub-interval where (A_j - A_k) + (B_j - B_k) c > 0 for
every k != j (k - 1 linear inequalities, solved exactly).

**Homogeneity.** A bias-free ReLU network is positively homogeneous and the task depends only on
the order of the inputs, so correctness at (u, c) equals correctness at (u/|u|, c/|u|). With
û = u/|u| uniform on the sphere S^{n-2} and independent of R = |u| ~ chi_{n-1},

    P(correct | û) = g(û) = sum over right intervals [lo, hi] of F(hi) - F(lo),
    F(c) = P(x_n / |u| <= c) = T_{n-1}(c sqrt(n - 1))   (Student's t with n - 1 degrees of freedom)
         = 1/2 + arctan(c) / pi               (n = 2)
         = 1/2 + c / (2 sqrt(1 + c^2))        (n = 3),

and accuracy = E[g(û)].

* n = 2: û = ±1, accuracy = (g(-1) + g(+1)) / 2 exactly (two sweeps, float64).
* n = 3: û = (cos phi, sin phi), accuracy = (1 / 2 pi) \int_0^{2 pi} g(phi) dphi. g jumps only
  where the target changes with û, at x_1 = x_2 (phi = pi/4, 5 pi/4); elsewhere it is continuous
  with kinks (where the activation pattern of the first two steps changes, or two last-step
  breakpoints cross). Each of the two half circles between the jumps gets a Gauss-Legendre rule of
  ``per_half`` nodes. The kinks make the rule a stated approximation (no error bound). On
  M_{4,3}'s 256 noisy copies (sd 0.05) its RMS error is 1.4% with 4 nodes (6.7e3 FLOPs) and 0.07%
  with 58 (9.7e4 FLOPs). (Splitting the circle further at the kink angles was measured too: no
  better at equal node counts, and it costs arctangents.)

**FLOPs** (flopscope's, :mod:`symest.flops`): the node placement and the sweeps are written once
against an array namespace and billed by running them under ``flopscope.numpy``; every sweep
operation is batched over nodes, so the sweep bill is the one-node bill times the number of
nodes. n = 3 runs in the model's precision (float32 for trained models), n = 2 in float64.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import numpy as np

from symest._errors import BudgetError, MethodError
from symest.estimate import Estimate
from symest.estimators import register
from symest.model import Model

BIG = 1e15  # stands for +-infinity on the c line: F(+-BIG) = 1/2 +- 1/2 to float precision
TIE = 1e-30  # breaks exact margin ties by the first-index rule; below any nonzero margin
DEFAULT_PER_HALF = 32
MAX_PER_HALF = 512


def _t_cdf(xp: Any, c: Any, n: int) -> Any:
    """F(c) = P(x_n / |u| <= c) for u of dimension n - 1 (see the module docstring)."""
    if n == 2:
        return 0.5 + xp.arctan(c) / math.pi
    return 0.5 + 0.5 * c / xp.sqrt(1.0 + c * c)


def sweep_g(xp: Any, w: dict[str, Any], u: Any, above: int) -> Any:
    """g(û) for a batch of prefix directions ``u`` (shape (U, n-1)): the probability that the
    model is right given the direction of x_1..x_{n-1} (the line sweep of the module docstring).

    ``w`` is :func:`_arrays`' output (neg_inv = -1/W_hi is 0 where W_hi = 0: a spurious cut at
    c = 0 is harmless); ``above`` is the task's rank rule. The logits are linear in c on each
    interval, so they are evaluated at its two ends (the unbounded intervals get a unit segment
    next to their finite end); the margin L_j - L_k runs linearly from m_lo to m_hi, and the model
    is right on the part of the interval where it is positive for every k != j. Exact ties
    (a margin identically 0, e.g. every neuron off) follow argmax's first-index rule: a tiny
    +-TIE added to the margin makes j win ties against k > j and lose them against k < j."""
    w_hi, w_hh, w_oh = w["W_hi"], w["W_hh"], w["W_oh"]
    n1 = u.shape[1]
    h = xp.maximum(u[:, :1] * w_hi, 0.0)
    for t in range(1, n1):
        h = xp.maximum(h @ w_hh.T + u[:, t : t + 1] * w_hi, 0.0)
    p = h @ w_hh.T  # z(c) = p + W_hi c
    cuts = xp.sort(xp.concatenate([p * w["neg_inv"], u], axis=1), axis=1)
    # the unbounded first and last intervals are represented by a unit segment next to their finite
    # end (the margins are linear on the whole interval) and extended to -BIG / +BIG at the end
    pts = xp.concatenate([cuts[:, :1] - 1.0, cuts, cuts[:, -1:] + 1.0], axis=1)  # (U, m + 1)
    lo, hi = pts[:, :-1], pts[:, 1:]
    mid = 0.5 * (lo + hi)
    z = p[:, None, :] + pts[:, :, None] * w_hi  # (U, m + 1, d)
    on = (p[:, None, :] + mid[:, :, None] * w_hi) > 0  # each interval's active set, (U, m, d)
    # logits at both ends of each interval under that interval's active set, so a margin that is
    # structurally zero on the interval (every neuron off, equal output rows) is exactly zero
    at_lo, at_hi = (on * z[:, :-1]) @ w_oh.T, (on * z[:, 1:]) @ w_oh.T  # (U, m, k)
    over = mid[:, :, None] > u[:, None, :]  # c above u_l, (U, m, n - 1)
    prefix_above = xp.sum(u[:, None, :] > u[:, :, None], axis=2)  # inputs above u_l among u
    counts = xp.concatenate([prefix_above[:, None, :] + over, n1 - xp.sum(over, axis=2)[:, :, None]], axis=2)
    target = counts == above  # one-hot target j on each interval, (U, m, n)
    tie = 2.0 * xp.cumsum(target * w["tie"], axis=2) - w["tie"]  # +TIE for k >= j, -TIE for k < j
    m_lo = xp.sum(target * at_lo, axis=2)[:, :, None] - at_lo + tie
    m_hi = xp.sum(target * at_hi, axis=2)[:, :, None] - at_hi + tie
    slope = m_hi - m_lo
    # right where the margin m(c) > 0; its zero, measured from the end where |m| is smaller (so it
    # is accurate relative to its distance from that end), is a lower bound on c if slope >= 0 and
    # an upper one if slope < 0; a constant margin has slope +0 and a zero at -inf (always right)
    # or +inf (never)
    per = (hi - lo + TIE)[:, :, None] / slope  # +TIE: a zero-width interval gives +-inf, not 0/0
    root = xp.where(xp.abs(m_lo) < xp.abs(m_hi), lo[:, :, None] - m_lo * per, hi[:, :, None] - m_hi * per)
    edge = BIG - (slope < 0) * w["two_big"]  # +BIG where root is a lower bound, -BIG where an upper one
    c_lo = xp.maximum(xp.max(xp.minimum(root, edge), axis=2), lo * w["inner"] - w["outer"])
    c_hi = xp.minimum(xp.min(xp.maximum(root, edge), axis=2), hi * w["inner"][::-1] + w["outer"][::-1])
    gain = _t_cdf(xp, c_hi, n1 + 1) - _t_cdf(xp, c_lo, n1 + 1)
    return xp.sum(xp.maximum(gain, 0.0), axis=1)


def _arrays(w_hi: np.ndarray, w_hh: np.ndarray, w_oh: np.ndarray, n: int, dtype: str) -> dict[str, np.ndarray]:
    """The sweep's arrays in ``dtype``: the weights, neg_inv = -1/W_hi (billed once per model,
    d divisions), and inner/outer, which turn the first interval's lower end and the last one's
    upper end into -BIG and +BIG (lo * inner - outer; the reversed pair for the upper ends)."""
    m = len(w_hi) + n
    safe = np.where(w_hi != 0, w_hi, 1.0)
    inner, outer = np.ones(m), np.zeros(m)
    inner[0], outer[0] = 0.0, BIG
    out = {"W_hi": w_hi, "W_hh": w_hh, "W_oh": w_oh, "neg_inv": np.where(w_hi != 0, -1.0 / safe, 0.0),
           "inner": inner, "outer": outer, "tie": np.array(TIE), "two_big": np.array(2 * BIG)}
    return {k: np.asarray(v, dtype=dtype) for k, v in out.items()}


def _circle_nodes(xp: Any, xg: Any) -> Any:
    """Directions (cos phi, sin phi) at angles ``xg`` (radians)."""
    return xp.stack([xp.cos(xg), xp.sin(xg)], axis=1)


def half_circle_rule(per_half: int) -> tuple[np.ndarray, np.ndarray]:
    """Angles and weights (summing to 1) of Gauss-Legendre rules of order ``per_half`` on the
    half circles [pi/4, 5 pi/4] and [5 pi/4, 9 pi/4] that the jumps of g separate. A table of
    constants: it does not depend on the weights and is not billed."""
    xg, wg = np.polynomial.legendre.leggauss(per_half)
    t = math.pi / 4 + 0.5 * math.pi * (xg + 1.0)
    return np.concatenate([t, t + math.pi]), np.concatenate([wg, wg]) / 4.0


@functools.lru_cache(maxsize=64)
def _costs(d: int, k: int, n: int, above: int, dtype: str) -> tuple[int, int]:
    """flopscope FLOPs of (one sweep plus placing its node, the per-model set-up)."""
    from symest.flops import count

    def fill(*shape: int) -> np.ndarray:  # placeholder weights: the bill depends on shapes only
        return np.cos(np.arange(1, math.prod(shape) + 1, dtype=np.float64)).reshape(shape)

    w = _arrays(fill(d), fill(d, d), fill(k, d), n, dtype)
    if n == 2:
        one = count(lambda fnp, w_, u_: sweep_g(fnp, w_, u_, above), w, np.ones((1, 1), dtype=dtype))
    else:
        one = count(lambda fnp, w_, a: sweep_g(fnp, w_, _circle_nodes(fnp, a), above), w, np.ones(1, dtype=dtype))
    setup = count(lambda fnp, v: -1.0 / v, fill(d).astype(dtype))
    return one, setup


def check_applicable(model: Model) -> None:
    """MethodError (one line) unless the sweep handles ``model``: a bias-free RNN on a rank task
    with sequence length 2 or 3."""
    from symest.regions import check_bias_free

    if model.arch != "rnn" or model.task.metric != "accuracy" or model.task.above(model.seq_len) is None:
        raise MethodError(f"the sweep method handles RNNs on rank tasks (2nd_argmax, argmax, argmedian), "
                          f"not {model.task.name}")
    check_bias_free(model, "sweep")
    if model.seq_len not in (2, 3):
        raise MethodError(f"the sweep method integrates over the direction of the first n - 1 inputs by a "
                          f"quadrature on the circle: it supports sequence length 2 or 3, not {model.seq_len}")


def _dtype(model: Model) -> str:
    """float64 for n = 2 (an exact result), else the model's precision."""
    return "float64" if model.seq_len == 2 else model.dtype


def plan(model: Model, budget: float | None = None, per_half: int = DEFAULT_PER_HALF) -> tuple[int, int]:
    """(nodes per half circle, FLOPs) of the sweep on ``model``: for n = 3 the largest rule that
    fits ``budget`` (at most MAX_PER_HALF per half), else ``per_half``; n = 2 always uses its two
    exact nodes. BudgetError when not even the smallest rule fits."""
    n, d, k = model.seq_len, model.hidden, model.W_oh.shape[0]
    one, setup = _costs(d, k, n, int(model.task.above(n)), _dtype(model))
    half = 1 if n == 2 else min(max(int(per_half), 1), MAX_PER_HALF)
    if budget is not None and n == 3:
        half = max(1, min(MAX_PER_HALF, int((budget - setup) // (2 * one))))
    flops = setup + 2 * half * one
    if budget is not None and flops > budget:
        raise BudgetError(f"the sweep method needs at least {flops} FLOPs on {model.name} (one sweep per "
                          f"{'input sign' if n == 2 else 'half circle'}), above the budget {budget:.3g}")
    return half, flops


def _run(model: Model, per_half: int) -> float:
    """The sweep's quadrature with ``per_half`` nodes per half circle (n = 3; n = 2: its two nodes)."""
    n, dtype = model.seq_len, _dtype(model)
    if n == 2:
        nodes, weight = np.array([[-1.0], [1.0]]), np.array([0.5, 0.5])
    else:
        angles, weight = half_circle_rule(per_half)
        nodes = _circle_nodes(np, angles)
    w = _arrays(model.W_hi[:, 0], model.W_hh, model.W_oh, n, dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.asarray(sweep_g(np, w, nodes.astype(dtype), int(model.task.above(n))), dtype=np.float64)
    return float(min(max(np.dot(weight, g), 0.0), 1.0))


def sweep_estimate(model: Model, *, budget: float | None = None, per_half: int = DEFAULT_PER_HALF,
                   samples: int | None = None, seed: int = 0, progress: bool = False, **_: Any) -> Estimate:
    """The sweep estimate of a rank task's accuracy (module docstring).

    ``budget`` (FLOPs): for n = 3 the largest rule (at most MAX_PER_HALF nodes per half circle)
    that fits; BudgetError when not even one node per half circle fits. Without a budget,
    ``per_half`` nodes per half circle. ``samples``/``seed`` are ignored (deterministic)."""
    t0 = time.perf_counter()
    check_applicable(model)
    half, flops = plan(model, budget, per_half)
    exact = model.seq_len == 2
    return Estimate(model.name, "sweep", "accuracy", _run(model, half), "exact" if exact else "approximate", flops,
                    error_bound=1e-12 if exact else None, seconds=time.perf_counter() - t0,
                    details={"nodes": 2 * half, "dtype": _dtype(model)})


register("sweep", sweep_estimate)
