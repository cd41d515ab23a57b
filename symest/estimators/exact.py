"""Exact accuracy of bias-free RNNs on rank tasks as a sum of Gaussian cone measures.

For a rank task (the target is the position with exactly r inputs above it: r = 0 argmax,
1 2nd_argmax, n//2 argmedian) split input space into *cases* (j, S): position j is the target
and S (|S| = r) the positions above it,

    C_{j,S} = {x : x_s >= x_j (s in S),  x_j >= x_k (k not in S, k != j)},

each of Gaussian measure r!(n-1-r)!/n!. Inside a case, enumerate the model's linear regions
(:mod:`symest.regions`); on a region with output map L the model is right iff
(L_j - L_k) . x >= 0 for all k != j, so

    accuracy = sum over cases, regions R of  mu(C_{j,S} ∩ R ∩ {(L_j - L_k) . x >= 0, k != j}),

computed as 1 - (lost mass), so regions wholly inside their winning set cost no measure at all;
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from symest._errors import BudgetError, MethodError
from symest.estimate import Estimate
from symest.estimators import register
from symest.flops import Tally
from symest.model import Model
from symest.regions import (
    Piece,
    check_bias_free,
    expand,
    gamma,
    leaf_margins,
    leaf_outputs,
    make_roots,
    measure,
    root,
    tilt,
)

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


def win_normals(out: np.ndarray, j: int) -> tuple[np.ndarray, list] | None:
    """Normals of {x : logit j beats every other} from the full output map (see :func:`win_rows`)."""
    return win_rows(out[j] - out, j, float(np.abs(out).max()))


def win_rows(margins: np.ndarray, j: int, scale: float) -> tuple[np.ndarray, list] | None:
    """Normals of {x : logit j beats every other}, labelled ("win", k), from the margins
    L_j - L_k (row j ignored); None if a structural tie makes the set empty. A margin below
    TIE_TOL x ``scale`` (the size of the terms that made it) is a structural tie, broken by
    argmax's first-index rule: j wins ties against k > j and loses them against k < j."""
    rows, labels = [], []
    for k in range(margins.shape[0]):
        if k == j:
            continue
        if np.abs(margins[k]).max() <= TIE_TOL * max(scale, 1e-300):
            if k < j:
                return None
            continue
        rows.append(margins[k])
        labels.append(("win", k))
    return np.array(rows).reshape(-1, margins.shape[1]), labels


def rounding_bound(model: Model, piece: Piece, margins: np.ndarray, j: int, tally: Tally) -> float:
    """Bound on |computed - exact| measure of a leaf's winning region from float64 rounding of
    its planes: (path tilts + win-plane tilts) / pi (see :mod:`symest.regions`)."""
    on = np.flatnonzero(np.any(piece.state, axis=1))
    w = np.abs(model.W_oh[j, on] - model.W_oh[:, on])
    err = w @ (gamma(len(on) + 1) * np.abs(piece.state[on]) + piece.err[on])
    tally.einsum("ij,jk->ik", (w.shape[0] - 1, len(on)), (len(on), margins.shape[1]))
    tally.pointwise("multiply", 2 * piece.state.size)
    alpha = piece.alpha
    for k in range(margins.shape[0]):
        if k != j and np.any(margins[k]):
            alpha += tilt(margins[k], err[k])
    tally.pointwise("multiply", 4 * margins.size)
    return alpha / math.pi


@dataclass
class _Run:
    """Mutable bookkeeping of one exact run (kept local to :func:`exact_accuracy`)."""

    tally: Tally = field(default_factory=Tally)
    value: float = 0.0
    error: float = 0.0
    leaves: int = 0
    expanded: int = 0
    measured: int = 0
    exact: bool = True

    budget: float = float("inf")

    def measure(self, geometry: object) -> float:
        value, bound, exact = measure(geometry, self.tally, max(self.budget - self.tally.total, 1.0))
        self.error += bound
        self.exact &= exact
        self.measured += 1
        return value

    def clip(self, geometry: object, normals: np.ndarray, labels: list | None = None) -> object | None:
        """geometry ∩ {normals @ x >= 0}, or None if empty."""
        for r, c in enumerate(normals):
            geometry = geometry.split(c, self.tally, labels[r] if labels else None)[0]
            if geometry is None:
                return None
        return geometry


Case = tuple[int, np.ndarray]  # (target position j, order-constraint normals)


def _traverse(model: Model, cases: list[Case], leaf: Callable[[Case, Piece, _Run], None],
              budget: float, run: _Run, certify: bool = True) -> list[tuple[Case, Piece]]:
    """Depth-first walk of every case's region tree, calling ``leaf(case, region, run)`` on each
    region, until the budget would be exceeded; returns the unexpanded frontier (empty when done)."""
    n = model.seq_len
    min_cost = 4 * n**3
    if budget < min_cost:
        raise BudgetError(f"budget {budget:.3g} FLOPs is below the exact method's minimum ({min_cost} FLOPs) "
                          f"for {model.name}")
    run.budget = budget
    stack: list[tuple[Case, Piece]] = []
    for case in reversed(cases):
        stack.extend((case, root(model, g, certify)) for g in reversed(make_roots(case[1], run.tally)))
    per_leaf = 0.0
    while stack:
        if run.tally.total + per_leaf * len(stack) + min_cost > budget:
            break
        case, piece = stack.pop()
        if piece.is_leaf(n):
            before, value, error = run.tally.total, run.value, run.error
            try:
                leaf(case, piece, run)
            except BudgetError:  # a measure that cannot fit the rest of the budget: unresolved
                run.value, run.error = value, error
                stack.append((case, piece))
                break
            run.leaves += 1
            per_leaf = max(per_leaf, run.tally.total - before)
            continue
        run.expanded += 1
        stack.extend((case, c) for c in reversed(expand(model, piece, run.tally)))
    return stack


def exact_accuracy(model: Model, budget: float | None = None, certify: bool = True) -> Estimate:
    """Exact (or, with a short budget, interval) accuracy of a bias-free RNN on a rank task.

    ``certify`` (default) adds the float64 rounding certificate to ``error_bound``; without it
    the bound covers only the closed-form measures' own rounding, which understates the error
    on ill-conditioned weights (FLOPs drop by roughly a third)."""
    check_bias_free(model, "exact")
    above = model.task.above(model.seq_len)
    if above is None:
        raise MethodError(f"method exact handles rank tasks (argmax, 2nd_argmax, argmedian) and median; "
                          f"got {model.task.name}")
    budget = DEFAULT_BUDGET if budget is None else float(budget)
    t0 = time.perf_counter()
    cases = list(rank_cases(model.seq_len, above))

    scale = float(np.abs(model.W_oh).max())

    def leaf(case: Case, piece: Piece, run: _Run) -> None:
        # run.value accumulates the *lost* mass: a leaf wholly inside the winning set (the clip
        # leaves it unchanged) needs no measure at all, and the error rate keeps its precision.
        j = case[0]
        margins = leaf_margins(model, piece, j, run.tally)
        win = win_rows(margins, j, scale * float(np.abs(piece.state).max()) * model.hidden)
        if win is not None and piece.err is not None:
            run.error += rounding_bound(model, piece, margins, j, run.tally)
        if win is None:  # a structural tie loses the whole leaf
            run.value += run.measure(piece.cone)
            return
        g = piece.cone  # clip row by row: the pieces cut off are disjoint, convex, and make up leaf \ win
        for row, label in zip(*win, strict=True):
            g, cut = g.split(row, run.tally, label)
            if cut is not None:
                run.value += run.measure(cut)
            if g is None:
                return

    run = _Run()
    stack = _traverse(model, cases, leaf, budget, run, certify)
    details = {"regions": run.leaves, "pieces_expanded": run.expanded, "cones_measured": run.measured,
               "cases": len(cases), "budget": budget, "rounding_certified": certify}
    if not stack:
        kind = "exact" if run.exact else "numerical"
        return Estimate(model.name, "exact", "accuracy", 1.0 - run.value, kind, run.tally.total,
                        error_bound=run.error, seconds=time.perf_counter() - t0, details=details)
    # budget ran out: each unexpanded piece may be lost in full or not at all
    lost, error = run.value, run.error
    unresolved = _unresolved_mass(stack, run, above, model.seq_len)
    lower = max(1.0 - lost - unresolved - run.error, 0.0)
    upper = min(1.0 - lost + error, 1.0)
    details |= {"unresolved_pieces": len(stack), "unresolved_mass": unresolved}
    return Estimate(model.name, "exact", "accuracy", (lower + upper) / 2, "bounds", run.tally.total,
                    lower=lower, upper=upper, seconds=time.perf_counter() - t0, details=details)


def _unresolved_mass(stack: list[tuple[Case, Piece]], run: _Run, above: int, n: int) -> float:
    """An upper bound on the total measure of the unexpanded pieces. Exact ray cones are
    measured; higher-dimensional ones get a loose, FLOP-capped bound, and a case's pieces never
    count for more than the case's own mass r!(n-1-r)!/n!."""
    case_mass = math.factorial(above) * math.factorial(n - 1 - above) / math.factorial(n)
    per_case: dict[int, float] = {}
    for case, piece in stack:
        if hasattr(piece.cone, "upper_bound"):
            ub = piece.cone.upper_bound(run.tally, cap=1e6)
            ub = case_mass if ub is None else ub
        else:
            ub = run.measure(piece.cone)
        per_case[id(case)] = per_case.get(id(case), 0.0) + ub
    return sum(min(v, case_mass) for v in per_case.values())


def exact_rmse(model: Model, budget: float | None = None) -> Estimate:
    """Exact RMSE of a bias-free median RNN with n <= 3.

    In a case (an ordering class) the median is a fixed linear form m . x (a coordinate, or the
    mean of two for even n), so on a region with output u . x the error is e . x, e = u - m, and

        MSE = sum over cases, regions R of  e^T E[x x^T ; R] e,

    with the closed-form second moments of :func:`symest.spherical.second_moment` (exact).
    """
    from symest.spherical import second_moment

    check_bias_free(model, "exact")
    n = model.seq_len
    if n > 3:
        raise MethodError(f"exact RMSE needs closed-form cone second moments, available for sequence length <= 3; "
                          f"{model.name} has {n}: use --method sampling")
    budget = DEFAULT_BUDGET if budget is None else float(budget)
    t0 = time.perf_counter()
    if n < 2:
        raise MethodError("exact RMSE needs sequence length 2 or 3")
    cases = list(rank_cases(n, n // 2))  # n = 3: the median is x_j; n = 2: (x_0 + x_1) / 2 throughout

    def leaf(case: Case, piece: Piece, run: _Run) -> None:
        med = np.eye(n)[case[0]] if n % 2 else np.full(n, 0.5)
        e = leaf_outputs(model, piece, run.tally)[0] - med
        run.value += float(e @ second_moment(piece.cone, run.tally) @ e)
        run.measured += 1

    run = _Run()
    stack = _traverse(model, cases, leaf, budget, run)
    if stack:
        raise BudgetError(f"budget {budget:.3g} FLOPs ran out before every region of {model.name} was resolved; "
                          "exact RMSE has no interval form: raise --budget or use sampling")
    mse = max(run.value, 0.0)
    rmse = float(np.sqrt(mse))
    bound = 1e-12 * max(run.measured, 1) / max(2 * rmse, 1e-6)
    return Estimate(model.name, "exact", "rmse", rmse, "exact", run.tally.total, error_bound=bound,
                    seconds=time.perf_counter() - t0,
                    details={"mse": mse, "regions": run.leaves, "pieces_expanded": run.expanded, "cases": len(cases)})


def all_tables(n: int, start: int, stop: int) -> np.ndarray:
    """Function tables number start..stop-1 in base n (row r is r's base-n digits)."""
    idx = np.arange(start, stop, dtype=np.int64)
    return (idx[:, None] // n ** np.arange(n - 1, -1, -1)) % n


def enumerate_accuracy(model: Model, budget: float | None = None, chunk: int = 1 << 16) -> Estimate:
    """Exact accuracy of a model with finitely many equally likely inputs (longest_cycle: the
    n^n function tables), by running the model on every one of them (float64, vectorized)."""
    from symest.flops import per_sample_flops
    from symest.forward import forward_numpy

    if model.task.inputs != "function":
        raise MethodError(f"enumeration needs finitely many inputs; {model.task.name} inputs are Gaussian")
    t0 = time.perf_counter()
    n = model.seq_len
    total = n**n
    flops = 2 * total * per_sample_flops(model)  # float64: flopscope bills twice float32
    if budget is not None and flops > budget:
        raise BudgetError(f"enumerating all {total:,} inputs of {model.name} costs {flops:.3g} FLOPs, "
                          f"above the budget {budget:.3g}")
    correct = 0
    for start in range(0, total, chunk):
        f = all_tables(n, start, min(start + chunk, total))
        correct += int(model.task.score(f, forward_numpy(model, f), np).sum())
    return Estimate(model.name, "exact", "accuracy", correct / total, "exact", flops, error_bound=0.0,
                    seconds=time.perf_counter() - t0, details={"inputs": total, "correct": correct})


def _exact(model: Model, *, budget: float | None = None, certify: bool = True, symbolic: bool = False,
           **_: object) -> Estimate:
    if model.task.inputs == "function":
        return enumerate_accuracy(model, budget)
    if model.task.name == "median":
        return exact_rmse(model, budget)
    est = exact_accuracy(model, budget, certify)
    if not symbolic:
        return est
    from dataclasses import replace

    from symest.closed_form import closed_form

    form = closed_form(model)
    return replace(est, details={**est.details, "closed_form_latex": form.latex(), "closed_form_value": form.value,
                                 "closed_form_regions": form.regions,
                                 "closed_form_conditions": [str(c) for c in form.conditions]})


register("exact", _exact)
