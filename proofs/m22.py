r"""M_{2,2} (2nd_argmax, hidden 2, length 2): ARC's ~40-bit explanation, as a derivation.

Structure (ARC's ledger, ``/work/shared/reference/estimation.md``):

1. standardize: rescale each hidden neuron so |W_hi[i]| = 1 (0 bits);
2. check the sign of all 10 weights and whether |w| > 1 for the 4 entries of W_hh (14 bits);
3. split input space into the model's linear pieces (cones cut by the pre-activation signs); on
   each, deduce the form logit_1 - logit_0 = a0 x0 - a1 x1 (0 bits), with a0, a1 polynomials in
   the weights;
4. in pieces that do not contain the diagonal x0 = x1, correctness follows from the signs of
   a0, a1 and which is larger, on each cell of the plane the piece meets (quadrants II and IV:
   a0, a1 > 0; quadrant I/III halves: one coefficient positive and at least the other). Each such
   fact is deduced from step 2's facts where the positivity prover can (0 bits), else checked
   (1 bit: sign or ordering);
5. in pieces that contain a diagonal ray, check that a0 and a1 agree to the precision the weights
   actually have (k bits for 1 part in 2^k, ARC: about 11 each), and compute the error exactly:
   the sliver between the decision boundary a0 x0 = a1 x1 and the diagonal has Gaussian measure
   angle / (2 pi) (a 2-D cone measure, exact);
6. estimate = 1 - (sum of slivers), tagged by case for per-stratum checks.

The proof is generic over M_{2,2}-shaped models: which claims it states is read off the weights
it is given; the claims themselves are symbolic and are re-verified by ``symest audit``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from symest.cones import Cone, is_empty
from symest.derivation import (
    Branch,
    Derivation,
    _prove,
    agree,
    agreement_bits,
    apply_reparametrization,
    evaluate,
    linear_pieces,
    measure,
    piece_constraints,
    piece_outputs,
    w,
    weight_values,
    x,
)
from symest.derivation import Standardize as _Standardize

MODEL = "2nd_argmax_2_2"

# cells of the plane (normals of {x : a . x >= 0}) and what correctness needs on each
# (ARC's deduction: with L = a0 x0 - a1 x1, these facts make sign(L) the target's sign)
_CELLS = {
    "II (x0 < 0 < x1)": ([(-1, 0), (0, 1)], ("a0>0", "a1>0")),
    "IV (x1 < 0 < x0)": ([(1, 0), (0, -1)], ("a0>0", "a1>0")),
    "I, x0 > x1": ([(1, -1), (0, 1)], ("a0>0", "a0>=a1")),
    "I, x1 > x0": ([(-1, 1), (1, 0)], ("a1>0", "a1>=a0")),
    "III, x0 > x1": ([(1, -1), (-1, 0)], ("a1>0", "a1>=a0")),
    "III, x1 > x0": ([(-1, 1), (0, -1)], ("a0>0", "a0>=a1")),
}


def _meets(region: np.ndarray, cell: list[tuple[int, int]]) -> bool:
    return not is_empty(Cone(np.vstack([region, np.array(cell, dtype=float)])))


def _pattern_name(pattern: tuple[int, ...], w_hi: np.ndarray) -> str:
    """e.g. ``x0>0: h0=(0,+) h1=(+,+)``: which neurons are active after each step."""
    active0 = [i for i in range(2) if pattern[i]]
    side = "x0>0" if active0 and w_hi[active0[0]] > 0 else "x0<0"

    def bits(b: tuple[int, ...]) -> str:
        return "(" + ",".join("+" if v else "0" for v in b) + ")"

    return f"{side}: h0={bits(pattern[:2])} h1={bits(pattern[2:])}"


def derive(model) -> Derivation:
    d = Derivation("M_{2,2}: signs, magnitudes, pieces, slivers (ARC's explanation)", model=MODEL,
                   task="2nd_argmax", seq_len=2, hidden=2,
                   description="ARC's surprise accounting for the 10-parameter 2nd-argmax RNN M_{2,2}.")
    d.check_model(model)
    std, _ok, _note, _ = apply_reparametrization(model, _Standardize())
    d.standardize()
    vals = weight_values(std)
    # 2. signs of all 10 weights, magnitude vs 1 of the 4 entries of W_hh
    for sym in sorted(vals, key=lambda s: s.name):
        v = vals[sym]
        if v == 0:
            continue
        d.check(f"sign {sym.name}", sym > 0 if v > 0 else sym < 0)
    for i in range(2):
        for j in range(2):
            sym = w("W_hh", i, j)
            d.check(f"|{sym.name}| vs 1", sp.Abs(sym) > 1 if abs(vals[sym]) > 1 else sp.Abs(sym) < 1)
    # 3-5. the linear pieces
    branches = []
    x0, x1 = x(0), x(1)
    for pattern in linear_pieces(std):
        out = piece_outputs(2, 2, pattern)
        diff = sp.expand(out[1] - out[0])
        a0 = sp.factor(diff.coeff(x0))
        a1 = sp.factor(-diff.coeff(x1))
        region = piece_constraints(2, 2, pattern)
        normals = np.array([[float(evaluate(sp.diff((c.lhs - c.rhs) * (1 if isinstance(c, sp.GreaterThan) else -1), xi),
                                             vals)) for xi in (x0, x1)] for c in region])
        sub = Derivation(_pattern_name(pattern, std.W_hi[:, 0]))
        sub.deduce("form", sp.Eq(diff, a0 * x0 - a1 * x1, evaluate=False),
                   text="logit_1 - logit_0 on this piece (ReLUs resolved by the piece's activation pattern)")
        cells = [name for name, (cell, _needs) in _CELLS.items() if _meets(normals, cell)]
        straddles = ("I, x0 > x1" in cells and "I, x1 > x0" in cells) or \
                    ("III, x0 > x1" in cells and "III, x1 > x0" in cells)
        va0, va1 = float(evaluate(a0, vals)), float(evaluate(a1, vals))
        stratum_of = {"x0 > x1": (0, 1), "x1 > x0": (1, 0)}
        if straddles:
            k = agreement_bits(va0, va1)
            sub.check("coefficients agree", agree(a0, a1, k),
                      text=f"a0 = {va0:.6g} and a1 = {va1:.6g} agree to 1 part in 2^{k}")
            # the sliver between a0 x0 = a1 x1 and the diagonal, split by the true order of x0, x1
            lhs = a0 * x0 - a1 * x1
            sub.compute("sliver, x0 > x1", measure(x0 - x1 >= 0, lhs <= 0), coef=-1.0, stratum=stratum_of["x0 > x1"],
                        text="error mass: x0 > x1 (target 1) but logit_0 >= logit_1")
            sub.compute("sliver, x1 > x0", measure(x1 - x0 >= 0, lhs >= 0), coef=-1.0, stratum=stratum_of["x1 > x0"],
                        text="error mass: x1 > x0 (target 0) but logit_1 >= logit_0")
        else:
            facts = {"a0>0": a0 > 0, "a1>0": a1 > 0, "a0>=a1": sp.GreaterThan(a0, a1, evaluate=False),
                     "a1>=a0": sp.GreaterThan(a1, a0, evaluate=False)}
            needed = []
            for name in cells:
                for fact in _CELLS[name][1]:
                    if fact not in needed:
                        needed.append(fact)
            known = _facts_so_far(d)
            reason = (f"this piece meets the cells {'; '.join(cells)}; there the facts "
                      f"{', '.join(needed)} give sign(L) = the target's sign, so it contributes no error")
            for fact in needed:
                claim = facts[fact]
                if _prove(claim, known):
                    sub.deduce(fact, claim, text="from the sign and magnitude checks; " + reason)
                else:
                    sub.check(fact, claim, text="not implied by the sign and magnitude checks; " + reason)
                known.append(claim)
        branches.append(Branch(_pattern_name(pattern, std.W_hi[:, 0]), region, sub))
    d.compute("everything", sp.Integer(1), text="total probability; the pieces' errors are subtracted")
    d.split("linear pieces", branches)
    return d


def _facts_so_far(d: Derivation) -> list:
    """Facts for the prover: |W_hi[i]| = 1 (standardization) and the top-level checks so far."""
    facts = [sp.Eq(sp.Abs(w("W_hi", i)), 1) for i in range(2)]
    return facts + [s.payload["claim"] for s in d.steps if s.kind == "check"]
