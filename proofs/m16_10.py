r"""M_{16,10} (2nd_argmax, hidden 16, length 10): the known partial explanation, and what is left.

What ARC knows (``/work/shared/reference/estimation.md``): after rescaling, two neurons form a
nearly isolated running-max circuit — one (call it A) holds about max(0, x_0..x_{t-2}), the other
(B) about max(0, x_0..x_{t-1}) - max(0, x_0..x_{t-2}) = ReLU(x_{t-1} - A), since
ReLU(a - b) = max(a, b) - b; further neurons (C) read A + B - x_{t-1} = max(...) - x_{t-1}. The
other neurons (11 of 16 in ARC's model) are densely connected and unexplained.

This derivation finds such circuits in whatever weights it is given (neuron numbers differ
between models; ARC's example model has A = 2, B = 4, C = 7 among others) and states them as
claims with the precision the weights actually have:

* after standardization, A's ideal incoming weights are W_hi[A] = 0, W_hh[A, A] = W_hh[A, B] = 1;
  B's are W_hi[B] = 1, W_hh[B, A] = W_hh[B, B] = -1; a C neuron's W_hi[C] = -1,
  W_hh[C, A] = W_hh[C, B] = 1. Each nonzero ideal weight is an agreement check (k bits for 1 part
  in 2^k, k measured; these are the identities' approximation errors), W_hi[A] ~ 0 and the
  circuit's isolation (every other weight into A and B is small) are ``Abs(w) < 2^-k`` checks
  under the "small" prior (k bits);
* the ideal circuit's one-step identities are deduced (piecewise-linear case analysis, 0 bits):
  ReLU(m + ReLU(p - m)) = max(m, p) and ReLU(y - m - ReLU(p - m)) = ReLU(y - max(m, p)) for m >= 0,
  so A is the running max of the positive parts and B the amount by which the newest input exceeds
  it;
* nothing here predicts the accuracy: the remaining neurons are not explained, so the estimate is
  an explicit presumption with no information (mean 1/2, the standard deviation of a uniform
  prior, 1/sqrt(12)); the residual surprise is then the no-explanation baseline, honestly.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from symest.derivation import SMALL, Derivation, Standardize, agree, agreement_bits, apply_reparametrization, w

MODEL = "2nd_argmax_16_10"
MIN_BITS = 3  # weights must match their ideal values to 1 part in 8 to count as a circuit
SMALL_CAP = 20


def _bits_to(v: float, target: float) -> int:
    return agreement_bits(v, target, cap=SMALL_CAP)


def find_circuits(std) -> list[tuple[int, int, list[int]]]:
    """(A, B, [C...]) running-max circuits in standardized weights (A, B as in the docstring)."""
    w_hi, w_hh = std.W_hi[:, 0], std.W_hh
    d = std.hidden
    found = []
    for a in range(d):
        for b in range(d):
            if a == b:
                continue
            ideal = [(w_hh[a, a], 1.0), (w_hh[a, b], 1.0), (w_hi[b], 1.0), (w_hh[b, a], -1.0), (w_hh[b, b], -1.0)]
            if abs(w_hi[a]) > 2.0**-MIN_BITS or any(_bits_to(v, t) < MIN_BITS for v, t in ideal):
                continue
            cs = [c for c in range(d) if c not in (a, b) and w_hi[c] < 0
                  and _bits_to(w_hh[c, a], 1.0) >= MIN_BITS and _bits_to(w_hh[c, b], 1.0) >= MIN_BITS]
            found.append((a, b, cs))
    return found


def _small(d: Derivation, sym: sp.Symbol, v: float, what: str) -> None:
    k = min(SMALL_CAP, max(0, math.floor(-math.log2(abs(v))))) if v != 0 else SMALL_CAP
    if k > 0:
        d.check(f"{what}: |{sym.name}| < 2^-{k}", sp.Abs(sym) < sp.Integer(2) ** -k, prior=SMALL,
                text=f"measured {v:.3g}")


def derive(model) -> Derivation:
    d = Derivation("M_{16,10}: the running-max circuit (partial explanation)", model=MODEL, task="2nd_argmax",
                   description="ARC's known partial explanation of the 432-parameter model; the rest is unexplained.")
    d.check_model(model)
    std, _ok, _note, _ = apply_reparametrization(model, Standardize())
    d.standardize()
    circuits = find_circuits(std)
    m, p, y = sp.Symbol("m", nonnegative=True), sp.Symbol("p", real=True), sp.Symbol("y", real=True)
    relu = lambda e: sp.Max(e, 0, evaluate=False)  # noqa: E731
    if circuits:
        d.deduce("running max", sp.Eq(relu(m + relu(p - m)), sp.Max(m, p, evaluate=False), evaluate=False),
                 text="A' = ReLU(A + B) with A = max so far, B = ReLU(x - A): the new running max")
        d.deduce("newest excess", sp.Eq(relu(y - m - relu(p - m)), relu(y - sp.Max(m, p, evaluate=False)),
                                        evaluate=False),
                 text="B' = ReLU(x_new - A - B) = ReLU(x_new - running max)")
        d.deduce("max minus newest", sp.Eq(relu(m + relu(p - m) - y), relu(sp.Max(m, p, evaluate=False) - y),
                                           evaluate=False),
                 text="C' = ReLU(A + B - x_new) = ReLU(running max - x_new)")
    w_hi, w_hh = std.W_hi[:, 0], std.W_hh
    explained: set[int] = set()
    for a, b, cs in circuits:
        tag = f"circuit A={a} B={b}"
        for (i, j, target) in ((a, a, 1), (a, b, 1), (b, a, -1), (b, b, -1)):
            v = float(w_hh[i, j])
            k = agreement_bits(v, target, cap=SMALL_CAP)
            d.check(f"{tag}: W_hh[{i},{j}] ~ {target}", agree(w("W_hh", i, j), target, k),
                    text=f"measured {v:.6g}: identity error 2^-{k}")
        k = agreement_bits(float(w_hi[b]), 1.0, cap=SMALL_CAP)
        d.check(f"{tag}: W_hi[{b}] ~ 1", agree(w("W_hi", b), 1, k), text=f"measured {w_hi[b]:.6g}")
        _small(d, w("W_hi", a), float(w_hi[a]), f"{tag}: A ignores the input")
        for i in (a, b):
            for j in range(std.hidden):
                if j not in (a, b):
                    _small(d, w("W_hh", i, j), float(w_hh[i, j]), f"{tag}: isolation")
        for c in cs:
            for j in (a, b):
                v = float(w_hh[c, j])
                k = agreement_bits(v, 1.0, cap=SMALL_CAP)
                d.check(f"{tag}: C={c} reads W_hh[{c},{j}] ~ 1", agree(w("W_hh", c, j), 1, k),
                        text=f"measured {v:.6g}")
            d.check(f"{tag}: C={c} subtracts the input", w("W_hi", c) < 0)
        explained |= {a, b, *cs}
    rest = sorted(set(range(model.hidden)) - explained)
    d.presume("unexplained neurons", f"neurons {rest} ({len(rest)} of {model.hidden}) are not explained: no "
              "information about the accuracy (uniform prior: mean 1/2, sd 1/sqrt(12))",
              value=0.5, uncertainty=1 / math.sqrt(12))
    return d


def summary(model) -> dict:
    """Circuits found and the fraction of neurons they cover (for reports)."""
    std, _ok, _note, _ = apply_reparametrization(model, Standardize())
    circuits = find_circuits(std)
    covered = {n for a, b, cs in circuits for n in (a, b, *cs)}
    return {"circuits": circuits, "explained_neurons": sorted(covered), "fraction": len(covered) / model.hidden,
            "ideal_weight_bits": [int(np.min([agreement_bits(std.W_hh[a, a], 1), agreement_bits(std.W_hh[a, b], 1)]))
                                  for a, b, _ in circuits]}
