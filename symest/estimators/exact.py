"""Exact accuracy of bias-free RNNs on rank tasks as a sum of Gaussian cone measures.

For a rank task (the target is the position with exactly r inputs above it: r = 0 argmax,
1 2nd_argmax, n//2 argmedian) split input space into *cases* (j, S): position j is the target
and S (|S| = r) the positions above it,

    C_{j,S} = {x : x_s >= x_j (s in S),  x_j >= x_k (k not in S, k != j)},

each of Gaussian measure r!(n-1-r)!/n!. Inside a case, enumerate the model's linear regions
(:mod:`symest.regions`); on a region with output map L the model is right iff
(L_j - L_k) . x >= 0 for all k != j, so

    accuracy = sum over cases, regions R of  mu(C_{j,S} ∩ R ∩ {(L_j - L_k) . x >= 0, k != j}),

mu the standard-Gaussian measure (a solid-angle fraction: exact in 2-D and 3-D, numerical
with a guaranteed bound above). Structural ties (L_j - L_k identically zero on a region, as in
the handcrafted n = 10 model) follow argmax's first-index rule: j wins ties against k > j and
loses them against k < j; float sampling may break such ties differently.

With a FLOP budget that runs out, the unexpanded pieces contribute between 0 and their
measure, so the result is a sound interval [lower, upper] — a certified accuracy bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from symest._errors import BudgetError, MethodError
from symest.cones import Cone, gaussian_measure, is_empty
from symest.estimate import Estimate
from symest.estimators import register
from symest.flops import Tally
from symest.model import Model
from symest.regions import Piece, check_bias_free, expand, leaf_outputs, root

DEFAULT_BUDGET = 1e10
TIE_TOL = 1e-12


def rank_cases(n: int, above: int) -> Iterator[tuple[int, np.ndarray]]:
    """(target j, order-constraint normals) for every case (j, S)."""
    eye = np.eye(n)
    for j in range(n):
        others = [k for k in range(n) if k != j]
        for s in combinations(others, above):
            rows = [eye[a] - eye[j] for a in s] + [eye[j] - eye[k] for k in others if k not in s]
            yield j, np.array(rows).reshape(-1, n)


def win_normals(out: np.ndarray, j: int) -> np.ndarray | None:
    """Normals of {x : logit j beats every other}, or None if a structural tie makes it empty."""
    scale = max(float(np.abs(out).max()), 1e-300)
    rows = []
    for k in range(out.shape[0]):
        if k == j:
            continue
        diff = out[j] - out[k]
        if np.abs(diff).max() <= TIE_TOL * scale:
            if k < j:  # tie lost to the earlier index
                return None
            continue
        rows.append(diff)
    return np.array(rows).reshape(-1, out.shape[1])


@dataclass
class _Run:
    """Mutable bookkeeping of one exact run (kept local to :func:`exact_accuracy`)."""

    tally: Tally = field(default_factory=Tally)
    lower: float = 0.0
    error: float = 0.0
    leaves: int = 0
    expanded: int = 0
    measured: int = 0
    exact: bool = True

    def measure(self, cone: Cone) -> float:
        m = gaussian_measure(cone)
        self.tally.add(m.flops)
        self.error += m.error_bound
        self.exact &= m.exact
        self.measured += 1
        return m.value

    def empty(self, cone: Cone, tally: Tally) -> bool:
        res = is_empty(cone)
        tally.add(_emptiness_flops(cone))
        return res


def _emptiness_flops(cone: Cone) -> int:
    """Charge for an interior-emptiness test: an LP with m constraints in n variables,
    billed as (m + n) simplex pivots of 2 m n FLOPs each (float64: x2)."""
    m, n = cone.normals.shape
    return 2 * (m + n) * 2 * m * n


def exact_accuracy(model: Model, budget: float | None = None) -> Estimate:
    """Exact (or, with a short budget, interval) accuracy of a bias-free RNN on a rank task."""
    check_bias_free(model, "exact")
    above = model.task.above(model.seq_len)
    if above is None:
        raise MethodError(f"method exact handles rank tasks (argmax, 2nd_argmax, argmedian); got {model.task.name}")
    budget = DEFAULT_BUDGET if budget is None else float(budget)
    t0 = time.perf_counter()
    n = model.seq_len
    run = _Run()
    case_mass = math.factorial(above) * math.factorial(n - 1 - above) / math.factorial(n)
    stack: list[tuple[int, Piece]] = []
    for j, rows in reversed(list(rank_cases(n, above))):
        stack.append((j, root(model, Cone(rows))))
    min_cost = _emptiness_flops(Cone(np.zeros((2 * n, n))))
    if budget < min_cost:
        raise BudgetError(f"budget {budget:.3g} FLOPs is below the exact method's minimum ({min_cost} FLOPs) "
                          f"for {model.name}")
    per_measure = 0.0
    while stack:
        reserve = per_measure * len(stack)
        if run.tally.total + reserve + min_cost > budget:
            break
        j, piece = stack.pop()
        if piece.is_leaf(n):
            run.leaves += 1
            before = run.tally.total
            win = win_normals(leaf_outputs(model, piece, run.tally), j)
            if win is not None:
                run.lower += run.measure(piece.cone.intersect(win))
            per_measure = max(per_measure, run.tally.total - before)
            continue
        run.expanded += 1
        stack.extend((j, c) for c in reversed(expand(model, piece, run.tally, run.empty)))
    details = {"regions": run.leaves, "pieces_expanded": run.expanded, "cones_measured": run.measured,
               "cases": len(list(rank_cases(n, above))), "budget": budget}
    if not stack:
        kind = "exact" if run.exact else "numerical"
        return Estimate(model.name, "exact", "accuracy", run.lower, kind, run.tally.total,
                        error_bound=run.error + 1e-12 * max(run.measured, 1), seconds=time.perf_counter() - t0,
                        details=details)
    # budget ran out: the frontier's measure bounds what is still unresolved
    unresolved = 0.0
    for _, piece in stack:
        unresolved += case_mass if piece.t == 0 and piece.i == 0 else run.measure(piece.cone)
    lower = max(run.lower - run.error, 0.0)
    upper = min(run.lower + unresolved + run.error, 1.0)
    details |= {"unresolved_pieces": len(stack), "unresolved_mass": unresolved}
    return Estimate(model.name, "exact", "accuracy", (lower + upper) / 2, "bounds", run.tally.total,
                    lower=lower, upper=upper, seconds=time.perf_counter() - t0, details=details)


def _exact(model: Model, *, budget: float | None = None, **_: object) -> Estimate:
    return exact_accuracy(model, budget)


register("exact", _exact)
