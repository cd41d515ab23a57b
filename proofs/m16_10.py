r"""M_{16,10} (2nd_argmax, hidden 16, length 10): the running-max circuit, and what is left.

**What ARC knows** (``/work/shared/reference/estimation.md``): in ARC's model, after rescaling, a
neuron A (their 2) holds about P_{t-1} = max(0, x_0..x_{t-2}) and a neuron B (their 4) about
B_t = ReLU(x_{t-1} - A_t) = P_t - P_{t-1} (ReLU(a - b) = max(a, b) - b), so A + B is the running
max P_t (P_t = max(0, x_0..x_{t-1}), the state after t inputs); "reader" neurons hold
ReLU(A + B - x_new) = ReLU(running max - newest) and similar leave-one-out maxima minus the
newest input; 11 of 16 neurons are densely connected and unexplained. The ideal update is
A' = ReLU(A + B), B' = ReLU(x - A - B), C' = ReLU(A + B - x), D' = ReLU(A - x).

**What this derivation finds in our zoo model** (``2nd_argmax_16_10``, trained by symest; the
finder reads everything below off the weights, nothing is hard-coded; errors are RMS of the
activation minus its ideal function in x-units over all steps of 2^16 seeded Gaussian sequences,
"relative" divides by the ideal's RMS, bits = -log2 relative):

* **B = neuron 3** is clean: W_hh[3, 3] = -0.965 (4 bits from -1), B's weights from the other
  neurons are below 2^-4; its activation differs from ReLU(x_{t-1} - P_{t-1}) by RMS 0.020
  (relative 0.048, 4.4 bits).
* **There is no A neuron.** The neurons with |W_hi| <= 0.13 (0, 1, 4, 6, 7, 10, 13) are not
  running maxima: each alone correlates only 0.47-0.85 with P_{t-1} at t = n, and standardizing
  them by W_hi (ARC's |W_hi| = 1) is meaningless. Instead A is *distributed* over 7 input-free
  carriers {0, 4, 6, 7, 10, 13, 14}: in units where B reads each carrier with weight exactly -1
  (a positive rescaling), their sum a tracks P_{t-1} with RMS 0.096 (relative 0.078, 3.7 bits;
  at t = n RMS 0.167, relative 0.10), a + B tracks P_t with relative RMS 0.070, and the weights
  obey the integrator law a' = a + B approximately: B's deposit sum_j W_hh[j, 3] = 0.983
  (5 bits), the input term sum_j W_hi[j] = 0.002 (8 bits), the column sums
  sum_i W_hh[i, j] = 1 for the main carriers 0, 6, 13 (91% of a on samples) to 5-6 bits but
  only to 2-3 bits for the minor ones (4: 0.79, 7: 1.13, 10: 1.33, 14: 1.10); leaks into a from
  the other neurons are below 2^-4. Carriers' ReLUs clip rarely except the minor 7 (20%) and
  14 (59%).
* **Readers**: neuron 5 ~ ReLU(P_{t-1} - x_{t-1}) (reads B with 1.075 and the carriers 0, 4, 6,
  13 with 0.98-1.04; RMS 0.133, relative 0.087, 3.5 bits) and neuron 15 ~ ReLU(P_{t-2} - x_{t-1})
  (the lagged reader D: B weight -0.078, carrier 0 weight 1.006; RMS 0.113, relative 0.079,
  3.7 bits). Neither is isolated at the weight level: they read other input-driven neurons with
  weights up to 0.28 (5) and 0.18 (15); on samples those inputs largely cancel (their RMS is
  0.12 and 0.07 against worst cases 1.05 and 0.54). Their weights from the minor carriers fail
  outright (W_hh[5, 10] = 2.1, W_hh[5, 14] = -0.26, W_hh[15, 14] = 4.9; not claimed).
  Neurons 2, 8, 9, 12 read a like readers but mix in other readers with weights up to 1.3
  (partial readers, not claimed).
* Unexplained: neurons 1, 2, 8, 9, 11, 12 and how the output layer turns all this into the
  2nd argmax. Ledger: 55 checks, 242 explanation bits (78 of agreement, 164 of "small" checks,
  which the ledger files under magnitude), residual 11.02 bits (the no-explanation baseline),
  total 253 bits.

So the circuit is **approximate**, not clean: the ledger states every ideal weight identity as an
agreement check at the precision the weights actually have (k bits for 1 part in 2^k, measured;
identities that fail outright are listed in the step texts, not claimed), the isolation of B and
of a as ``Abs(.) < 2^-k`` checks under the "small" prior, and the ideal circuit's one-step
identities as deductions (piecewise-linear case analysis, 0 bits). Each identified neuron's
measured approximation error (RMS of activation minus its ideal function, in x-units, over all
steps of 2^16 seeded standard-Gaussian sequences) is in the step texts and in :func:`summary`;
those measurements annotate the claims and do not enter the estimate.

**How the finder works** (all criteria are invariant under positive rescaling of neurons, so
they do not depend on units, and take neuron indices from the weights):

1. B candidates: W_hi[b] > 0 and W_hh[b, b] = -1 to ``MIN_BITS`` bits.
2. Carriers of A: neurons j that B reads negatively (W_hh[b, j] < 0), that read B positively
   (W_hh[j, b] > 0) and are input-free relative to that: |W_hi[j]| < 2^-MIN_BITS W_hh[j, b] W_hi[b].
3. Units (a positive Rescale, verified function-preserving by the Derivation API): B by
   1 / W_hi[b] (so W_hi[b] = 1, B in x-units); carrier j by -W_hh[b, j] / W_hi[b] (so
   W_hh[b, j] = -1: B reads exactly -a with a the carriers' sum); input-driven neurons (input
   weight at least 2^-MIN_BITS of their largest input relayed one step, max_j |W_hh[k, j] W_hi[j]|)
   by 1 / |W_hi| (x-units); other input-free neurons so that that largest relayed input is 1
   (ARC's |W_hi| = 1 would be meaningless for them).
4. A circuit is accepted when B's deposit into a is 1 and a's input term is 0, both to
   ``MIN_BITS`` bits. It is *clean* when every stated identity also holds to ``MIN_BITS`` bits.
5. Readers: input-driven neurons with W_hi < 0 whose B weight is 1 (lag 0) or 0 (lag 1) to
   ``MIN_BITS`` bits, whose reading of a — sum_j s_j W_hh[c, j] with s the carriers' shares of a
   predicted from the weights alone (a unit deposit W_hh[:, b] propagated by the carrier block,
   averaged over the n - 1 steps it can persist) — is 1 to ``MIN_BITS`` bits, and whose weights
   from outside the circuit total less than their input weight (1). (Predicted shares for the
   zoo model: 0.17 / 0.57 / 0.23 for carriers 0 / 6 / 13; measured on samples 0.19 / 0.40 / 0.32.)

Which neuron plays which role is advice found by this search; as in ARC's ledgers, naming neurons
costs no bits here (only the claims about their weights do).

**The estimate** stays an explicit presumption with no information (mean 1/2, sd 1/sqrt(12), the
uniform prior): the structure found says nothing yet about how the unexplained neurons and the
output layer rank the second largest input, so the residual surprise is the no-explanation
baseline, honestly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import sympy as sp

from symest.derivation import SMALL, Derivation, Rescale, agree, agreement_bits, w

MODEL = "2nd_argmax_16_10"
MIN_BITS = 3  # an identity must hold to 1 part in 8 to define a circuit
SMALL_CAP = 20
SAMPLES = 1 << 16  # seeded standard-Gaussian sequences for the measured errors (annotations only)
SEED = 0


class Reader(NamedTuple):
    neuron: int
    lag: int  # 0: ReLU(a + B - x) = ReLU(P_{t-1} - x_{t-1}); 1: ReLU(a - x) = ReLU(P_{t-2} - x_{t-1})


class Circuit(NamedTuple):
    b: int
    carriers: tuple[int, ...]
    readers: tuple[Reader, ...]
    clean: bool
    partial: tuple[int, ...] = ()  # read a like readers but fail the B-weight or isolation test: not claimed

    @property
    def neurons(self) -> tuple[int, ...]:
        return (self.b, *self.carriers, *(r.neuron for r in self.readers))


# -- units ---------------------------------------------------------------------------------------


def _weights(model) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(model.W_hi[:, 0], dtype=np.float64), np.asarray(model.W_hh, dtype=np.float64)


def _rescaled(model, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weights after Rescale(c), computed as the Derivation API does."""
    wi, wh = _weights(model)
    return wi * c, wh * c[:, None] / c[None, :]


def _carriers(wi: np.ndarray, wh: np.ndarray, b: int) -> list[int]:
    return [j for j in range(len(wi)) if j != b and wh[b, j] < 0 and wh[j, b] > 0
            and abs(wi[j]) < 2.0**-MIN_BITS * wh[j, b] * wi[b]]


def units(model, cores: list[tuple[int, list[int]]]) -> tuple[np.ndarray, set[int]]:
    """(positive factors c, input-driven neurons) for (B, carriers) pairs (module docstring,
    step 3). A neuron outside the cores is input-driven when its input weight is at least
    2^-MIN_BITS of its largest input relayed one step, max_j |W_hh[k, j] W_hi[j]| (a comparison
    that no rescaling changes); input-driven neurons get x-units (|W_hi| = 1), the others units in
    which that largest relayed input is 1."""
    wi, wh = _weights(model)
    d = len(wi)
    c = np.full(d, np.nan)
    for b, carriers in cores:
        if np.isnan(c[b]):
            c[b] = 1.0 / wi[b]
        for j in carriers:
            if np.isnan(c[j]):
                c[j] = -wh[b, j] / wi[b]
    relayed = np.abs(wh * wi[None, :]).max(axis=1)
    driven: set[int] = set()
    for k in range(d):
        if not np.isnan(c[k]):
            continue
        if abs(wi[k]) > 0 and abs(wi[k]) >= 2.0**-MIN_BITS * relayed[k]:
            c[k] = 1.0 / abs(wi[k])
            driven.add(k)
        else:
            c[k] = 1.0 / relayed[k] if relayed[k] > 0 else 1.0
    return c, driven


def _shares(wh_u: np.ndarray, b: int, carriers: list[int], n: int) -> np.ndarray:
    """The carriers' shares of a predicted from the weights: B's deposit W_hh[S, b] propagated
    by the carrier block W_hh[S, S], averaged over the n - 1 steps a deposit can persist."""
    blk = wh_u[np.ix_(carriers, carriers)]
    cur, tot = wh_u[carriers, b].copy(), np.zeros(len(carriers))
    for _ in range(max(n - 1, 1)):
        tot += cur
        cur = blk @ cur
    s = tot.sum()
    return tot / s if s > 0 else np.full(len(carriers), 1.0 / len(carriers))


# -- the finder ------------------------------------------------------------------------------------


def _small_bits(v: float) -> int:
    return SMALL_CAP if v == 0 else min(SMALL_CAP, max(0, math.floor(-math.log2(abs(v)))))


def _identities(wi_u: np.ndarray, wh_u: np.ndarray, b: int, carriers: list[int], readers: list[Reader]) -> list[tuple]:
    """Every ideal identity of the circuit in its units as (role, kind, name, lhs, target, value,
    bits): kind 'agree' (value = target to 1 part in 2^bits) or 'small' (|value| < 2^-bits);
    role ('B',), ('deposit',), ('carrier', j), ('reader', c) or () for isolation."""
    d = len(wi_u)
    S, inside = list(carriers), {b, *carriers}
    col = lambda k: sum(w("W_hh", j, k) for j in S)  # noqa: E731
    out = [(("B",), "agree", f"B={b} subtracts itself: W_hh[{b},{b}] = -1", w("W_hh", b, b), -1, wh_u[b, b])]
    out += [((), "small", f"B={b} ignores neuron {k}: W_hh[{b},{k}] = 0", w("W_hh", b, k), 0, wh_u[b, k])
            for k in range(d) if k not in inside]
    out.append((("deposit",), "agree", f"A of B={b} gains B: sum_j W_hh[j,{b}] = 1", col(b), 1, wh_u[S, b].sum()))
    out.append(((), "small", f"A of B={b} ignores the input: sum_j W_hi[j] = 0", sum(w("W_hi", j) for j in S), 0,
                wi_u[S].sum()))
    out += [(("carrier", k), "agree", f"A of B={b} keeps carrier {k}: sum_j W_hh[j,{k}] = 1", col(k), 1,
             wh_u[S, k].sum()) for k in S]
    out += [((), "small", f"A of B={b} ignores neuron {k}: sum_j W_hh[j,{k}] = 0", col(k), 0, wh_u[S, k].sum())
            for k in range(d) if k not in inside]
    for r in readers:
        c, role = r.neuron, "CD"[r.lag]
        if r.lag == 0:
            out.append((("reader", c), "agree", f"C={c} reads B={b}: W_hh[{c},{b}] = 1", w("W_hh", c, b), 1,
                        wh_u[c, b]))
        else:
            out.append((("reader", c), "small", f"D={c} ignores B={b}: W_hh[{c},{b}] = 0", w("W_hh", c, b), 0,
                        wh_u[c, b]))
        out += [((), "agree", f"{role}={c} reads carrier {j}: W_hh[{c},{j}] = 1", w("W_hh", c, j), 1, wh_u[c, j])
                for j in S]
        out += [((), "small", f"{role}={c} ignores neuron {k}: W_hh[{c},{k}] = 0", w("W_hh", c, k), 0, wh_u[c, k])
                for k in range(d) if k not in inside]
    return [(role, kind, name, lhs, tgt, float(v),
             agreement_bits(float(v), tgt, cap=SMALL_CAP) if kind == "agree" else _small_bits(float(v)))
            for role, kind, name, lhs, tgt, v in out]


def _readers(wi_u: np.ndarray, wh_u: np.ndarray, b: int, S: list[int], driven: set[int], n: int,
             exclude: set[int]) -> tuple[list[Reader], list[int]]:
    """(readers, partial readers): input-driven neurons subtracting the input whose share-weighted
    reading of the carriers is 1; readers also read B with weight 1 or 0 and are isolated."""
    shares = _shares(wh_u, b, S, n)
    inside = {b, *S}
    readers, partial = [], []
    for k in sorted(driven - inside - exclude):
        if wi_u[k] >= 0 or agreement_bits(float(wh_u[k, S] @ shares), 1.0, cap=SMALL_CAP) < MIN_BITS:
            continue
        lag = (0 if agreement_bits(wh_u[k, b], 1.0, cap=SMALL_CAP) >= MIN_BITS
               else 1 if _small_bits(float(wh_u[k, b])) >= MIN_BITS else None)
        off = sum(abs(wh_u[k, m]) for m in range(len(wi_u)) if m not in inside)
        if lag is not None and off < 1.0:
            readers.append(Reader(k, lag))
        else:
            partial.append(k)
    return readers, partial


def find_circuits(model) -> list[Circuit]:
    """Running-max circuits (B, carriers of A, readers) in any RNN's weights, strongest B first."""
    wi, wh = _weights(model)
    d, n = len(wi), model.seq_len
    found: list[Circuit] = []
    used: set[int] = set()
    cands = [b for b in range(d) if wi[b] > 0 and agreement_bits(wh[b, b], -1.0, cap=SMALL_CAP) >= MIN_BITS]
    cands.sort(key=lambda b: -agreement_bits(wh[b, b], -1.0, cap=SMALL_CAP))
    for b in cands:
        S = [j for j in _carriers(wi, wh, b) if j not in used]
        if b in used or not S:
            continue
        c, driven = units(model, [(b, S)])
        wi_u, wh_u = _rescaled(model, c)
        if (agreement_bits(wh_u[S, b].sum(), 1.0, cap=SMALL_CAP) < MIN_BITS
                or _small_bits(float(wi_u[S].sum())) < MIN_BITS):
            continue
        readers, partial = _readers(wi_u, wh_u, b, S, driven, n, used)
        clean = all(row[-1] >= MIN_BITS for row in _identities(wi_u, wh_u, b, S, readers))
        found.append(Circuit(b, tuple(S), tuple(readers), clean, tuple(partial)))
        used |= {b, *S, *(r.neuron for r in readers)}
    return found


# -- measured approximation errors (annotations) ---------------------------------------------------


def _run(model, c: np.ndarray, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs (N, n), pre-activations and activations in the rescaled units (n + 1, N, d)) on
    seeded standard-Gaussian inputs."""
    wi_u, wh_u = _rescaled(model, c)
    xs = np.random.default_rng(seed).standard_normal((samples, model.seq_len))
    z = np.zeros((model.seq_len + 1, samples, len(wi_u)))
    h = np.zeros_like(z)
    for t in range(model.seq_len):
        z[t + 1] = h[t] @ wh_u.T + np.outer(xs[:, t], wi_u)
        h[t + 1] = np.maximum(z[t + 1], 0.0)
    return xs, z, h


def _err(got: np.ndarray, ideal: np.ndarray) -> dict[str, float]:
    rms = float(np.sqrt(np.mean((got - ideal) ** 2)))
    scale = float(np.sqrt(np.mean(ideal**2)))
    rel = rms / scale if scale > 0 else math.inf
    bits = min(52.0, -math.log2(rel)) if 0 < rel < math.inf else (52.0 if rel == 0 else 0.0)
    return {"rms": rms, "relative": rel, "bits": bits}


def measure(model, circuit: Circuit, c: np.ndarray | None = None, samples: int = SAMPLES, seed: int = SEED) -> dict:
    """Measured approximation errors of the circuit's neurons against their ideal functions
    (x-units, pooled over steps t = 1..n of ``samples`` seeded standard-Gaussian sequences):
    B ~ ReLU(x_{t-1} - P_{t-1}), a = sum of carriers ~ P_{t-1}, a + B ~ P_t, a lag-0 reader
    ~ ReLU(P_{t-1} - x_{t-1}), a lag-1 reader ~ ReLU(P_{t-2} - x_{t-1}); P_t = max(0, x_0..x_{t-1})."""
    c = units(model, [(circuit.b, list(circuit.carriers))])[0] if c is None else c
    xs, z, h = _run(model, c, samples, seed)
    n, S = model.seq_len, list(circuit.carriers)
    P = np.zeros((n + 1, samples))
    P[1:] = np.maximum.accumulate(np.maximum(xs, 0.0), axis=1).T
    Pm = np.concatenate([np.zeros((1, samples)), P[:-1]])  # P_{t-1}, with P_{-1} = 0
    t = slice(1, n + 1)
    xt = xs.T  # x_{t-1} at row t - 1
    a = h[t][:, :, S].sum(axis=2)
    out = {"B": _err(h[t][:, :, circuit.b], np.maximum(xt - Pm[t], 0.0)),
           "a": _err(a, Pm[t]), "a+B": _err(a + h[t][:, :, circuit.b], P[t])}
    for r in circuit.readers:
        prev = Pm[t] if r.lag == 0 else np.concatenate([np.zeros((1, samples)), Pm[1:n]])
        out[f"reader {r.neuron}"] = _err(h[t][:, :, r.neuron], np.maximum(prev - xt, 0.0))
    tot = a.mean()
    out["carrier share"] = {j: float(h[t][:, :, j].mean() / tot) if tot > 0 else 0.0 for j in S}
    out["carrier clips"] = {j: float(np.mean(z[2:][:, :, j] < -1e-9)) for j in S}  # ReLU cuts a negative value
    out["a at t=n"] = _err(a[-1], Pm[n])
    return out


def _fmt(e: dict[str, float]) -> str:
    return f"RMS {e['rms']:.3g} (relative {e['relative']:.3g}, {e['bits']:.1f} bits)"


# -- the derivation --------------------------------------------------------------------------------


def _state(d: Derivation, kind: str, name: str, lhs, target, value: float, bits: int, text: str,
           failed: list[str]) -> None:
    if bits < 1:  # fails outright: not claimed, listed
        failed.append(f"{name} (measured {value:.3g})")
        return
    if kind == "agree":
        d.check(name, agree(lhs, target, bits), text=f"measured {value:.6g}: 1 part in 2^{bits}" + text)
    else:
        d.check(name, sp.Abs(lhs) < sp.Integer(2) ** -bits, prior=SMALL, text=f"measured {value:.3g}" + text)


def _text(role: tuple, ci: Circuit, err: dict) -> str:
    if role == ("B",):
        return (f"; units: W_hi[{ci.b}] = 1 and W_hh[{ci.b}, j] = -1 for the carriers j in {list(ci.carriers)}, so B "
                f"reads -a with a their sum; B vs ReLU(x_(t-1) - P_(t-1)): {_fmt(err['B'])}")
    if role == ("deposit",):
        return (f"; a = sum of carriers vs P_(t-1) = max(0, x_0..x_(t-2)): {_fmt(err['a'])} (at t = n: "
                f"{_fmt(err['a at t=n'])}); a + B vs P_t: {_fmt(err['a+B'])}")
    if role and role[0] == "carrier":
        j = role[1]
        return (f"; carrier {j} holds {err['carrier share'][j]:.1%} of a and its ReLU clips "
                f"{err['carrier clips'][j]:.1%} of the time at t >= 2 (measured)")
    if role and role[0] == "reader":
        r = next(r for r in ci.readers if r.neuron == role[1])
        ideal = "ReLU(P_(t-1) - x_(t-1))" if r.lag == 0 else "ReLU(P_(t-2) - x_(t-1))"
        return f"; neuron {r.neuron} vs {ideal}: {_fmt(err[f'reader {r.neuron}'])}"
    return ""


def _describe(ci: Circuit, err: dict, failed: list[str]) -> str:
    S = list(ci.carriers)
    a = f"A = neuron {S[0]}" if len(S) == 1 else f"A has no neuron of its own: a = the sum of carriers {S}"
    out = (f"Circuit B={ci.b} ({'clean' if ci.clean else 'approximate'}). B={ci.b} ~ ReLU(x_(t-1) - P_(t-1)): "
           f"{_fmt(err['B'])}. {a} ~ P_(t-1) = max(0, x_0..x_(t-2)): {_fmt(err['a'])}; "
           f"a + B ~ P_t: {_fmt(err['a+B'])}.")
    for r in ci.readers:
        ideal = "ReLU(P_(t-1) - x_(t-1))" if r.lag == 0 else "ReLU(P_(t-2) - x_(t-1))"
        out += f" Reader {r.neuron} ~ {ideal}: {_fmt(err[f'reader {r.neuron}'])}."
    if ci.partial:
        out += f" Partial readers (read a, but not B as ideal or not isolated; not claimed): {list(ci.partial)}."
    if failed:
        out += f" Identities that fail outright (not claimed): {'; '.join(failed)}."
    return out


def derive(model) -> Derivation:
    d = Derivation("M_{16,10}: the running-max circuit (partial explanation)", model=MODEL, task="2nd_argmax")
    d.check_model(model)
    circuits = find_circuits(model)
    head = "ARC's known partial explanation of M_{16,10}, searched for in the weights (nothing hard-coded). "
    if not circuits:
        d.description = head + "No running-max circuit exists in these weights: nothing is explained."
        d.standardize()
        d.presume("no circuit", f"no running-max circuit (B with W_hh[b,b] = -1, carriers of A with B's deposit 1 "
                  f"and no input, to {MIN_BITS} bits) exists in these weights: nothing is explained; no information "
                  "about the accuracy (uniform prior: mean 1/2, sd 1/sqrt(12))", value=0.5,
                  uncertainty=1 / math.sqrt(12))
        return d
    c, _ = units(model, [(ci.b, list(ci.carriers)) for ci in circuits])
    d.reparametrize("circuit units", Rescale(tuple(float(v) for v in c)))
    wi_u, wh_u = _rescaled(model, c)
    m, p, y = sp.Symbol("m", nonnegative=True), sp.Symbol("p", real=True), sp.Symbol("y", real=True)
    relu = lambda e: sp.Max(e, 0, evaluate=False)  # noqa: E731
    mx = sp.Max(m, p, evaluate=False)
    d.deduce("running max", sp.Eq(relu(m + relu(p - m)), mx, evaluate=False),
             text="a' = ReLU(a + B) with a = max so far, B = ReLU(x - a): the new running max (a distributed a: "
                  "while no carrier clips)")
    d.deduce("newest excess", sp.Eq(relu(y - m - relu(p - m)), relu(y - mx), evaluate=False),
             text="B' = ReLU(x_new - a - B) = ReLU(x_new - running max)")
    d.deduce("max minus newest", sp.Eq(relu(m + relu(p - m) - y), relu(mx - y), evaluate=False),
             text="C' = ReLU(a + B - x_new) = ReLU(running max - x_new); D' = ReLU(a - x_new), one step later")
    explained: set[int] = set()
    found = []
    for ci in circuits:
        err = measure(model, ci, c)
        failed: list[str] = []
        for role, kind, name, lhs, tgt, v, bits in _identities(wi_u, wh_u, ci.b, list(ci.carriers), list(ci.readers)):
            _state(d, kind, name, lhs, tgt, v, bits, _text(role, ci, err), failed)
        found.append(_describe(ci, err, failed))
        explained |= set(ci.neurons)
    rest = sorted(set(range(model.hidden)) - explained)
    d.description = (head + " ".join(found) + f" Unexplained: neurons {rest} ({len(rest)} of {model.hidden}) and the "
                     f"output layer. Errors: RMS of activation minus ideal, x-units, all steps of {SAMPLES} seeded "
                     "Gaussian sequences (annotations; they do not enter the estimate).")
    d.presume("unexplained neurons", f"neurons {rest} ({len(rest)} of {model.hidden}) and the output layer are not "
              "explained: no information about the accuracy (uniform prior: mean 1/2, sd 1/sqrt(12))",
              value=0.5, uncertainty=1 / math.sqrt(12))
    return d


def summary(model, samples: int = SAMPLES, seed: int = SEED) -> dict:
    """Circuits found, the neurons they cover, the stated identities' bits and measured errors."""
    circuits = find_circuits(model)
    out = []
    for ci in circuits:
        c, _ = units(model, [(ci.b, list(ci.carriers))])
        wi_u, wh_u = _rescaled(model, c)
        ids = _identities(wi_u, wh_u, ci.b, list(ci.carriers), list(ci.readers))
        out.append({"B": ci.b, "carriers": list(ci.carriers),
                    "readers": [{"neuron": r.neuron, "lag": r.lag} for r in ci.readers],
                    "clean": ci.clean, "partial_readers": list(ci.partial),
                    "identities": {name: {"value": v, "bits": bits} for *_r, name, _l, _t, v, bits in ids},
                    "errors": measure(model, ci, c, samples, seed)})
    covered = sorted({k for ci in circuits for k in ci.neurons})
    return {"circuits": out, "explained_neurons": covered, "fraction": len(covered) / model.hidden,
            "unexplained": sorted(set(range(model.hidden)) - set(covered))}
