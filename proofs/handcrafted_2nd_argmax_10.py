r"""ARC's handcrafted n = 10 model: the max structure, exact accuracy with argmax's tie rule.

Neurons (0-indexed, after step t, m_t = max(0, x_0..x_{t-1}), p = x_t):

* 0..9, a delay line: neuron 9 - j holds ReLU(x_{t-j});
* 20 holds m_t, 19 holds ReLU(x_t - m_t), 21 holds ReLU(m_t - x_t)  (so 19 + 20 = m_{t+1} and
  20 + 19 - 21 = x_t: ReLU(a - b) = max(a, b) - b);
* 10..18: neuron k holds ReLU(S_k - x_t) with S_k = max(0, x_i : i < t, i != t - (19 - k)).

Induction over t, one piecewise-linear identity per neuron (each checked by exhaustive case
analysis after substituting the weights' exact values), gives at t = 9

    logit_i = ReLU(x_i) + 2 max(0, max_{j != i} x_j)        for every i.

So with at least two positive inputs (top two m1 > m2 > 0) the second largest wins by m1 - m2 and
everything else loses by at least m2 - ReLU(x_c) > 0: correct. The other 11/1024 of the mass is
decided by structural ties, broken by argmax's first-index rule:

* exactly one positive input, at a (10 orthants of mass 2^-10): logit_a = x_a and every other
  logit equals 2 x_a, so the prediction is the first index != a; it is right iff that position
  holds the largest of the 9 negative inputs: probability 1/9 (exchangeability);
* no positive input (mass 2^-10): all logits are 0, the prediction is 0, right iff x_0 is the
  second largest: probability 1/10.

Accuracy = 1013/1024 + 10/(1024 * 9) + 1/(1024 * 10), exactly (floating-point sampling may break
the structural ties differently, by rounding). The weights are checked exactly (32 bits each: a
handcrafted model's ledger is its specification, not an explanation of training).
"""

from __future__ import annotations

import sympy as sp

from symest.derivation import Branch, Derivation, w, x

MODEL = "handcrafted_2nd_argmax_10"
D, N = 22, 10


def _exact_claim(model, name: str, key: str) -> sp.Expr:
    arr = model.weights[key]
    parts = []
    for idx in _indices(arr.shape):
        parts.append(sp.Eq(w(name, *idx), sp.Integer(int(arr[idx])) if float(arr[idx]).is_integer()
                           else sp.Float(float(arr[idx]))))
    return sp.And(*parts)


def _indices(shape):
    import itertools

    return itertools.product(*[range(s) for s in shape])


def _state(t0: bool = False):
    """Abstract state after step t (symbols) and the claimed state after step t + 1."""
    nonneg = dict(nonnegative=True, real=True)
    dl = [sp.Symbol(f"D{j}", **nonneg) for j in range(10)]
    m = sp.Symbol("m", **nonneg)
    p, y = sp.Symbol("p", real=True), sp.Symbol("y", real=True)
    s = {k: sp.Symbol(f"S{k}", **nonneg) for k in range(10, 19)}
    relu = lambda e: sp.Max(e, 0, evaluate=False)  # noqa: E731
    h = dl + [relu(s[k] - p) for k in range(10, 19)] + [relu(p - m), m, relu(m - p)]
    if t0:  # before step 0 the state is zero; after it: m = 0, S_k = 0
        new = [0] * 9 + [relu(y)] + [relu(-y)] * 9 + [relu(y), sp.Integer(0), relu(-y)]
        return [sp.Integer(0)] * D, new, y
    mx = sp.Max(m, p, evaluate=False)
    new = dl[1:] + [relu(y)] + [relu(sp.Max(s[k + 1], p, evaluate=False) - y) for k in range(10, 18)] + [relu(m - y)]
    new += [relu(y - mx), mx, relu(mx - y)]
    return h, new, y


def derive(model) -> Derivation:
    d = Derivation("handcrafted 2nd_argmax n=10: logit_i = ReLU(x_i) + 2 max(0, max_{j!=i} x_j)", model=MODEL,
                   task="2nd_argmax", seq_len=10, hidden=22,
                   description="ARC's handcrafted max-structure RNN; errors only where fewer than two inputs "
                               "are positive, decided by argmax's first-index tie rule.")
    d.check_model(model)
    d.check("W_hi exact", _exact_claim(model, "W_hi", "rnn.weight_ih_l0"))
    d.check("W_hh exact", _exact_claim(model, "W_hh", "rnn.weight_hh_l0"))
    d.check("W_oh exact", _exact_claim(model, "W_oh", "linear.weight"))
    facts = ["W_hi exact", "W_hh exact", "W_oh exact"]
    for label, t0 in (("base step", True), ("inductive step", False)):
        h, new, y = _state(t0)
        claims = []
        for k in range(D):
            pre = sum(w("W_hh", k, j) * h[j] for j in range(D)) + w("W_hi", k) * y
            claims.append(sp.Eq(sp.Max(pre, 0, evaluate=False), new[k], evaluate=False))
        d.deduce(label, sp.And(*claims), assuming=facts,
                 text=("state after step 0 from the zero state" if t0 else
                       "if the state after step t is the invariant (D_j = ReLU(x_{t-9+j}), m = m_t, p = x_t, "
                       "S_k as in the docstring), the state after step t + 1 is the invariant again, with "
                       "m_{t+1} = max(m, p) and S'_k = max(S_{k+1}, p) (the same maxima, one input later)"))
    h, _new, _y = _state(False)
    p = sp.Symbol("p", real=True)
    outs = []
    for i in range(N):
        logit = sum(w("W_oh", i, j) * h[j] for j in range(D))
        if i < 9:
            want = h[i] + 2 * sp.Max(sp.Symbol(f"S{10 + i}", nonnegative=True, real=True), p, evaluate=False)
        else:
            want = h[9] + 2 * sp.Symbol("m", nonnegative=True, real=True)
        outs.append(sp.Eq(logit, want, evaluate=False))
    d.deduce("logits", sp.And(*outs), assuming=facts,
             text="at t = 9: D_i = ReLU(x_i), max(S_{10+i}, x_9) = max(0, x_j : j != i), m = max(0, x_0..x_8); "
                  "so logit_i = ReLU(x_i) + 2 max(0, max_{j != i} x_j)")
    m2, e1, q = (sp.Symbol(nm, positive=True) for nm in ("m2", "e1", "q"))
    m1, r = m2 + e1, m2 / (1 + q)  # m1 > m2 > 0 the top two inputs, 0 < r < m2 any other ReLU(x_c)
    d.deduce("two positive inputs: correct",
             sp.And((m2 + 2 * m1) - (m1 + 2 * m2) > 0, (m2 + 2 * m1) - (r + 2 * m1) > 0),
             text="logit(second) - logit(largest) = m1 - m2 > 0 and logit(second) - logit(other) = m2 - ReLU(x_c) > 0 "
                  "(also when ReLU(x_c) = 0)")
    d.compute("at least two positive inputs", sp.Rational(1013, 1024),
              text="P(at least two of 10 iid N(0,1) inputs are positive) = 1 - 11/1024; all correct")
    branches = []
    for a in range(N):
        sub = Derivation(f"only x{a} > 0")
        first = 1 if a == 0 else 0
        sub.compute("tie broken correctly", sp.Rational(1, 1024 * 9),
                    text=f"logits: x{a} at {a}, 2 x{a} elsewhere; argmax takes index {first}, right iff x{first} is "
                         "the largest of the 9 negative inputs: (1/1024)(1/9)")
        cons = [x(a) >= 0] + [x(j) <= 0 for j in range(N) if j != a]
        branches.append(Branch(sub.name, cons, sub))
    sub = Derivation("no positive input")
    sub.compute("tie broken correctly", sp.Rational(1, 1024 * 10),
                text="all logits 0; argmax takes index 0, right iff x0 is the second largest: (1/1024)(1/10)")
    branches.append(Branch(sub.name, [x(j) <= 0 for j in range(N)], sub))
    d.split("fewer than two positive inputs", branches, verify="never")
    return d
