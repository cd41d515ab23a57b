"""The anytime mechanistic estimator: exact where the budget reaches, calibrated presumptions elsewhere.

Method ``"adaptive"``: the accuracy of a bias-free RNN on a rank task (argmax, 2nd_argmax,
argmedian) for any FLOP budget above a small floor, with no sampling of inputs anywhere.

Picture. :mod:`symest.estimators.exact` writes the accuracy as a sum over the leaves of a tree of
cones: the roots are the rank task's *cases* (target j, the positions above it; in 2-D/3-D each
case is halved on the sign of sum(x), :func:`symest.regions.make_roots`), each split decides one
hidden neuron's sign (:func:`symest.regions.expand`), and on a leaf the model is linear, so the
leaf's correct part is one more cone whose Gaussian measure is exact (2-D/3-D) or numerical with
a bound. This method walks the same tree root by root and approximates what it has not reached:

    estimate = (correct mass of the resolved leaves)
             + sum over unresolved pieces P of  mu(P) * clip(f(P) + shift, 0, 1)

1. **Presumption** f(P) (every root first, then the pieces left open at the end): take the
   piece's central ray c (the normalised sum of its extreme rays in 2-D/3-D; a Chebyshev centre
   from a linear program above), presume every neuron not yet decided in P takes the sign it has
   on c, so the model is one linear map L_c on P, and set ``f(P) = mu(P ∩ {L_c picks j}) / mu(P)``.
   c is a deterministic function of the weights; no input is drawn.
2. **Resolution**: roots are resolved one at a time, exactly (depth-first, as ``exact`` does),
   those presumed most correct first (that presumption is the most often optimistic). A root
   the budget cannot finish leaves its open pieces, each measured and presumed as in 1 (the
   cost of that is reserved before every step, so the budget holds).
3. **Calibration**: each fully resolved root R tells how far its presumption was off,
   ``t(R) - f(R)``; their mass-weighted mean over the c resolved roots, shrunk by c / (c + 1),
   is the ``shift`` added to every open presumption. (A presumption that the resolved roots are
   representative of the rest; deterministic, from the model's own tree.)
4. **Uncertainty** (stated, not a bound): each unresolved piece's true fraction is taken to lie
   about ``SD_PIECE`` = 0.15 from its calibrated presumption, independently, plus the shift's
   own error (the residual sd of the resolved roots over sqrt(c)), common to all pieces:
   ``stderr^2 = sum_P (mu(P) SD_PIECE)^2 + (sum_P mu(P))^2 sd_res^2 / c``. ``lower``/``upper``
   are sound: every unresolved piece holds between none and all of its mass.

When the budget covers the whole tree no piece is left open and the value is the exact
accuracy (kind ``exact``/``numerical``, the same sum as ``exact``'s, at the extra cost of the
roots' presumptions); otherwise kind ``approximate``. A budget below the roots' presumptions
raises :class:`~symest._errors.BudgetError`.

Design notes (measured on 32 sigma-0.05 copies of handcrafted_3(lam=3), exact at ~1.4e5 FLOPs):
best-first expansion by unresolved mass x sd with a presumption for every new piece was worse
(RMS 4.0% at 1e5 FLOPs, exact only at ~5e5: measuring and presuming every piece costs more than
the tree itself); root-by-root resolution with presumptions only at the roots and the final open
pieces gives 2.4% at 1e5 and the exact value at ~1.55e5. The presumption is optimistic on
average (+4.5% at the roots), hence the calibration. The covariance method is not used as the
starting point: on these models it costs ~3e5 FLOPs (more than the exact answer) and is ~12% off.

FLOPs (:mod:`symest.flops` conventions, float64 billed twice): splits and measures as
:mod:`symest.regions` / :mod:`symest.spherical` bill them, the presumption's forward pass as its
matrix products, the linear program (n > 3 only) as ``exact`` bills one. Python bookkeeping is
free, as in every symest estimator.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symest._errors import BudgetError, MethodError
from symest.estimate import Estimate
from symest.estimators import register
from symest.estimators.exact import rank_cases, win_normals
from symest.flops import Tally
from symest.model import Model
from symest.regions import LPCone, Piece, check_bias_free, expand, leaf_outputs, make_roots, measure, root
from symest.spherical import RayCone

SD_PIECE = 0.15
"""Stated standard deviation of an unresolved piece's true correct fraction about its presumption."""
SHRINK = 1.0
"""The calibration shift from c resolved roots is shrunk by c / (c + SHRINK)."""
DEFAULT_BUDGET = 1e10


@dataclass
class _Node:
    piece: Piece
    j: int
    mass: float
    f: float
    center: np.ndarray


@dataclass
class _Run:
    model: Model
    tally: Tally = field(default_factory=Tally)
    resolved: float = 0.0
    error: float = 0.0
    exact: bool = True
    leaves: int = 0
    expanded: int = 0
    measured: int = 0
    presumed: int = 0

    def measure(self, geometry: Any) -> float:
        value, bound, exact = measure(geometry, self.tally)
        self.error += bound
        self.exact &= exact
        self.measured += 1
        return value

    def clip_win(self, geometry: Any, out: np.ndarray, j: int) -> Any | None:
        """geometry ∩ {x : output j beats every other}, or None if that is empty."""
        win = win_normals(out, j)
        if win is None:
            return None
        rows, labels = win if isinstance(win, tuple) else (win, None)
        for r, c in enumerate(rows):
            geometry = geometry.split(c, self.tally, labels[r] if labels else None)[0]
            if geometry is None:
                return None
        return geometry

    def center(self, geometry: Any) -> np.ndarray:
        if isinstance(geometry, RayCone):
            r = geometry.rays
            self.tally.pointwise("add", r.size)
            c = r.sum(axis=0)
            return c / np.linalg.norm(c)
        return _lp_center(geometry, self.tally)

    def presumed_map(self, piece: Piece, c: np.ndarray) -> np.ndarray:
        model, tally = self.model, self.tally
        d, n = model.hidden, model.seq_len
        state, t, i = piece.state, piece.t, piece.i
        while t < n:
            z = state @ c
            tally.einsum("ij,j->i", (d, n), (n,))
            off = (np.arange(d) >= i) & (z < 0)
            if off.any():
                state = state.copy()
                state[off] = 0.0
            t, i = t + 1, 0
            if t < n:
                tally.einsum("ij,jk->ik", (d, d), (d, n))
                tally.pointwise("add", d * n)
                state = model.W_hh @ state
                state[:, t] += model.W_hi[:, 0]
        tally.einsum("ij,jk->ik", model.W_oh.shape, state.shape)
        return model.W_oh @ state

    def fraction(self, node: _Node) -> float:
        self.presumed += 1
        g = self.clip_win(node.piece.cone, self.presumed_map(node.piece, node.center), node.j)
        if g is None or node.mass <= 0:
            return 0.0
        return min(max(self.measure(g) / node.mass, 0.0), 1.0)

    def correct(self, piece: Piece, j: int) -> float:
        g = self.clip_win(piece.cone, leaf_outputs(self.model, piece, self.tally), j)
        return 0.0 if g is None else self.measure(g)


def _lp_center(geometry: LPCone, tally: Tally) -> np.ndarray:
    from scipy.optimize import linprog

    a = geometry.cone.normals
    norms = np.linalg.norm(a, axis=1)
    u = a[norms > 0] / norms[norms > 0, None]
    m, n = u.shape
    tally.add(2 * (m + n) * 2 * m * n)
    if m == 0:
        return np.ones(n) / math.sqrt(n)
    res = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.hstack([-u, np.ones((m, 1))]), b_ub=np.zeros(m),
                  bounds=[(-1.0, 1.0)] * n + [(None, 1.0)], method="highs")
    x = res.x[:n]
    return x / np.linalg.norm(x)


def adaptive_accuracy(model: Model, budget: float | None = None) -> Estimate:
    """Anytime estimate of a bias-free RNN's accuracy on a rank task within ``budget`` FLOPs."""
    check_bias_free(model, "adaptive")
    above = model.task.above(model.seq_len)
    if above is None:
        raise MethodError(f"method adaptive handles rank tasks (argmax, 2nd_argmax, argmedian); got {model.task.name}")
    budget = DEFAULT_BUDGET if budget is None else float(budget)
    t0 = time.perf_counter()
    n = model.seq_len
    run = _Run(model)
    roots: list[_Node] = []
    per_frontier = 0
    for j, rows in rank_cases(n, above):
        for g in make_roots(rows, run.tally):
            before = run.tally.total
            node = _Node(root(model, g), j, run.measure(g), 0.0, run.center(g))
            node.f = run.fraction(node)
            roots.append(node)
            per_frontier = max(per_frontier, run.tally.total - before)
    per_frontier = int(1.5 * per_frontier)  # open pieces have more facets than roots: keep a margin
    if run.tally.total > budget:
        raise BudgetError(f"budget {budget:.3g} FLOPs is below the adaptive method's minimum "
                          f"({run.tally.total} FLOPs: one presumption per case) for {model.name}")
    order = sorted(range(len(roots)), key=lambda i: (-roots[i].mass * roots[i].f, i))
    calib: list[tuple[float, float, float]] = []  # (mass, presumed f, true f) of resolved roots
    resolved = 0.0
    frontier: list[_Node] = []
    untouched: list[_Node] = []
    step = per_frontier  # the largest cost of one expansion or leaf so far (a first guess)
    stopped = False
    for idx in order:
        r = roots[idx]
        if stopped:
            untouched.append(r)
            continue
        stack = [r.piece]
        acc = 0.0
        while stack:
            # the open pieces left if we stop right after this step get measured and presumed:
            # reserve that before stepping (a split adds at most one piece, a leaf removes one)
            after = len(stack) + (-1 if stack[-1].is_leaf(n) else 1)
            if run.tally.total + step + per_frontier * after > budget:
                break
            before = run.tally.total
            p = stack.pop()
            if p.is_leaf(n):
                run.leaves += 1
                acc += run.correct(p, r.j)
            else:
                run.expanded += 1
                stack.extend(reversed(expand(model, p, run.tally)))
            step = max(step, run.tally.total - before)
        resolved += acc
        if not stack:
            calib.append((r.mass, r.f, acc / r.mass))
            continue
        stopped = True
        if len(stack) == 1 and stack[0] is r.piece:
            untouched.append(r)
            continue
        for p in stack:
            g = p.cone
            node = _Node(p, r.j, run.measure(g), 0.0, run.center(g))
            node.f = run.fraction(node)
            frontier.append(node)
    nodes = frontier + untouched
    c = len(calib)
    if c:
        w = np.array([m for m, _, _ in calib])
        d = np.array([t - f for _, f, t in calib])
        shift = float((w * d).sum() / w.sum()) * c / (c + SHRINK)
        res_sd = float(np.sqrt((w * (d - shift) ** 2).sum() / w.sum())) if c >= 2 else None
    else:
        shift, res_sd = 0.0, None
    approx = sum(nd.mass * min(max(nd.f + shift, 0.0), 1.0) for nd in nodes)
    unresolved = sum(nd.mass for nd in nodes)
    var = sum((nd.mass * SD_PIECE) ** 2 for nd in nodes)
    if res_sd is not None:
        var += (unresolved * res_sd) ** 2 / c
    details: dict[str, Any] = {"budget": budget, "pieces_expanded": run.expanded, "regions": run.leaves,
                               "cones_measured": run.measured, "presumptions": run.presumed,
                               "unresolved_pieces": len(nodes), "unresolved_mass": unresolved,
                               "resolved_correct": resolved, "calibration_roots": c, "shift": shift}
    value = min(max(resolved + approx, 0.0), 1.0)
    seconds = time.perf_counter() - t0
    if not nodes:
        kind = "exact" if run.exact else "numerical"
        return Estimate(model.name, "adaptive", "accuracy", resolved, kind, run.tally.total,
                        error_bound=run.error, seconds=seconds, details=details)
    return Estimate(model.name, "adaptive", "accuracy", value, "approximate", run.tally.total,
                    stderr=math.sqrt(var), lower=max(resolved - run.error, 0.0),
                    upper=min(resolved + unresolved + run.error, 1.0), seconds=seconds, details=details)


def _adaptive(model: Model, *, budget: float | None = None, **_: object) -> Estimate:
    return adaptive_accuracy(model, budget)


register("adaptive", _adaptive)
