r"""ARC's handcrafted n = 3 model: accuracy as a function of lambda.

AlgZoo's construction (``symest.handcrafted.handcrafted_3``): with

    fc1 = [[1, -l-1, l], [-1, -l, l+1]],   fc2 = [[1, 1], [-l, l+1], [l+1, -l]],
    u = [[1, 0, 0, -1], [0, 1, -1, 0]],    v = [[1, 0, 0, 1], [0, 1, 1, 0]],

the RNN has W_hi = u^T fc1[:, 2], W_hh = u^T A u with A = fc1[:, :2] fc1[:, 1:]^-1 (a shift:
A fc1[:, j+1] = fc1[:, j]) and W_oh = fc2 v. Its hidden state is h_t = ReLU(u^T z_t) with
u h_t = z_t (ReLU(a) - ReLU(-a) = a), z_t = A z_{t-1} + fc1[:, 2] x_t, so z_2 = fc1 x; and
v h = |z| (ReLU(a) + ReLU(-a) = |a|). Hence **logits = fc2 |fc1 x|**, piecewise linear on the
four sign regions of z = fc1 x, and

    accuracy(l) = sum over sign regions s, cases (a largest, b second) of
                  P(x in {s_i fc1_i . x >= 0} ∩ {x_a >= x_b >= x_c} ∩ {logit_b >= logit_k, k != b}),

a sum of 24 exact 3-D cone measures (:func:`accuracy`), which tends to 1 as l grows.

The derivation reads l = -W_oh[1, 0] from the weights, checks that every other weight agrees
with its l-formula to 2^-32 (32 bits each: the ledger of a handcrafted model is its
specification), deduces the identities above symbolically, and computes the 24 measures with
constraints written in the weight symbols, so ``symest audit`` recomputes all of it.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from symest.derivation import Branch, Derivation, agree, measure, w, x

MODEL = "handcrafted_2nd_argmax_3"

U = sp.Matrix([[1, 0, 0, -1], [0, 1, -1, 0]])
V = sp.Matrix([[1, 0, 0, 1], [0, 1, 1, 0]])


def family(lam):
    """(fc1, fc2, W_hi, W_hh, W_oh) of the construction, for a number or a SymPy expression."""
    fc1 = sp.Matrix([[1, -lam - 1, lam], [-1, -lam, lam + 1]])
    fc2 = sp.Matrix([[1, 1], [-lam, lam + 1], [lam + 1, -lam]])
    a = fc1[:, :2] * fc1[:, 1:].inv()
    return fc1, fc2, U.T * fc1[:, 2], (U.T * a * U).applyfunc(sp.cancel), fc2 * V


def _cases():
    for a, b in itertools.permutations(range(3), 2):
        c = 3 - a - b
        yield a, b, c


def accuracy(lam: float) -> float:
    """Exact accuracy of ``handcrafted_3(lam)`` from logits = fc2 |fc1 x| (24 cone measures)."""
    from symest.cones import Cone, gaussian_measure

    fc1 = np.array([[1, -lam - 1, lam], [-1, -lam, lam + 1]], dtype=float)
    fc2 = np.array([[1, 1], [-lam, lam + 1], [lam + 1, -lam]], dtype=float)
    eye = np.eye(3)
    total = 0.0
    for s in itertools.product((1, -1), repeat=2):
        logits = fc2 @ (np.array(s)[:, None] * fc1)
        for a, b, c in _cases():
            rows = [s[0] * fc1[0], s[1] * fc1[1], eye[a] - eye[b], eye[b] - eye[c]]
            rows += [logits[b] - logits[k] for k in range(3) if k != b]
            total += gaussian_measure(Cone(np.array(rows))).value
    return total


def derive(model) -> Derivation:
    d = Derivation("handcrafted 2nd_argmax n=3: logits = fc2 |fc1 x|, accuracy(lambda)", model=MODEL,
                   task="2nd_argmax", seq_len=3, hidden=4,
                   description="ARC's handcrafted n = 3 construction; exact accuracy as a function of lambda.")
    d.check_model(model)
    lam = -w("W_oh", 1, 0)
    fc1, fc2, w_hi, w_hh, w_oh = family(lam)
    for name, mat in (("W_hi", w_hi), ("W_hh", w_hh), ("W_oh", w_oh)):
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                if (name, i, j) == ("W_oh", 1, 0):
                    continue
                d.check(f"{name}[{i},{j}]", agree(w(name, i, j), mat[i, j], 32),
                        text="lambda := -W_oh[1,0]; the weight matches its lambda-formula")
    a = sp.Symbol("a", real=True)
    d.deduce("u ReLU(u^T z) = z", sp.Eq(sp.Max(a, 0) - sp.Max(-a, 0), a, evaluate=False),
             text="each z-component is stored as the pair (ReLU(z), ReLU(-z)) in neurons (0, 3) and (1, 2)")
    d.deduce("v ReLU(u^T z) = |z|", sp.Eq(sp.Max(a, 0) + sp.Max(-a, 0), sp.Abs(a), evaluate=False))
    lsym = sp.Symbol("lam", positive=True)
    f1, _f2, _wi, _wh, _wo = family(lsym)
    shift = f1[:, :2] * f1[:, 1:].inv()
    x0, x1, x2 = x(0), x(1), x(2)
    z0 = f1[:, 2] * x0
    z1 = shift * z0 + f1[:, 2] * x1
    z2 = shift * z1 + f1[:, 2] * x2
    want = f1 * sp.Matrix([x0, x1, x2])
    d.deduce("z_2 = fc1 x", sp.And(*[sp.Eq(z2[i], want[i], evaluate=False) for i in range(2)]),
             text="u u^T = 2 I, so u W_hh h = A z and u W_hi = fc1[:, 2]: the state is the linear recursion "
                  "z_t = A z_{t-1} + fc1[:, 2] x_t with A a shift; hence logits = W_oh h_2 = fc2 |fc1 x|")
    xs = sp.Matrix([x0, x1, x2])
    z = fc1 * xs
    branches = []
    for s in itertools.product((1, -1), repeat=2):
        logits = fc2 * sp.Matrix([s[0] * z[0], s[1] * z[1]])
        sub = Derivation(f"sign z = ({'+' if s[0] > 0 else '-'},{'+' if s[1] > 0 else '-'})")
        for a_, b_, c_ in _cases():
            wins = [sp.expand(logits[b_] - logits[k]) >= 0 for k in range(3) if k != b_]
            sub.compute(f"correct, x{a_} > x{b_} > x{c_}",
                        measure(xs[a_] - xs[b_] >= 0, xs[b_] - xs[c_] >= 0, *wins), stratum=(a_, b_),
                        text=f"target {b_}: logit {b_} beats the others on this sign region")
        branches.append(Branch(sub.name, [sp.expand(s[0] * z[0]) >= 0, sp.expand(s[1] * z[1]) >= 0], sub))
    d.split("sign regions of fc1 x", branches)
    return d
