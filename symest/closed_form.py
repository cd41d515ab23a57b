"""Closed forms: a small model's exact accuracy as a SymPy expression in its weights.

The exact estimator's traversal fixes the combinatorics numerically: which activation patterns
occur in which case, and which constraint planes bound each region's cone. Replaying those
choices with symbolic weights gives every boundary ray as a polynomial vector in the weights:

* 2-D: a boundary ray is +-rot90(a) for its constraint normal a; the cone's angle is
  atan2(sigma (r_0 x r_k), r_0 . r_k), sigma = +-1 fixed by the weights at hand;
* 3-D: a vertex is +-(a x b) for the two planes meeting there (read from the cone's edge
  provenance, no tolerance); Girard's interior angle at v between neighbours p, q is
  atan2(|v| |det(v, p, q)|, |v|^2 (p . q) - (v . p)(v . q)), using
  (v x p) x (v x q) = det(v, p, q) v.

accuracy = sum over regions of angle / (2 pi) (2-D) or (sum of angles - (k - 2) pi) / (4 pi).
The expression is valid wherever the weights keep the same combinatorics: the recorded
``conditions`` (every sign the derivation fixed, as strict inequalities in the weights) hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from symest._errors import MethodError
from symest.estimators.exact import Case, _Run, _traverse, rank_cases, win_normals
from symest.model import Model
from symest.regions import Piece, check_bias_free, leaf_outputs

MAX_LEN = 3


def weight_symbols(model: Model) -> dict[str, sp.Matrix]:
    """Symbol matrices W_hi (d x 1), W_hh (d x d), W_oh (k x d), entries like W_hh_0_1."""
    def mat(name: str, shape: tuple[int, int]) -> sp.Matrix:
        return sp.Matrix(shape[0], shape[1], lambda i, j: sp.Symbol(f"{name}_{i}_{j}", real=True))

    return {"W_hi": mat("W_hi", model.W_hi.shape), "W_hh": mat("W_hh", model.W_hh.shape),
            "W_oh": mat("W_oh", model.W_oh.shape)}


@dataclass(frozen=True)
class ClosedForm:
    terms: tuple[sp.Expr, ...]  # one per region: its contribution to the accuracy
    conditions: tuple[sp.Rel, ...]
    symbols: dict[str, sp.Matrix]
    value: float  # the expression at the model's weights
    regions: int

    @property
    def expr(self) -> sp.Expr:
        return sp.Add(*self.terms)

    def substitutions(self, model: Model) -> dict[sp.Symbol, float]:
        out = {}
        for name, mat in self.symbols.items():
            w = getattr(model, name)
            out.update({mat[i, j]: float(w[i, j]) for i in range(mat.rows) for j in range(mat.cols)})
        return out

    def evaluate(self, model: Model, digits: int = 50) -> float:
        """The expression at a model's weights (meaningful where the conditions hold), in
        ``digits``-digit arithmetic: the weights' float values enter exactly, and the
        intermediate products can cancel catastrophically in float64 on thin regions."""
        import mpmath

        subs = self.substitutions(model)
        f = sp.lambdify(list(subs), self.expr, "mpmath")
        with mpmath.workdps(digits):
            return float(f(*(mpmath.mpf(v) for v in subs.values())))

    def holds(self, model: Model, digits: int = 50) -> bool:
        """Whether every recorded condition holds at the model's weights, checked in
        ``digits``-digit arithmetic (float64 cannot decide near-degenerate regions)."""
        import mpmath

        subs = self.substitutions(model)
        args = list(subs)
        with mpmath.workdps(digits):
            vals = [mpmath.mpf(v) for v in subs.values()]
            for c in self.conditions:
                side = sp.lambdify(args, c.lhs - c.rhs, "mpmath")(*vals)
                if not (side > 0 if isinstance(c, sp.StrictGreaterThan) else side < 0):
                    return False
        return True

    def latex(self, max_chars: int = 20000) -> str:
        text = sp.latex(self.expr)
        return text if len(text) <= max_chars else text[:max_chars] + r" \ldots"


def _planes(model: Model, sym: dict[str, sp.Matrix], piece: Piece, j: int,
            case_rows: np.ndarray) -> dict[object, tuple[sp.Matrix, np.ndarray]]:
    """Every labelled constraint plane of a leaf: label -> (symbolic normal, numeric normal)."""
    d, n = model.hidden, model.seq_len
    planes: dict[object, tuple[sp.Matrix, np.ndarray]] = {
        ("case", r): (sp.Matrix([[sp.Integer(round(v)) for v in row]]), np.asarray(row, dtype=float))
        for r, row in enumerate(case_rows)}
    planes[("sum",)] = (sp.ones(1, n), np.ones(n))
    h, hn = sp.zeros(d, n), np.zeros((d, n))
    bits = iter(piece.pattern)
    for t in range(n):
        z, zn = sym["W_hh"] * h, model.W_hh @ hn
        for i in range(d):
            z[i, t] += sym["W_hi"][i, 0]
            zn[i, t] += model.W_hi[i, 0]
        for i in range(d):
            planes[("z", t, i)] = (z.row(i), zn[i].copy())
            if not next(bits):
                z[i, :] = sp.zeros(1, n)
                zn[i] = 0.0
        h, hn = z, zn
    out, outn = sym["W_oh"] * h, model.W_oh @ hn
    for k in range(out.rows):
        planes[("win", k)] = (out.row(j) - out.row(k), outn[j] - outn[k])
    return planes


def closed_form(model: Model) -> ClosedForm:
    """The exact accuracy of a bias-free rank-task RNN with n <= 3 as a SymPy expression."""
    check_bias_free(model, "exact --symbolic")
    n = model.seq_len
    above = model.task.above(n)
    if above is None or n > MAX_LEN:
        raise MethodError(f"closed forms are available for rank tasks with sequence length <= {MAX_LEN}; "
                          f"{model.name} is {model.task.name} with n = {n}")
    sym = weight_symbols(model)
    leaves: list[tuple[Case, Piece, object]] = []

    def leaf(case: Case, piece: Piece, run: _Run) -> None:
        win = win_normals(leaf_outputs(model, piece, run.tally), case[0])
        if win is not None and (g := run.clip(piece.cone, *win)) is not None:
            leaves.append((case, piece, g))

    _traverse(model, list(rank_cases(n, above)), leaf, float("inf"), _Run())
    conditions: list[sp.Rel] = []
    terms: list[sp.Expr] = []
    for (j, rows), piece, g in leaves:
        planes = _planes(model, sym, piece, j, rows)
        if n == 2:  # each end ray lies on its labelled line: +-rot90(a)
            vertices = []
            for r, lab in zip(g.rays[[0, -1]], g.planes, strict=True):
                a, an = planes[lab]
                vertices.append((sp.Matrix([[-a[1], a[0]]]), np.array([-an[1], an[0]]), r))
        else:  # vertex i joins edges i-1 and i: the cross product of their planes
            k = len(g.rays)
            vertices = []
            for i in range(k):
                (a, an), (b, bn) = planes[g.planes[i - 1]], planes[g.planes[i]]
                vertices.append((a.cross(b), np.cross(an, bn), g.rays[i]))
        rays = [(v, vn) if vn @ r > 0 else (-v, -vn) for v, vn, r in vertices]
        terms.append(_measure_expr(rays, conditions))
    form = ClosedForm(tuple(terms), tuple(conditions), sym, 0.0, len(leaves))
    if not form.holds(model):
        raise MethodError(
            f"no certified closed form for {model.name}: float64 rounding decides the shape of some thin "
            "regions, and exact arithmetic disagrees; the exact method's value and error bound still stand")
    return ClosedForm(form.terms, form.conditions, sym, form.evaluate(model), len(leaves))


def _sign_fixed(e: sp.Expr, value: float, conditions: list) -> sp.Expr:
    """e with its sign fixed by its value at the weights at hand (|e| -> +-e), recorded."""
    conditions.append(e > 0 if value > 0 else e < 0)
    return e if value > 0 else -e


def _measure_expr(rays: list[tuple[sp.Matrix, np.ndarray]], conditions: list) -> sp.Expr:
    if len(rays[0][1]) == 2:
        (a, an), (b, bn) = rays[0], rays[-1]
        cross_n = an[0] * bn[1] - an[1] * bn[0]
        if abs(cross_n) <= 1e-12 * np.linalg.norm(an) * np.linalg.norm(bn):  # opposite end rays: a half-plane
            return sp.Rational(1, 2)
        cross = _sign_fixed(sp.expand(a[0] * b[1] - a[1] * b[0]), cross_n, conditions)
        return sp.atan2(cross, sp.expand(a.dot(b))) / (2 * sp.pi)  # small in 2-D: expand for readability
    k = len(rays)
    # Convexity: det(v_i, v_{i-1}, v_{i+1}) has one sign at every vertex. Take it where float64
    # is best conditioned and record it as a condition, which ClosedForm.holds re-checks exactly.
    dets_n = [rays[i][1] @ np.cross(rays[i - 1][1], rays[(i + 1) % k][1]) for i in range(k)]
    orient = float(np.sign(dets_n[int(np.argmax(np.abs(dets_n)))]))
    angles = sp.Integer(0)
    for i in range(k):  # interior angles of a convex polygon lie in [0, pi]
        v, p, q = rays[i][0], rays[i - 1][0], rays[(i + 1) % k][0]
        det = _sign_fixed(v.dot(p.cross(q)), orient, conditions)
        vv = v.dot(v)
        angles += sp.atan2(sp.sqrt(vv) * det, vv * p.dot(q) - v.dot(p) * v.dot(q))
    return (angles - (k - 2) * sp.pi) / (4 * sp.pi)
