r"""ARC's handcrafted n = 2 model: exact accuracy 1.

Weights (AlgZoo): W_hi = (1, -1), W_hh = [[-1, 1], [1, -1]], W_oh = [[1, -1], [-1, 1]], so
h_1 = (ReLU(x1 - x0), ReLU(x0 - x1)) and logit_1 - logit_0 = 2 (x0 - x1) everywhere.

Derivation: standardize (already standard: 0 bits); check the signs of W_hi and the exact values
of W_hh and W_oh (exact values cost 32 bits each under the float32 reference prior: a
handcrafted model's ledger is its specification, not an explanation of training); deduce the
logit difference of the whole network, a piecewise-linear identity checked branch by branch;
split into the four linear pieces, deduce the same form on each, and add their Gaussian masses
(each piece is entirely correct). The result is exactly 1.
"""

from __future__ import annotations

import sympy as sp

from symest.derivation import (
    Branch,
    Derivation,
    linear_pieces,
    measure,
    network_outputs,
    piece_constraints,
    piece_outputs,
    w,
    x,
)

MODEL = "handcrafted_2nd_argmax_2"

W_HH = ((-1, 1), (1, -1))
W_OH = ((1, -1), (-1, 1))


def derive(model) -> Derivation:
    d = Derivation("handcrafted 2nd_argmax n=2: logit difference 2 (x0 - x1)", model=MODEL, task="2nd_argmax",
                   seq_len=2, hidden=2, description="ARC's handcrafted M_{2,2}: exactly correct off the diagonal.")
    d.check_model(model)
    d.standardize()
    d.check("sign W_hi_0_0", w("W_hi", 0) > 0)
    d.check("sign W_hi_1_0", w("W_hi", 1) < 0)
    for name, table in (("W_hh", W_HH), ("W_oh", W_OH)):
        for i in range(2):
            for j in range(2):
                d.check(f"{name}[{i},{j}]", sp.Eq(w(name, i, j), table[i][j]))
    x0, x1 = x(0), x(1)
    out = network_outputs(2, 2)
    d.deduce("logit difference", sp.Eq(out[1] - out[0], 2 * (x0 - x1), evaluate=False),
             text="ReLU(x1 - x0) - ReLU(x0 - x1) = x1 - x0 (case analysis of every ReLU)")
    branches = []
    for pattern in linear_pieces(model):
        piece = piece_outputs(2, 2, pattern)
        sub = Derivation(f"pattern {''.join(map(str, pattern))}")
        sub.deduce("form", sp.Eq(piece[1] - piece[0], 2 * (x0 - x1), evaluate=False),
                   text="on this piece logit_1 > logit_0 exactly when x0 > x1, i.e. when position 1 holds "
                        "the second largest input: every input here is classified correctly")
        sub.compute("mass", measure(), text="Gaussian mass of the piece (all correct)")
        branches.append(Branch(sub.name, piece_constraints(2, 2, pattern), sub))
    d.split("linear pieces", branches)
    return d
