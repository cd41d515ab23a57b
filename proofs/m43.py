r"""M_{4,3} (2nd_argmax, hidden 4, length 3): ARC's region split with a latent-coupling presumption.

ARC's "original" hand-derived estimator for M_{4,3} (``/work/shared/reference/estimation.md``),
reconstructed as a derivation:

1. standardize (0 bits) and check the signs of the 16 entries of W_hh (16 bits; ARC's notes charge
   about 16 bits for sign/ratio checks and leave the bits of the volume computations open);
2. split input space exactly into the linear pieces of the first two steps (cones in R^3 that
   leave x_2 free: on each, h_1 = H x is linear), then each piece into the 6 cases
   (position of the largest, of the second largest) — the strata;
3. inside a sub-region C, the last step's pre-activations z = W_hh h_1 + W_hi x_2 are linear;
   compute p_j = P(z_j > 0 | C) exactly (Gaussian cone volumes);
4. presume (the approximation): each indicator 1[z_j > 0] is replaced by a variable S_j
   independent of z_j but coupled to the others through one latent Z ~ Bernoulli(q), q = 0.2,
   with mean p_j and variance p_j(1 - p_j): S_j = p_j - sqrt(q/(1-q)) s_j if Z = 0 and
   p_j + sqrt((1-q)/q) s_j if Z = 1, s_j = sqrt(p_j (1 - p_j)), mirrored for p_j > 1/2. Given Z
   the logits W_oh diag(S) z are linear, so P(correct in C) = (1 - q) V_0 + q V_1 with V_Z the
   Gaussian volume of C ∩ {logit_target >= the others}. The stated uncertainty of each
   presumption is the spread of its two scenarios, sqrt(q (1 - q)) |V_1 - V_0|.

:func:`derive` is this estimator; :func:`derive_coarse` is a cheaper variant that presumes one set
of p_j per two-step piece, shared by its 6 cases (fewer volume computations). ARC's second,
"symmetric" estimator tracks the covariance of error terms around the model's antisymmetric
neuron pairing; its details are not in the reference notes, so it is **not** reproduced here.
All volumes are exact 3-D cone measures (:mod:`symest.cones`), billed by their FLOPs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy as sp

from symest.derivation import (
    Branch,
    Computed,
    Derivation,
    Standardize,
    apply_reparametrization,
    constraint_normals,
    linear_pieces,
    measure,
    piece_constraints,
    w,
    x,
)

MODEL = "2nd_argmax_4_3"
Q = 0.2


def latent_values(p: float, q: float = Q) -> tuple[float, float]:
    """(S if Z = 0, S if Z = 1): mean p, variance p (1 - p), Z ~ Bernoulli(q); mirrored for p > 1/2."""
    s = math.sqrt(max(p * (1 - p), 0.0))
    lo, hi = math.sqrt(q / (1 - q)) * s, math.sqrt((1 - q) / q) * s
    return (p - lo, p + hi) if p <= 0.5 else (p + lo, p - hi)


def _symbolic_state(d: int, pattern: tuple[int, ...]) -> sp.Matrix:
    """Step-2 pre-activations z = W_hh h_1 + W_hi x_2 on a two-step piece (linear in x)."""
    w_hi = sp.Matrix(d, 1, lambda i, _j: w("W_hi", i))
    w_hh = sp.Matrix(d, d, lambda i, j: w("W_hh", i, j))
    h = sp.zeros(d, 1)
    for t in range(2):
        pre = w_hh * h + w_hi * x(t)
        h = sp.Matrix([pre[i] if pattern[t * d + i] else 0 for i in range(d)])
    return (w_hh * h + w_hi * x(2)).applyfunc(sp.expand)


def _cases():
    for a, b in itertools.permutations(range(3), 2):
        yield a, b, 3 - a - b


def _case_constraints(a: int, b: int, c: int) -> list:
    return [x(a) - x(b) >= 0, x(b) - x(c) >= 0]


def _coupled_win(z: sp.Matrix, target: int, p_names: list[str], mass_name: str, q: float, extra: list):
    """Callable: P(correct in the region) under the latent-coupling presumption."""

    def value(ctx) -> Computed:
        mass = ctx.result(mass_name)
        if mass <= 0:
            return Computed(0.0, 0, 0.0, False)
        ps = [min(max(ctx.result(nm) / mass, 0.0), 1.0) for nm in p_names]
        zrows = constraint_normals([zj >= 0 for zj in z], ctx.n, ctx.values)  # row j: z_j = zrows[j] . x
        w_oh = ctx.model.W_oh
        flops = 0
        vols = []
        for scenario in (0, 1):
            s = np.array([latent_values(p, q)[scenario] for p in ps])
            logits = w_oh @ (s[:, None] * zrows)  # (3, n): logits = L x
            rows = np.array([logits[target] - logits[k] for k in range(logits.shape[0]) if k != target])
            m = ctx.measure(*extra, rows)
            vols.append(m.value)
            flops += m.flops + 2 * rows.size + 4 * len(ps) * 3
        v0, v1 = vols
        return Computed((1 - q) * v0 + q * v1, flops, math.sqrt(q * (1 - q)) * abs(v1 - v0), False)

    value.__qualname__ = "latent_coupling_win"
    return value


def _start(model, name: str) -> tuple[Derivation, object]:
    d = Derivation(name, model=MODEL, task="2nd_argmax", seq_len=3, hidden=model.hidden,
                   description="ARC's region split with a presumption of independence coupled through a latent "
                               f"Bernoulli(q = {Q}); a reconstruction from ARC's notes.")
    d.check_model(model)
    std, _ok, _note, _ = apply_reparametrization(model, Standardize())
    d.standardize()
    for i in range(model.hidden):
        for j in range(model.hidden):
            v = float(std.W_hh[i, j])
            if v != 0:
                sym = w("W_hh", i, j)
                d.check(f"sign W_hh[{i},{j}]", sym > 0 if v > 0 else sym < 0)
    return d, std


def _piece_name(pattern: tuple[int, ...], d: int) -> str:
    return "h0=" + "".join("+" if b else "0" for b in pattern[:d]) + " h1=" + "".join(
        "+" if b else "0" for b in pattern[d:])


def derive(model, q: float = Q) -> Derivation:
    """ARC's original estimator: two-step pieces x cases, p_j per sub-region, latent coupling."""
    dd = model.hidden
    d, std = _start(model, f"M_{{4,3}} original: pieces x cases, latent coupling q = {q}")
    pieces = []
    for pattern in linear_pieces(std, steps=2):
        z = _symbolic_state(dd, pattern)
        sub = Derivation(_piece_name(pattern, dd))
        cases = []
        for a, b, c in _cases():
            cs = Derivation(f"x{a} > x{b} > x{c}")
            cs.compute("mass", measure(), contributes=False, text="Gaussian volume of the sub-region")
            names = []
            for j in range(dd):
                cs.compute(f"P(z{j}>0)", measure(z[j] >= 0), contributes=False,
                           text=f"volume where neuron {j} is active at the last step")
                names.append(f"P(z{j}>0)")
            cs.presume("latent coupling", f"1[z_j > 0] -> S_j independent of z_j, coupled by Z ~ Bernoulli({q}); "
                       f"target {b}", value=_coupled_win(z, b, names, "mass", q, []), uncertainty=None)
            cases.append(Branch(cs.name, _case_constraints(a, b, c), cs, stratum=(a, b)))
        sub.split("cases", cases)
        pieces.append(Branch(sub.name, piece_constraints(dd, 2, pattern), sub))
    d.split("two-step pieces", pieces)
    return d


def derive_coarse(model, q: float = Q) -> Derivation:
    """Cheaper variant: p_j per two-step piece (shared by its cases), one presumption per case."""
    dd = model.hidden
    d, std = _start(model, f"M_{{4,3}} coarse: pieces, shared p_j, latent coupling q = {q}")
    pieces = []
    for pattern in linear_pieces(std, steps=2):
        z = _symbolic_state(dd, pattern)
        sub = Derivation(_piece_name(pattern, dd))
        sub.compute("mass", measure(), contributes=False)
        names = []
        for j in range(dd):
            sub.compute(f"P(z{j}>0)", measure(z[j] >= 0), contributes=False)
            names.append(f"P(z{j}>0)")
        for a, b, c in _cases():
            sub.presume(f"latent coupling, x{a} > x{b} > x{c}",
                        f"as in derive(), with the piece's p_j for every case; target {b}",
                        value=_coupled_win(z, b, names, "mass", q, _case_constraints(a, b, c)), uncertainty=None,
                        stratum=(a, b))
        pieces.append(Branch(sub.name, piece_constraints(dd, 2, pattern), sub))
    d.split("two-step pieces", pieces)
    return d
