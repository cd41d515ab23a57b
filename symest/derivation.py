r"""Derivations: estimates written as symbolic programs, with a surprise ledger.

A :class:`Derivation` is a list of steps run against a :class:`~symest.model.Model`. Running it
(:meth:`Derivation.run`) yields an :class:`~symest.estimate.Estimate` and a
:class:`~symest.ledger.Ledger`. Every claim is *data*: a SymPy expression over named weight
symbols (``W_hh[0, 1]`` is the symbol ``W_hh_0_1``, see :func:`w`) and input symbols ``x_0 ..
x_{n-1}``, so a saved ledger can be re-verified against other weights (:func:`symest.ledger.audit`).

Step kinds (bits are ARC's surprise accounting, see ``/work/shared/reference/estimation.md``):

``reparametrize(name, transform)``
    An exact change of weights that leaves the function unchanged: :class:`Rescale` (hidden
    neuron i scaled by a stated factor c_i > 0, which ReLU's positive homogeneity allows),
    :class:`Permute` (hidden neurons reordered), :class:`Standardize` (ARC's |W_hi[i]| = 1) or
    a :class:`Compose` of them. Verified by checking the kind (positive finite factors, a true
    permutation) *and* that outputs agree on a fixed probe batch. 0 bits. Later steps see the
    new weights. FLOPs: flopscope's cost of applying it.
``deduce(name, statement, assuming=...)``
    Algebra that holds without looking at the weights (given earlier checks, if ``assuming``):
    an identity ``Eq(lhs, rhs)`` (``expand``/``simplify``; piecewise-linear identities with
    ``Max``/``Min``/``Abs`` by exhaustive case analysis, see :func:`prove_identity`) or a strict
    sign ``expr > 0`` proved from the sign/magnitude facts of earlier checks (see
    :func:`prove_positive`). 0 bits, 0 FLOPs.
``check(name, claim, prior=None)``
    A claim about the weights, a SymPy relation: sign (``W > 0``), magnitude (``Abs(W) > 1``),
    ordering (``a > b``), agreement (:func:`agree`), exact value (``Eq(W, c)``) or ``And`` of
    these. Evaluated on the current weights in float64; bits ``-log2 P(claim)`` under the prior
    (:data:`PRIORS`; by default inferred from the claim's form: sign, magnitude and ordering 1
    bit, agreement to 2^-k k bits, exact value 32 bits, ``And`` the sum). FLOPs: flopscope's
    cost of evaluating the claim.
``split(name, branches)``
    A case split into regions of input space (:class:`Branch`: symbolic linear constraints over
    ``x_i``, whose coefficients may involve weights, or numeric cone normals). Each branch is a
    sub-derivation; contributions add. Where cheap, the branches are verified to partition the
    enclosing region: total Gaussian measure adds up and pairwise intersections have empty
    interior. 0 bits.
``presume(name, statement, value=None, uncertainty=0)``
    A stated approximation (independence, Gaussianity, a latent coupling) with the uncertainty
    it introduces. Contributes ``value`` (a number or a callable of the :class:`Context`) and
    makes the estimate ``approximate``. 0 bits.
``compute(name, what, kind="exact")``
    A leaf that yields a number: a SymPy expression over weights (re-evaluable by an audit), a
    :func:`measure` of a cone (symbolic constraints, billed by :mod:`symest.cones`), or a Python
    callable of the :class:`Context` returning a float, a :class:`~symest.cones.Measure` or a
    :class:`Computed`. Contributes ``coef * value`` unless ``contributes=False``.

The estimate is the sum of contributions; its kind is the weakest of its steps (exact <
numerical < approximate); its FLOPs the sum of step FLOPs; ``error_bound`` the sum of
numerical error bounds; ``stderr`` the root-sum-square of the presumptions' uncertainties.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import itertools
import math
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from symest._errors import SymestError
from symest.estimate import Estimate
from symest.model import Model

__all__ = [
    "PRIORS",
    "SMALL",
    "Agree",
    "Branch",
    "Compose",
    "Computed",
    "Context",
    "Derivation",
    "DerivationError",
    "Permute",
    "Prior",
    "Rescale",
    "Standardize",
    "agree",
    "agreement_bits",
    "apply_reparametrization",
    "constraint_normals",
    "expr_from_tree",
    "expr_to_tree",
    "input_symbols",
    "linear_pieces",
    "measure",
    "network_outputs",
    "piece_constraints",
    "piece_outputs",
    "prove_identity",
    "prove_positive",
    "register_prior",
    "relu",
    "run_proof",
    "w",
    "weight_symbols",
    "weight_values",
    "x",
]


class DerivationError(SymestError):
    """A derivation cannot run: malformed step, wrong model for a proof, unserializable claim."""


# ----------------------------------------------------------------------------------------------
# Symbols
# ----------------------------------------------------------------------------------------------

WEIGHT_NAMES = {
    "rnn.weight_ih_l0": "W_hi",
    "rnn.weight_hh_l0": "W_hh",
    "linear.weight": "W_oh",
    "rnn.bias_ih_l0": "b_hi",
    "rnn.bias_hh_l0": "b_hh",
    "linear.bias": "b_oh",
}
_KEY_OF = {v: k for k, v in WEIGHT_NAMES.items()}
_SYMBOL_RE = re.compile(r"^(W_hi|W_hh|W_oh|b_hi|b_hh|b_oh)_(\d+)(?:_(\d+))?$")
_INPUT_RE = re.compile(r"^x_(\d+)$")


def w(matrix: str, i: int, j: int | None = None) -> sp.Symbol:
    """The symbol of one weight: ``w("W_hh", 0, 1)`` is ``W_hh_0_1``; ``w("W_hi", 3)`` is
    ``W_hi_3_0`` (W_hi is (d, 1)); biases are 1-D: ``w("b_hh", 2)`` is ``b_hh_2``."""
    if matrix not in _KEY_OF:
        raise DerivationError(f"unknown weight matrix {matrix!r}; known: {', '.join(_KEY_OF)}")
    if matrix.startswith("b_"):
        return sp.Symbol(f"{matrix}_{int(i)}", real=True)
    return sp.Symbol(f"{matrix}_{int(i)}_{0 if j is None else int(j)}", real=True)


def x(i: int) -> sp.Symbol:
    """The input symbol ``x_i``."""
    return sp.Symbol(f"x_{int(i)}", real=True)


def input_symbols(n: int) -> list[sp.Symbol]:
    return [x(i) for i in range(n)]


def relu(e: sp.Expr) -> sp.Expr:
    return sp.Max(e, 0)


def _require_rnn(model: Model) -> None:
    if model.arch != "rnn":
        raise DerivationError(f"derivations handle RNNs; {model.name} is a transformer")


def weight_symbols(model: Model) -> dict[str, sp.Matrix]:
    """Symbolic weight matrices of an RNN, e.g. ``{"W_hh": Matrix([[W_hh_0_0, ...]]), ...}``."""
    _require_rnn(model)
    out = {}
    for key, name in WEIGHT_NAMES.items():
        if key not in model.weights:
            continue
        arr = model.weights[key]
        if arr.ndim == 1:
            out[name] = sp.Matrix([w(name, i) for i in range(arr.shape[0])])
        else:
            out[name] = sp.Matrix(arr.shape[0], arr.shape[1], lambda i, j, nm=name: w(nm, i, j))
    return out


def weight_values(model: Model) -> dict[sp.Symbol, float]:
    """``{symbol: value}`` for every weight of an RNN (float64)."""
    _require_rnn(model)
    out: dict[sp.Symbol, float] = {}
    for key, name in WEIGHT_NAMES.items():
        if key not in model.weights:
            continue
        arr = model.weights[key]
        for idx in np.ndindex(arr.shape):
            out[w(name, *idx)] = float(arr[idx])
    return out


def fingerprint(model: Model) -> str:
    """sha256 over the weights' names, shapes and float64 bytes (first 16 hex digits)."""
    h = hashlib.sha256()
    for key in sorted(model.weights):
        arr = np.ascontiguousarray(model.weights[key], dtype=np.float64)
        h.update(key.encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    h.update(f"{model.task.name}/{model.seq_len}".encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# Agreement
# ----------------------------------------------------------------------------------------------


class Agree(sp.Function):
    """``Agree(a, b, k)``: ``|a - b| <= 2^-k max(|a|, |b|)``. Evaluates to true/false when
    ``a``, ``b`` and ``k`` are numbers; stays symbolic otherwise."""

    nargs = 3

    @classmethod
    def eval(cls, a: sp.Expr, b: sp.Expr, k: sp.Expr) -> Any:
        if a.is_number and b.is_number and k.is_number:
            return sp.true if bool(_agree_np(float(a), float(b), float(k))) else sp.false
        return None

    def as_relational(self) -> sp.Expr:
        a, b, k = self.args
        return sp.Abs(a - b) <= 2 ** (-k) * sp.Max(sp.Abs(a), sp.Abs(b))

    def _latex(self, printer: Any) -> str:
        a, b, k = (printer._print(arg) for arg in self.args)
        return rf"\left|{a} - {b}\right| \le 2^{{-{k}}} \max\left(\left|{a}\right|, \left|{b}\right|\right)"


def _agree_np(a: Any, b: Any, k: Any, xp: Any = np) -> Any:
    return xp.abs(a - b) <= (2.0 ** (-k)) * xp.maximum(xp.abs(a), xp.abs(b))


def agree(a: Any, b: Any, k: int) -> Agree:
    """The claim that ``a`` and ``b`` agree to 1 part in ``2^k`` (k bits under the default prior)."""
    return Agree(_sym(a), _sym(b), sp.Integer(int(k)))


def agreement_bits(a: float, b: float, cap: int = 52) -> int:
    """``floor(-log2(|a - b| / max(|a|, |b|)))``: the precision to which two numbers agree
    (``cap``, float64's 52 fraction bits, when they are equal; 0 when they disagree by more
    than half, including opposite signs)."""
    a, b = float(a), float(b)
    scale = max(abs(a), abs(b))
    if scale == 0 or a == b:
        return cap
    rel = abs(a - b) / scale
    return int(min(cap, max(0, math.floor(-math.log2(rel)))))


# ----------------------------------------------------------------------------------------------
# Expression (de)serialization: a whitelist of node types, no eval
# ----------------------------------------------------------------------------------------------

_OPS: dict[str, Any] = {
    "Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow, "Abs": sp.Abs, "Max": sp.Max, "Min": sp.Min,
    "sign": sp.sign, "exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan,
    "atan": sp.atan, "asin": sp.asin, "acos": sp.acos, "atan2": sp.atan2, "floor": sp.floor,
    "ceiling": sp.ceiling, "Heaviside": sp.Heaviside,
    "StrictGreaterThan": sp.StrictGreaterThan, "StrictLessThan": sp.StrictLessThan,
    "GreaterThan": sp.GreaterThan, "LessThan": sp.LessThan, "Equality": sp.Equality,
    "Unequality": sp.Unequality, "And": sp.And, "Or": sp.Or, "Not": sp.Not, "Agree": Agree,
}
_NO_EVALUATE = {"And", "Or", "Not", "Agree", "sign", "exp", "log", "sin", "cos", "tan", "atan", "asin",
                "acos", "atan2", "floor", "ceiling", "Heaviside", "Abs"}
_CONSTS = {"pi": sp.pi, "E": sp.E, "oo": sp.oo, "-oo": -sp.oo, "true": sp.true, "false": sp.false,
           "nan": sp.nan, "zoo": sp.zoo}
_ASSUMPTIONS = ("real", "positive", "negative", "nonnegative", "nonpositive", "integer")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_MAX_NODES = 200_000


def expr_to_tree(e: Any) -> Any:
    """A JSON-ready tree of a SymPy expression built from whitelisted nodes only."""
    e = _sym(e)
    if isinstance(e, sp.Symbol):
        orig = dict(getattr(e, "_assumptions_orig", None) or {})
        bad = [k for k in orig if k not in _ASSUMPTIONS]
        if bad or any(not isinstance(v, bool) for v in orig.values()):
            raise DerivationError(f"symbol {e.name} has assumptions {sorted(orig)}; allowed: {', '.join(_ASSUMPTIONS)}")
        if not _NAME_RE.match(e.name):
            raise DerivationError(f"symbol name {e.name!r} cannot be stored (letters, digits and _ only)")
        return {"s": e.name} if orig == {"real": True} else {"s": e.name, "a": orig}
    if e is sp.true or e is sp.false:
        return {"c": "true" if e is sp.true else "false"}
    if isinstance(e, sp.Integer):
        return {"i": str(int(e))}
    if isinstance(e, sp.Rational):
        return {"q": [str(int(e.p)), str(int(e.q))]}
    if isinstance(e, sp.Float):
        return {"f": repr(float(e))}
    for name, const in _CONSTS.items():
        if e == const and name not in ("true", "false"):
            return {"c": name}
    fname = type(e).__name__
    if fname not in _OPS:
        raise DerivationError(f"cannot serialize {fname} (in {str(e)[:60]}); allowed: {', '.join(sorted(_OPS))}")
    return {"op": fname, "args": [expr_to_tree(a) for a in e.args]}


def expr_from_tree(tree: Any) -> Any:
    """Inverse of :func:`expr_to_tree`; raises DerivationError on anything not whitelisted."""
    count = [0]

    def build(t: Any, depth: int) -> Any:
        count[0] += 1
        if count[0] > _MAX_NODES or depth > 400:
            raise DerivationError("serialized expression too large or too deep")
        if not isinstance(t, dict):
            raise DerivationError(f"bad expression node {str(t)[:40]!r}")
        if "s" in t:
            name = t["s"]
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise DerivationError(f"bad symbol name {str(name)[:40]!r}")
            assum = t.get("a", {})
            if not isinstance(assum, dict) or any(k not in _ASSUMPTIONS or not isinstance(v, bool)
                                                  for k, v in assum.items()):
                raise DerivationError(f"bad symbol assumptions for {name}")
            return sp.Symbol(name, **(assum if "a" in t else {"real": True}))
        if "i" in t:
            s = t["i"]
            if not isinstance(s, str) or not re.fullmatch(r"-?\d{1,400}", s):
                raise DerivationError("bad integer node")
            return sp.Integer(int(s))
        if "q" in t:
            p, q = t["q"]
            if not all(isinstance(v, str) and re.fullmatch(r"-?\d{1,400}", v) for v in (p, q)) or int(q) == 0:
                raise DerivationError("bad rational node")
            return sp.Rational(int(p), int(q))
        if "f" in t:
            try:
                v = float(t["f"])
            except (TypeError, ValueError):
                raise DerivationError("bad float node") from None
            return sp.Float(v)
        if "c" in t:
            if t["c"] not in _CONSTS:
                raise DerivationError(f"unknown constant {str(t['c'])[:20]!r}")
            return _CONSTS[t["c"]]
        if "op" in t:
            op = t["op"]
            if op not in _OPS:
                raise DerivationError(f"operation {str(op)[:30]!r} is not allowed in a ledger")
            args = t.get("args")
            if not isinstance(args, list):
                raise DerivationError("bad operation node")
            built = [build(a, depth + 1) for a in args]
            cls = _OPS[op]
            if op in ("And", "Or", "Not", "Agree") or op in _NO_EVALUATE:
                return cls(*built)
            try:
                return cls(*built, evaluate=False)
            except TypeError:
                return cls(*built)
        raise DerivationError("unknown expression node")

    return build(tree, 0)


# ----------------------------------------------------------------------------------------------
# Numeric evaluation and flopscope billing of expressions
# ----------------------------------------------------------------------------------------------


def _sym(obj: Any) -> Any:
    """SymPy object from a SymPy object or a number; strings are refused (never parsed/evaluated)."""
    if isinstance(obj, str):
        raise DerivationError(f"expected a SymPy expression, got the string {obj[:40]!r} (build claims with "
                              "symest.derivation.w/x and SymPy, strings are never parsed)")
    try:
        return sp.sympify(obj, strict=True)
    except sp.SympifyError:
        raise DerivationError(f"expected a SymPy expression or a number, got {type(obj).__name__}") from None


def _free(e: sp.Expr) -> list[sp.Symbol]:
    return sorted(e.free_symbols, key=lambda s: s.name)


@functools.lru_cache(maxsize=4096)
def _lambdified(e: sp.Expr) -> tuple[list[sp.Symbol], Callable[..., Any]]:
    syms = _free(e)
    fn = sp.lambdify(syms, e, modules=[{"Agree": _agree_np}, "numpy"])
    return syms, fn


def evaluate(e: Any, values: Mapping[sp.Symbol, float]) -> Any:
    """Numeric value (float64) of an expression or claim at ``values``."""
    e = _sym(e)
    if isinstance(e, sp.And):
        return all(bool(evaluate(a, values)) for a in e.args)
    if isinstance(e, sp.Or):
        return any(bool(evaluate(a, values)) for a in e.args)
    if isinstance(e, sp.Not):
        return not bool(evaluate(e.args[0], values))
    if e is sp.true or e is sp.false:
        return bool(e)
    simple = _simple_value(e, values)
    if simple is not None:
        return simple
    syms, fn = _lambdified(e)
    missing = [s.name for s in syms if s not in values]
    if missing:
        raise DerivationError(f"{str(e)[:60]} mentions {', '.join(missing[:4])}, which have no value here "
                              "(claims must be about the weights)")
    with np.errstate(all="ignore"):
        out = fn(*[np.float64(values[s]) for s in syms])
    return bool(out) if isinstance(out, (bool, np.bool_)) else float(out)


_SIMPLE_RELS = {sp.StrictGreaterThan: np.greater, sp.StrictLessThan: np.less, sp.GreaterThan: np.greater_equal,
                sp.LessThan: np.less_equal, sp.Equality: np.equal, sp.Unequality: np.not_equal}


def _simple_value(e: sp.Expr, values: Mapping[sp.Symbol, float]) -> Any:
    """Fast path (no code generation) for a symbol, a number, or a relation between them."""
    def leaf(a: sp.Expr) -> float | None:
        if isinstance(a, sp.Symbol):
            return values.get(a)
        if a.is_number and a.is_real:
            return float(a)
        return None

    if isinstance(e, sp.Symbol) or e.is_number:
        return leaf(e)
    op = _SIMPLE_RELS.get(type(e))
    if op is not None:
        lhs, rhs = (leaf(a) for a in e.args)
        if lhs is not None and rhs is not None:
            return bool(op(np.float64(lhs), np.float64(rhs)))
    return None


def _latex(e: sp.Expr, limit: int = 2000) -> str:
    """``sympy.latex`` for expressions of moderate size (large conjunctions get none)."""
    return sp.latex(e) if sp.count_ops(e, visual=False) <= limit // 10 else ""


def expr_flops(e: Any) -> int:
    """flopscope's cost of evaluating ``e`` once in float64 (``And``/``Or``: sum of the parts)."""
    if isinstance(e, (sp.And, sp.Or)):
        return sum(expr_flops(a) for a in e.args)
    if isinstance(e, sp.Not):
        return expr_flops(e.args[0])
    if not isinstance(e, sp.Basic) or not e.free_symbols:
        return 0
    # the cost does not depend on which symbols appear: share one count per shape
    syms = _free(e)
    canon = e.xreplace({s: sp.Symbol(f"_c{i}", real=True) for i, s in enumerate(syms)})
    return _expr_flops(canon)


@functools.lru_cache(maxsize=4096)
def _expr_flops(e: sp.Expr) -> int:
    from symest.flops import count

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import flopscope.numpy as fnp

        syms = _free(e)
        fn = sp.lambdify(syms, e, modules=[{"Agree": lambda a, b, k: _agree_np(a, b, k, fnp),
                                            "Max": fnp.maximum, "Min": fnp.minimum, "Abs": fnp.abs}, fnp])
        args = [np.float64(1.0 + 0.1 * i) for i in range(len(syms))]
        try:
            return count(lambda _fnp, *a: fn(*a), *args)
        except Exception:  # pragma: no cover - an op flopscope lacks: count nodes instead
            return 2 * sum(1 for _ in sp.preorder_traversal(e))


# ----------------------------------------------------------------------------------------------
# Priors: bits of a check
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prior:
    """A reference prior for checks: ``prob_fn(claim) -> P(claim)``; bits = -log2 P.

    ``bits_fn(claim) -> bits`` may be given instead (for claims whose probability underflows,
    such as a conjunction of hundreds of exact values). Priors must depend on the claim only (not
    on the weights), so bits can be recomputed from a saved ledger. Register custom priors with
    :func:`register_prior` so audits can recompute them.
    """

    name: str
    prob_fn: Callable[[Any], float] | None = None
    params: tuple[tuple[str, float], ...] = ()
    bits_fn: Callable[[Any], float] | None = None

    def bits(self, claim: Any) -> float:
        if self.bits_fn is not None:
            b = float(self.bits_fn(claim))
            if not (b >= 0 and math.isfinite(b)):
                raise DerivationError(f"prior {self.name} gave {b} bits to {str(claim)[:60]}; need finite >= 0")
            return b
        if self.prob_fn is None:
            raise DerivationError(f"prior {self.name} has neither prob_fn nor bits_fn")
        p = float(self.prob_fn(claim))
        if not 0 < p <= 1:
            raise DerivationError(f"prior {self.name} gave probability {p} to {str(claim)[:60]}; need 0 < p <= 1")
        return -math.log2(p)

    def probability(self, claim: Any) -> float:
        return 2.0 ** (-self.bits(claim))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, **dict(self.params)}

    @staticmethod
    def fixed(p: float, name: str = "fixed") -> Prior:
        """A prior that gives every claim probability ``p`` (serialized with ``p``)."""
        if not 0 < p <= 1:
            raise DerivationError(f"a probability must lie in (0, 1], got {p}")
        return Prior(name, lambda _c, p=float(p): p, (("p", float(p)),))


EXACT_BITS = 32
"""Bits of a claim that a weight (or expression) equals a stated value exactly: a float32 weight
is one of 2^32 bit patterns (the same rate as the 32-bits-per-parameter weight-bits bound)."""


def _is_zero(e: sp.Expr) -> bool:
    return e.is_number and e == 0


def claim_form(claim: Any) -> str:
    """``sign``, ``magnitude``, ``ordering``, ``agreement``, ``exact`` or ``conjunction``."""
    if isinstance(claim, Agree):
        return "agreement"
    if isinstance(claim, sp.And):
        return "conjunction"
    if isinstance(claim, sp.Equality):
        return "exact"
    if isinstance(claim, (sp.StrictGreaterThan, sp.StrictLessThan, sp.GreaterThan, sp.LessThan)):
        lhs, rhs = claim.args
        if _is_zero(lhs) or _is_zero(rhs):
            return "sign"
        if (isinstance(lhs, sp.Abs) and rhs.is_number) or (isinstance(rhs, sp.Abs) and lhs.is_number):
            return "magnitude"
        return "ordering"
    raise DerivationError(f"a check needs a relation, Agree(...) or And(...) of them; got {str(claim)[:60]}")


def _auto_bits(claim: Any) -> float:
    form = claim_form(claim)
    if form in ("sign", "magnitude", "ordering"):
        return 1.0
    if form == "agreement":
        k = claim.args[2]
        if not (k.is_number and k >= 0):
            raise DerivationError(f"agreement precision must be a number >= 0, got {k}")
        return float(k)
    if form == "exact":
        return float(EXACT_BITS)
    return float(sum(_auto_bits(a) for a in claim.args))


def _small_bits(claim: Any) -> float:
    """``Abs(w) < c`` (0 < c <= 1): P(|w| < c) = c for w uniform on [-1, 1], so -log2 c bits."""
    if not (isinstance(claim, sp.StrictLessThan) and isinstance(claim.args[0], sp.Abs) and claim.args[1].is_number
            and 0 < claim.args[1] <= 1):
        raise DerivationError(f"the 'small' prior takes claims Abs(w) < c with 0 < c <= 1, got {str(claim)[:60]}")
    return -math.log2(float(claim.args[1]))


AUTO = Prior("auto", bits_fn=_auto_bits)
SMALL = Prior("small", bits_fn=_small_bits)
SIGN = Prior("sign", lambda c: 0.5)
MAGNITUDE = Prior("magnitude", lambda c: 0.5)
ORDERING = Prior("ordering", lambda c: 0.5)
AGREEMENT = Prior("agreement", bits_fn=lambda c: float(c.args[2]))
EXACT = Prior("exact", bits_fn=lambda c: float(EXACT_BITS))
PRIORS: dict[str, Prior] = {p.name: p for p in (AUTO, SIGN, MAGNITUDE, ORDERING, AGREEMENT, EXACT, SMALL)}


def register_prior(prior: Prior) -> Prior:
    """Make a custom prior known by name (audits look priors up by the name a ledger records)."""
    if prior.name == "fixed":
        raise DerivationError("'fixed' is reserved for Prior.fixed(p)")
    PRIORS[prior.name] = prior
    return prior


def prior_from_spec(spec: Mapping[str, Any]) -> Prior | None:
    """The prior a ledger names, or None if it is not registered here."""
    name = spec.get("name")
    if name == "fixed":
        return Prior.fixed(float(spec["p"]))
    return PRIORS.get(str(name))


# ----------------------------------------------------------------------------------------------
# Proof helpers: positivity from sign/magnitude facts; piecewise-linear identities
# ----------------------------------------------------------------------------------------------


def _facts_table(facts: Iterable[Any]) -> tuple[dict[sp.Symbol, int], dict[sp.Symbol, str], dict[sp.Symbol, sp.Expr]]:
    """Read atomic facts: signs (s > 0), magnitudes (|s| > 1, |s| < 1, |s| = 1), exact values."""
    sign: dict[sp.Symbol, int] = {}
    mag: dict[sp.Symbol, str] = {}
    value: dict[sp.Symbol, sp.Expr] = {}

    def atoms(f: Any) -> Iterator[Any]:
        if isinstance(f, sp.And):
            for a in f.args:
                yield from atoms(a)
        else:
            yield f

    for fact in facts:
        for f in atoms(_sym(fact)):
            if isinstance(f, sp.Equality):
                lhs, rhs = f.args
                if isinstance(lhs, sp.Symbol) and rhs.is_number:
                    value[lhs] = rhs
                elif isinstance(rhs, sp.Symbol) and lhs.is_number:
                    value[rhs] = lhs
                elif isinstance(lhs, sp.Abs) and isinstance(lhs.args[0], sp.Symbol) and rhs == 1:
                    mag[lhs.args[0]] = "eq1"
                continue
            if not isinstance(f, (sp.StrictGreaterThan, sp.StrictLessThan)):
                continue
            big, small = (f.args[0], f.args[1]) if isinstance(f, sp.StrictGreaterThan) else (f.args[1], f.args[0])
            if isinstance(big, sp.Symbol) and _is_zero(small):
                sign[big] = 1
            elif isinstance(small, sp.Symbol) and _is_zero(big):
                sign[small] = -1
            elif isinstance(big, sp.Abs) and isinstance(big.args[0], sp.Symbol) and small == 1:
                mag[big.args[0]] = "gt1"
            elif isinstance(small, sp.Abs) and isinstance(small.args[0], sp.Symbol) and big == 1:
                mag[small.args[0]] = "lt1"
    for s, kind in mag.items():  # |s| = 1 with a known sign fixes the value
        if kind == "eq1" and s in sign and s not in value:
            value[s] = sp.Integer(sign[s])
    return sign, mag, value


def _positive_poly(e: sp.Expr, pos: Sequence[sp.Symbol]) -> int:
    """+1 if e is a nonzero polynomial in the positive symbols with all coefficients > 0 (so
    e > 0), -1 if all < 0, 0 otherwise."""
    e = sp.expand(e)
    if e.is_number:
        return 1 if e > 0 else -1 if e < 0 else 0
    if not e.free_symbols <= set(pos):
        return 0
    try:
        coeffs = sp.Poly(e, *sorted(e.free_symbols, key=lambda s: s.name)).coeffs()
    except sp.PolynomialError:
        return 0
    if all(c.is_number and c > 0 for c in coeffs):
        return 1
    if all(c.is_number and c < 0 for c in coeffs):
        return -1
    return 0


def prove_positive(expr: Any, facts: Iterable[Any]) -> bool:
    """Prove ``expr > 0`` from atomic facts (a sufficient, not complete, method).

    Each symbol with a sign fact becomes ``s * p`` (``p > 0``); with ``|s| > 1`` ``s * (1 + p)``,
    with ``|s| < 1`` ``s / (1 + p)``, with ``|s| = 1`` just its sign; exact values are substituted.
    The result is proved positive if, brought to one fraction, numerator and denominator are
    polynomials in the new positive symbols whose coefficients all have one sign.
    """
    sign, mag, value = _facts_table(facts)
    e = _sym(expr).xreplace(value)
    for s in e.free_symbols:  # symbols declared positive/negative are facts too
        if s not in sign and (s.is_positive or s.is_negative):
            sign[s] = 1 if s.is_positive else -1
    subs: dict[sp.Symbol, sp.Expr] = {}
    pos: list[sp.Symbol] = []
    for s in sorted(e.free_symbols, key=lambda q: q.name):
        if s not in sign:
            return False
        kind = mag.get(s)
        if kind == "eq1":
            subs[s] = sp.Integer(sign[s])
            continue
        p = sp.Symbol(f"_p_{s.name}", positive=True)
        pos.append(p)
        subs[s] = sign[s] * (p if kind is None else (1 + p) if kind == "gt1" else 1 / (1 + p))
    num, den = sp.fraction(sp.together(e.xreplace(subs)))
    sn, sd = _positive_poly(num, pos), _positive_poly(den, pos)
    return sn != 0 and sn == sd


def _linear_parts(e: sp.Expr, syms: Sequence[sp.Symbol]) -> tuple[np.ndarray, float] | None:
    """(coefficients, constant) of an affine expression in ``syms`` with numeric coefficients."""
    index = {s: i for i, s in enumerate(syms)}
    coeffs = np.zeros(len(syms))
    const = 0.0
    for term, c in sp.expand(e).as_coefficients_dict().items():
        if not c.is_number:
            return None
        if term == 1:
            const += float(c)
        elif term in index:
            coeffs[index[term]] += float(c)
        else:
            return None
    return coeffs, const


def _feasible(conds: Sequence[sp.Expr], syms: Sequence[sp.Symbol], sign_of: Mapping[sp.Symbol, int]) -> bool:
    """Whether {c >= 0 for c in conds} (and the symbols' sign assumptions) has interior points.

    Conditions not affine in ``syms`` are ignored (conservative: the branch is kept).
    """
    return _feasible_cached(frozenset(conds), tuple(syms), tuple(sorted(sign_of.items(), key=lambda kv: kv[0].name)))


@functools.lru_cache(maxsize=65536)
def _feasible_cached(conds: frozenset, syms: tuple, sign_items: tuple) -> bool:
    from scipy.optimize import linprog

    sign_of = dict(sign_items)

    rows, consts = [], []
    for c in conds:
        lin = _linear_parts(c, syms)
        if lin is None:
            continue
        a, b = lin
        if not a.any():
            if b < 0:
                return False
            continue
        scale = max(np.abs(a).max(), abs(b))
        rows.append(a / scale)
        consts.append(b / scale)
    for i, s in enumerate(syms):
        if sign_of.get(s):
            r = np.zeros(len(syms))
            r[i] = sign_of[s]
            rows.append(r)
            consts.append(0.0)
    if not rows:
        return True
    a = np.array(rows)
    b = np.array(consts)
    m, n = a.shape
    # max t  s.t.  a x + b >= t,  x in [-1e3, 1e3]^n, t <= 1
    res = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.hstack([-a, np.ones((m, 1))]), b_ub=b,
                  bounds=[(-1e3, 1e3)] * n + [(None, 1.0)], method="highs")
    return bool(res.status == 0 and -res.fun > 1e-9)


def _pl_branches(e: sp.Expr, syms: Sequence[sp.Symbol], sign_of: Mapping[sp.Symbol, int],
                 budget: list[int]) -> list[tuple[tuple[sp.Expr, ...], sp.Expr]]:
    """All (conditions, expression without Max/Min/Abs) branches of ``e`` with feasible conditions."""
    budget[0] -= 1
    if budget[0] < 0:
        raise DerivationError("piecewise-linear identity has too many cases to check")
    if not e.has(sp.Max, sp.Min, sp.Abs):
        return [((), e)]
    if isinstance(e, (sp.Max, sp.Min, sp.Abs)):
        args = e.args
        combos = _combine([_pl_branches(a, syms, sign_of, budget) for a in args], syms, sign_of)
        out = []
        for conds, vals in combos:
            if isinstance(e, sp.Abs):
                choices = [((vals[0],), vals[0]), ((-vals[0],), -vals[0])]
            else:
                choices = []
                for i, vi in enumerate(vals):
                    diff = [(vi - vj) if isinstance(e, sp.Max) else (vj - vi) for j, vj in enumerate(vals) if j != i]
                    choices.append((tuple(diff), vi))
            for extra, val in choices:
                cs = conds + extra
                if _feasible(cs, syms, sign_of):
                    out.append((cs, val))
        return out
    combos = _combine([_pl_branches(a, syms, sign_of, budget) for a in e.args], syms, sign_of)
    return [(conds, e.func(*vals)) for conds, vals in combos]


def _combine(lists: list[list[tuple[tuple[sp.Expr, ...], sp.Expr]]], syms: Sequence[sp.Symbol],
             sign_of: Mapping[sp.Symbol, int]) -> list[tuple[tuple[sp.Expr, ...], list[sp.Expr]]]:
    out: list[tuple[tuple[sp.Expr, ...], list[sp.Expr]]] = [((), [])]
    for lst in lists:
        nxt = []
        for conds, vals in out:
            for c2, v2 in lst:
                cs = conds + c2
                if len(lst) > 1 and not _feasible(cs, syms, sign_of):
                    continue
                nxt.append((cs, [*vals, v2]))
        out = nxt
    return out


def prove_identity(lhs: Any, rhs: Any, facts: Iterable[Any] = (), max_cases: int = 20000) -> bool:
    """Prove ``lhs == rhs`` for all real values of the free symbols (given exact-value facts).

    Without ``Max``/``Min``/``Abs``: ``expand(lhs - rhs) == 0``, then ``simplify``. With them
    (piecewise-linear identities such as ``Max(a, 0) - Max(-a, 0) = a``): every combination of
    branches (which argument of each ``Max``/``Min`` is largest/smallest, the sign under each
    ``Abs``) whose conditions have interior points (a linear program; symbols' sign assumptions
    included) must make ``lhs - rhs`` expand to 0. Branch conditions must be affine in the
    symbols for this to be a proof; non-affine conditions are kept (conservative).
    """
    sign, _mag, value = _facts_table(facts)
    diff = (_sym(lhs) - _sym(rhs)).xreplace(value)
    if not diff.has(sp.Max, sp.Min, sp.Abs):
        if sp.expand(diff) == 0 or sp.cancel(sp.together(diff)) == 0:
            return True
        return bool(sp.simplify(diff) == 0)
    syms = _free(diff)
    sign_of = dict(sign)
    for s in syms:
        if s.is_positive or s.is_nonnegative:
            sign_of.setdefault(s, 1)
        elif s.is_negative or s.is_nonpositive:
            sign_of.setdefault(s, -1)
    branches = _pl_branches(diff, syms, sign_of, [max_cases])
    return all(sp.expand(val) == 0 for _conds, val in branches)


# ----------------------------------------------------------------------------------------------
# Reparametrizations
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rescale:
    """Scale hidden neuron i by ``factors[i] > 0``: its incoming weights (row i of W_hi, W_hh and
    its biases) by c_i and its outgoing weights (column i of W_hh and W_oh) by 1/c_i."""

    factors: tuple[float, ...]

    def spec(self) -> dict[str, Any]:
        return {"type": "rescale", "factors": [float(c) for c in self.factors]}

    def resolve(self, model: Model) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.factors, dtype=np.float64), np.arange(model.hidden)

    def describe(self) -> str:
        return "rescale hidden neurons by (" + ", ".join(f"{c:.6g}" for c in self.factors) + ")"


@dataclass(frozen=True)
class Permute:
    """Reorder hidden neurons: new neuron i is old neuron ``perm[i]``."""

    perm: tuple[int, ...]

    def spec(self) -> dict[str, Any]:
        return {"type": "permute", "perm": [int(p) for p in self.perm]}

    def resolve(self, model: Model) -> tuple[np.ndarray, np.ndarray]:
        return np.ones(model.hidden), np.asarray(self.perm)

    def describe(self) -> str:
        return f"permute hidden neurons {list(self.perm)}"


@dataclass(frozen=True)
class Standardize:
    """ARC's standardization: rescale each hidden neuron so |W_hi[i]| = 1 (neurons with
    W_hi[i] = 0 untouched). The factors are recomputed from whatever weights it is applied to."""

    def spec(self) -> dict[str, Any]:
        return {"type": "standardize"}

    def resolve(self, model: Model) -> tuple[np.ndarray, np.ndarray]:
        wi = np.abs(model.W_hi[:, 0])
        with np.errstate(divide="ignore"):
            c = np.where(wi > 0, 1.0 / np.where(wi > 0, wi, 1.0), 1.0)
        return c, np.arange(model.hidden)

    def describe(self) -> str:
        return "standardize: rescale each hidden neuron so that |W_hi[i]| = 1"


@dataclass(frozen=True)
class Compose:
    """Apply ``parts`` in order."""

    parts: tuple[Any, ...]

    def spec(self) -> dict[str, Any]:
        return {"type": "compose", "parts": [p.spec() for p in self.parts]}

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.parts)


def transform_from_spec(spec: Mapping[str, Any]) -> Any:
    t = spec.get("type")
    if t == "rescale":
        return Rescale(tuple(float(c) for c in spec["factors"]))
    if t == "permute":
        return Permute(tuple(int(p) for p in spec["perm"]))
    if t == "standardize":
        return Standardize()
    if t == "compose":
        return Compose(tuple(transform_from_spec(p) for p in spec["parts"]))
    raise DerivationError(f"unknown reparametrization {str(t)[:30]!r}")


def _apply_one(model: Model, c: np.ndarray, perm: np.ndarray, xp: Any = np) -> dict[str, Any]:
    out = {}
    for key, arr in model.weights.items():
        a = xp.asarray(arr) if xp is not np else arr
        if key == "rnn.weight_ih_l0":
            a = (a * c[:, None])[perm]
        elif key == "rnn.weight_hh_l0":
            a = (a * c[:, None] / c[None, :])[perm][:, perm]
        elif key == "linear.weight":
            a = (a / c[None, :])[:, perm]
        elif key in ("rnn.bias_ih_l0", "rnn.bias_hh_l0"):
            a = (a * c)[perm]
        out[key] = a
    return out


def _validate_transform(model: Model, c: np.ndarray, perm: np.ndarray) -> str | None:
    d = model.hidden
    if c.shape != (d,) or not np.all(np.isfinite(c)) or not np.all(c > 0):
        return f"rescaling factors must be {d} finite positive numbers"
    if perm.shape != (d,) or sorted(perm.tolist()) != list(range(d)):
        return f"not a permutation of the {d} hidden neurons"
    return None


_PROBE_SEED = 20240517
_PROBE_SIZE = 64


def apply_reparametrization(model: Model, transform: Any) -> tuple[Model, bool, str, int]:
    """(new model, verified, note, FLOPs). Verified = allowed kind and outputs agree on a fixed
    probe batch (64 seeded Gaussian inputs, relative tolerance 1e-9)."""
    from symest.flops import count
    from symest.forward import forward_numpy

    _require_rnn(model)
    parts = transform.parts if isinstance(transform, Compose) else (transform,)
    cur = model
    flops = 0
    for part in parts:
        if not isinstance(part, (Rescale, Permute, Standardize)):
            raise DerivationError(f"{type(part).__name__} is not an allowed reparametrization "
                                  "(Rescale, Permute, Standardize, Compose)")
        c, perm = part.resolve(cur)
        bad = _validate_transform(cur, c, perm)
        if bad:
            return cur, False, bad, flops
        if isinstance(part, Standardize):
            flops += count(lambda fnp, wi: 1.0 / fnp.abs(wi), cur.W_hi[:, 0])
        if not isinstance(part, Permute):
            flops += count(lambda fnp, ws, cc: _apply_one_fnp(ws, cc, fnp), dict(cur.weights), c)
        cur = cur.with_weights(_apply_one(cur, c, perm))
    probe = np.random.default_rng(_PROBE_SEED).standard_normal((_PROBE_SIZE, model.seq_len))
    a, b = forward_numpy(model, probe), forward_numpy(cur, probe)
    err = float(np.abs(a - b).max())
    ok = err <= 1e-9 * (1.0 + float(np.abs(a).max()))
    note = f"outputs agree on {_PROBE_SIZE} probe inputs (max |difference| {err:.1e})"
    return cur, ok, note if ok else "outputs differ on the probe batch: " + note, flops


def _apply_one_fnp(ws: Mapping[str, Any], c: Any, fnp: Any) -> None:
    for key, a in ws.items():
        if key == "rnn.weight_ih_l0":
            _ = a * c[:, None]
        elif key == "rnn.weight_hh_l0":
            _ = a * c[:, None] / c[None, :]
        elif key == "linear.weight":
            _ = a / c[None, :]
        elif key in ("rnn.bias_ih_l0", "rnn.bias_hh_l0"):
            _ = a * c


# ----------------------------------------------------------------------------------------------
# The symbolic network
# ----------------------------------------------------------------------------------------------


def _sym_mats(d: int, k: int, bias: bool = False) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix, sp.Matrix | None]:
    w_hi = sp.Matrix(d, 1, lambda i, _j: w("W_hi", i))
    w_hh = sp.Matrix(d, d, lambda i, j: w("W_hh", i, j))
    w_oh = sp.Matrix(k, d, lambda i, j: w("W_oh", i, j))
    b = sp.Matrix(d, 1, lambda i, _j: w("b_hi", i) + w("b_hh", i)) if bias else None
    return w_hi, w_hh, w_oh, b


def network_outputs(d: int, n: int, k: int | None = None) -> sp.Matrix:
    """Symbolic outputs of a bias-free ReLU RNN with ReLU = ``Max(., 0)`` (k defaults to n)."""
    k = n if k is None else k
    w_hi, w_hh, w_oh, _ = _sym_mats(d, k)
    h = sp.zeros(d, 1)
    for t in range(n):
        pre = w_hh * h + w_hi * x(t)
        h = pre.applyfunc(relu)
    return w_oh * h


def piece_outputs(d: int, n: int, pattern: Sequence[int], k: int | None = None) -> sp.Matrix:
    """Symbolic outputs on the linear piece with activation ``pattern`` (bits for (t, i), t-major,
    as in :mod:`symest.regions`): ``W_oh diag(s_{n-1}) (W_hh ... ) x``, linear in x."""
    k = n if k is None else k
    if len(pattern) != d * n:
        raise DerivationError(f"pattern has {len(pattern)} bits, expected {d * n}")
    w_hi, w_hh, w_oh, _ = _sym_mats(d, k)
    h = sp.zeros(d, 1)
    for t in range(n):
        pre = w_hh * h + w_hi * x(t)
        h = sp.Matrix([pre[i] if pattern[t * d + i] else 0 for i in range(d)])
    return (w_oh * h).applyfunc(sp.expand)


def piece_constraints(d: int, n: int, pattern: Sequence[int]) -> list[sp.Expr]:
    """The linear piece of ``pattern`` as relations ``Z_t[i] >= 0`` (active) / ``Z_t[i] <= 0``."""
    w_hi, w_hh, _w_oh, _ = _sym_mats(d, 1)
    h = sp.zeros(d, 1)
    out = []
    for t in range(n):
        pre = (w_hh * h + w_hi * x(t)).applyfunc(sp.expand)
        for i in range(d):
            out.append(sp.GreaterThan(pre[i], 0) if pattern[t * d + i] else sp.LessThan(pre[i], 0))
        h = sp.Matrix([pre[i] if pattern[t * d + i] else 0 for i in range(d)])
    return out


def linear_pieces(model: Model, steps: int | None = None) -> list[tuple[int, ...]]:
    """Activation patterns (bits for (t, i), t-major) of the model's linear pieces with nonempty
    interior, by depth-first splitting on each pre-activation's sign (emptiness by LP). With
    ``steps`` < n, the pieces of the first ``steps`` steps only (cones in R^n that leave the later
    inputs free; their constraints are ``piece_constraints(d, steps, pattern)``)."""
    from symest.cones import Cone, is_empty

    _require_rnn(model)
    if model.has_bias:
        raise DerivationError(f"linear pieces are cones only for bias-free RNNs; {model.name} has biases")
    d, n = model.hidden, model.seq_len
    stop = n if steps is None else int(steps)
    if not 1 <= stop <= n:
        raise DerivationError(f"steps must lie in 1..{n}, got {steps}")
    out: list[tuple[int, ...]] = []

    def step_input(t: int) -> np.ndarray:
        z = np.zeros((d, n))
        z[:, t] = model.W_hi[:, 0]
        return z

    Item = tuple[np.ndarray, int, int, np.ndarray, tuple[int, ...]]
    stack: list[Item] = [(np.zeros((0, n)), 0, 0, step_input(0), ())]
    while stack:
        normals, t, i, state, pattern = stack.pop()
        if t == stop:
            out.append(pattern)
            continue
        row = state[i]
        kids = []
        if not np.any(row):
            kids.append((normals, state, 0))
        else:
            for sign, bit in ((1.0, 1), (-1.0, 0)):
                cone = np.vstack([normals, sign * row])
                if is_empty(Cone(cone)):
                    continue
                st = state
                if bit == 0:
                    st = state.copy()
                    st[i] = 0.0
                kids.append((cone, st, bit))
        for cone, st, bit in reversed(kids):
            tt, ii = t, i + 1
            if ii == d:
                tt, ii = t + 1, 0
                if tt < stop:
                    st = model.W_hh @ st + step_input(tt)
            stack.append((cone, tt, ii, st, (*pattern, bit)))
    return out


# ----------------------------------------------------------------------------------------------
# Regions and cone measures
# ----------------------------------------------------------------------------------------------


def _as_relation(c: Any) -> sp.Expr:
    c = _sym(c)
    if not isinstance(c, (sp.GreaterThan, sp.StrictGreaterThan, sp.LessThan, sp.StrictLessThan)):
        raise DerivationError(f"a region constraint must be an inequality, got {str(c)[:60]}")
    return c


def _constraint_expr(c: sp.Expr) -> sp.Expr:
    """``g`` with the constraint reading ``g >= 0``."""
    lhs, rhs = c.args
    return lhs - rhs if isinstance(c, (sp.GreaterThan, sp.StrictGreaterThan)) else rhs - lhs


@functools.lru_cache(maxsize=8192)
def _normal_fn(g: sp.Expr, n: int) -> tuple[list[sp.Symbol], Callable[..., Any], sp.Matrix]:
    xs = input_symbols(n)
    extra = [s for s in g.free_symbols if _INPUT_RE.match(s.name) and int(s.name[2:]) >= n]
    if extra:
        raise DerivationError(f"constraint {str(g)[:60]} mentions {extra[0]} but inputs are x_0..x_{n - 1}")
    grad = sp.Matrix([sp.diff(g, xi) for xi in xs])
    if any(gi.free_symbols & set(xs) for gi in grad) or sp.expand(g.xreplace(dict.fromkeys(xs, 0))) != 0:
        raise DerivationError(f"constraint {str(g)[:60]} is not linear and homogeneous in x_0..x_{n - 1}")
    syms = sorted(set().union(*[gi.free_symbols for gi in grad]), key=lambda s: s.name)
    fn = sp.lambdify(syms, list(grad), modules="numpy")
    return syms, fn, grad


def constraint_normals(constraints: Sequence[Any], n: int, values: Mapping[sp.Symbol, float]) -> np.ndarray:
    """Numeric cone normals (rows) of symbolic constraints at the given weights."""
    rows = []
    for c in constraints:
        if isinstance(c, np.ndarray):
            rows.append(np.asarray(c, dtype=np.float64).reshape(-1, n))
            continue
        syms, fn, _ = _normal_fn(_constraint_expr(_as_relation(c)), n)
        missing = [s.name for s in syms if s not in values]
        if missing:
            raise DerivationError(f"constraint mentions {missing[0]}, which has no value here")
        rows.append(np.asarray(fn(*[values[s] for s in syms]), dtype=np.float64).reshape(1, n))
    return np.vstack(rows) if rows else np.zeros((0, n))


def _constraint_flops(constraints: Sequence[Any], n: int) -> int:
    total = 0
    for c in constraints:
        if isinstance(c, np.ndarray):
            continue
        _, _, grad = _normal_fn(_constraint_expr(_as_relation(c)), n)
        total += sum(expr_flops(g) for g in grad)
    return total


def cone_measure(normals: np.ndarray) -> Any:
    """:func:`symest.cones.gaussian_measure` of ``{x : normals @ x >= 0}``.

    Results are memoized by the normals' bytes (the function is deterministic), so an audit on
    the same weights does not pay twice."""
    a = np.ascontiguousarray(normals, dtype=np.float64)
    return _cone_measure(a.tobytes(), a.shape)


def _cone_empty(normals: np.ndarray) -> bool:
    a = np.ascontiguousarray(normals, dtype=np.float64)
    return _cone_empty_cached(a.tobytes(), a.shape)


@functools.lru_cache(maxsize=65536)
def _cone_empty_cached(raw: bytes, shape: tuple[int, ...]) -> bool:
    from symest.cones import Cone, is_empty

    return is_empty(Cone(np.frombuffer(raw, dtype=np.float64).reshape(shape)))


@functools.lru_cache(maxsize=65536)
def _cone_measure(raw: bytes, shape: tuple[int, ...]) -> Any:
    from symest.cones import Cone, gaussian_measure

    return gaussian_measure(Cone(np.frombuffer(raw, dtype=np.float64).reshape(shape)))


@dataclass(frozen=True)
class Measure_:
    """A serializable compute: the Gaussian measure of (enclosing region) ∩ ``constraints``."""

    constraints: tuple[Any, ...]
    within_region: bool = True

    def describe(self) -> str:
        inner = " ∧ ".join(str(c) for c in self.constraints) or "everything"
        return f"Gaussian measure of {'region ∧ ' if self.within_region else ''}{inner}"


def measure(*constraints: Any, within_region: bool = True) -> Measure_:
    """A compute leaf: P(x in enclosing branch region ∩ constraints), x ~ N(0, I), by
    :func:`symest.cones.gaussian_measure`. Constraints: SymPy inequalities linear in x_i
    (coefficients may involve weight symbols) or numeric normal rows (then not re-auditable
    against other weights symbolically, but stored)."""
    return Measure_(tuple(c if isinstance(c, np.ndarray) else _as_relation(c) for c in constraints), within_region)


@dataclass(frozen=True)
class Computed:
    """What a callable compute step may return."""

    value: float
    flops: int = 0
    error_bound: float = 0.0
    exact: bool = True


class Context:
    """What callable compute/presume steps see: the current (reparametrized) model, weight
    values, the enclosing region, and earlier results by name."""

    def __init__(self, model: Model, region: Sequence[Any], results: dict[str, float]) -> None:
        self.model = model
        self.values = weight_values(model)
        self.region = list(region)
        self.results = results

    @property
    def n(self) -> int:
        return self.model.seq_len

    def result(self, name: str) -> float:
        if name not in self.results:
            raise DerivationError(f"no earlier result called {name!r}")
        return self.results[name]

    def value(self, e: Any) -> Any:
        return evaluate(e, self.values)

    def normals(self, *extra: Any) -> np.ndarray:
        return constraint_normals([*self.region, *extra], self.n, self.values)

    def cone(self, *extra: Any) -> Any:
        from symest.cones import Cone

        return Cone(self.normals(*extra))

    def measure(self, *extra: Any) -> Any:

        return cone_measure(self.normals(*extra))


# ----------------------------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------------------------


@dataclass
class Step:
    kind: str
    name: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Branch:
    """One region of a split: constraints (SymPy inequalities linear in x, or numeric normal rows)
    and the sub-derivation that runs inside it. ``stratum`` tags contributions for per-stratum
    estimates (rank tasks: (position of the largest, position of the second largest))."""

    name: str
    region: Sequence[Any]
    derivation: Derivation
    stratum: tuple[int, ...] | None = None


_KIND_ORDER = {"exact": 0, "numerical": 1, "approximate": 2}


class Derivation:
    """An estimate as a program of steps; see the module docstring. Builder methods return self."""

    def __init__(self, name: str, *, model: str | None = None, task: str | None = None,
                 seq_len: int | None = None, hidden: int | None = None, description: str = "") -> None:
        self.name = name
        self.model_name = model
        self.requires = {"task": task, "seq_len": seq_len, "hidden": hidden}
        self.description = description
        self.steps: list[Step] = []

    # -- builders --------------------------------------------------------------------------
    def _add(self, step_kind: str, step_name: str, **payload: Any) -> Derivation:
        if any(s.name == step_name for s in self.steps):
            raise DerivationError(f"step name {step_name!r} is used twice in derivation {self.name!r}")
        if "/" in step_name or not step_name:
            raise DerivationError(f"step names must be non-empty and contain no '/': {step_name!r}")
        self.steps.append(Step(step_kind, step_name, payload))
        return self

    def reparametrize(self, name: str, transform: Any) -> Derivation:
        return self._add("reparametrize", name, transform=transform)

    def standardize(self, name: str = "standardize") -> Derivation:
        return self.reparametrize(name, Standardize())

    def deduce(self, name: str, statement: Any, *, assuming: Sequence[str] | None = None, text: str = "") -> Derivation:
        st = _sym(statement)
        if not isinstance(st, (sp.Equality, sp.StrictGreaterThan, sp.StrictLessThan, sp.GreaterThan,
                               sp.LessThan, sp.And)):
            raise DerivationError(f"deduce needs an equation or inequality, got {str(st)[:60]}")
        return self._add("deduce", name, statement=st, assuming=None if assuming is None else list(assuming),
                         text=text)

    def check(self, name: str, claim: Any, prior: Prior | None = None, *, text: str = "") -> Derivation:
        c = _sym(claim)
        claim_form(c)
        return self._add("check", name, claim=c, prior=prior or AUTO, text=text)

    def split(self, name: str, branches: Sequence[Branch], *, verify: str = "auto") -> Derivation:
        if verify not in ("auto", "always", "never"):
            raise DerivationError(f"verify must be auto, always or never, got {verify!r}")
        names = [b.name for b in branches]
        if len(set(names)) != len(names) or any("/" in nm for nm in names):
            raise DerivationError(f"branch names in split {name!r} must be distinct and contain no '/'")
        return self._add("split", name, branches=list(branches), verify=verify)

    def presume(self, name: str, statement: Any, value: float | Callable[[Context], Any] | None = None,
                uncertainty: float | None = 0.0, *, stratum: tuple[int, ...] | None = None) -> Derivation:
        """``uncertainty=None``: take it from the callable's :class:`Computed` ``error_bound``."""
        if isinstance(statement, sp.Basic):
            expr_to_tree(statement)  # must be storable
        elif not isinstance(statement, str):
            raise DerivationError("a presumption's statement is text or a SymPy expression")
        return self._add("presume", name, statement=statement, value=value,
                         uncertainty=None if uncertainty is None else float(uncertainty), stratum=stratum)

    def compute(self, name: str, what: Any, kind: str = "exact", *, contributes: bool = True,
                coef: float = 1.0, stratum: tuple[int, ...] | None = None, text: str = "") -> Derivation:
        if kind not in ("exact", "numerical"):
            raise DerivationError(f"compute kind must be exact or numerical, got {kind!r}")
        if not (callable(what) or isinstance(what, (Measure_, sp.Basic, int, float))):
            raise DerivationError("compute needs an expression, a measure(...) or a callable; "
                                  f"got {type(what).__name__}")
        return self._add("compute", name, what=what if callable(what) or isinstance(what, Measure_) else _sym(what),
                         kind=kind, contributes=contributes, coef=float(coef), stratum=stratum, text=text)

    # -- running ---------------------------------------------------------------------------
    def check_model(self, model: Model) -> None:
        """Raise DerivationError (one line) if the model is not what this derivation is for."""
        _require_rnn(model)
        req = self.requires
        bad = []
        if req["task"] and model.task.name != req["task"]:
            bad.append(f"task {req['task']} (got {model.task.name})")
        if req["seq_len"] and model.seq_len != req["seq_len"]:
            bad.append(f"sequence length {req['seq_len']} (got {model.seq_len})")
        if req["hidden"] and model.hidden != req["hidden"]:
            bad.append(f"hidden size {req['hidden']} (got {model.hidden})")
        if bad:
            raise DerivationError(f"derivation {self.name!r} needs {', '.join(bad)} for {model.name}")

    def run(self, model: Model, *, samples: int | None = None, seed: int = 0) -> tuple[Estimate, Any]:
        """Evaluate on ``model``: (Estimate, Ledger). With ``samples``, the residual surprise is
        measured against that many seeded samples (:func:`symest.check.residual_bits`)."""
        from symest.ledger import Ledger

        self.check_model(model)
        t0 = time.perf_counter()
        run = _Runner(model)
        records = run.steps(self.steps, "", [], top=True)
        value = run.total
        kind = max(run.kinds, key=lambda k: _KIND_ORDER[k]) if run.kinds else "exact"
        stderr = math.sqrt(sum(u * u for u in run.uncertainties)) if run.uncertainties else None
        details: dict[str, Any] = {"derivation": self.name, "valid": run.valid}
        strata = run.strata_estimates(model)
        if strata:
            details["strata"] = strata
        est = Estimate(model.name, "derivation", model.task.metric, value, kind, int(run.flops), stderr=stderr,
                       error_bound=run.error_bound if kind != "approximate" else None,
                       seconds=time.perf_counter() - t0, details=details)
        residual = None
        if samples:
            from symest.check import residual_for_model

            residual = residual_for_model(model, est, samples, seed)
        ledger = Ledger.build(self, model, records, est, residual)
        return est, ledger

    evaluate = run

    @classmethod
    def from_steps(cls, name: str, steps: list[Step], **kw: Any) -> Derivation:
        d = cls(name, **kw)
        d.steps = steps
        return d


@dataclass
class _Frozen:
    """A callable compute/presume restored from a ledger: its recorded value, not recomputable."""

    value: float
    flops: int
    error_bound: float
    exact: bool
    label: str

    def __call__(self, _ctx: Context) -> Computed:
        return Computed(self.value, self.flops, self.error_bound, self.exact)


class _Runner:
    """Mutable state of one run: current model, facts, results, totals."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.facts: dict[str, sp.Expr] = {}
        self.results: dict[str, float] = {}
        self.total = 0.0
        self.flops = 0
        self.error_bound = 0.0
        self.kinds: list[str] = []
        self.uncertainties: list[float] = []
        self.valid = True
        self.strata: dict[tuple[int, ...], float] = {}
        self.untagged = 0.0

    # contributions -------------------------------------------------------------------------
    def contribute(self, v: float, stratum: tuple[int, ...] | None) -> None:
        self.total += v
        if stratum is None:
            self.untagged += v
        else:
            key = tuple(int(s) for s in stratum)
            self.strata[key] = self.strata.get(key, 0.0) + v

    def strata_estimates(self, model: Model) -> dict[str, float] | None:
        """Per-stratum conditional accuracy (untagged contributions spread uniformly)."""
        if not self.strata or model.task.above(model.seq_len) != 1:
            return None
        n = model.seq_len
        mass = 1.0 / (n * (n - 1))
        return {f"{a},{b}": self.strata.get((a, b), 0.0) / mass + self.untagged
                for a in range(n) for b in range(n) if a != b}

    # steps -------------------------------------------------------------------------------------
    def steps(self, steps: Sequence[Step], prefix: str, region: list[Any], top: bool,
              stratum: tuple[int, ...] | None = None) -> list[Any]:
        from symest.ledger import StepRecord

        out: list[StepRecord] = []
        for step in steps:
            path = f"{prefix}{step.name}"
            rec = getattr(self, f"_{step.kind}")(step, path, region, top, stratum)
            if rec.verified is False:
                self.valid = False
            self.flops += rec.flops
            out.append(rec)
        return out

    def _reparametrize(self, step: Step, path: str, region: list[Any], top: bool, _s: Any) -> Any:
        from symest.ledger import StepRecord

        if not top:
            raise DerivationError(f"{path}: reparametrize only at the top level of a derivation")
        tr = step.payload["transform"]
        new, ok, note, flops = apply_reparametrization(self.model, tr)
        facts = []
        if ok:
            self.model = new
            if _contains_standardize(tr):
                for i, v in enumerate(new.W_hi[:, 0]):
                    if v != 0:
                        fact = sp.Eq(sp.Abs(w("W_hi", i)), 1)
                        self.facts[f"{path}:|W_hi[{i}]|=1"] = fact
                        facts.append(str(fact))
        return StepRecord(path=path, kind="reparametrize", name=step.name, statement=tr.describe(),
                          latex=sp.latex(sp.Symbol(r"\text{" + tr.describe().replace("_", r"\_") + "}")),
                          bits=0.0, flops=int(flops), verified=ok, spec={"transform": tr.spec()},
                          note=note + (f"; facts: {', '.join(facts)}" if facts else ""))

    def _deduce(self, step: Step, path: str, region: list[Any], top: bool, _s: Any) -> Any:
        from symest.ledger import StepRecord

        st = step.payload["statement"]
        names = step.payload["assuming"]
        if names is None:
            used = dict(self.facts)
        else:
            missing = [nm for nm in names if nm not in self.facts and not any(k.endswith("/" + nm) for k in self.facts)]
            if missing:
                raise DerivationError(f"{path}: assumes unknown or unverified fact(s) {', '.join(missing)}")
            used = {k: v for k, v in self.facts.items() if k in names or any(k.endswith("/" + nm) for nm in names)}
        ok = _prove(st, list(used.values()))
        if ok and isinstance(st, (sp.StrictGreaterThan, sp.StrictLessThan, sp.GreaterThan, sp.LessThan)):
            self.facts[path] = st
        return StepRecord(path=path, kind="deduce", name=step.name, statement=str(st), latex=_latex(st), bits=0.0,
                          flops=0, verified=ok,
                          spec={"statement": expr_to_tree(st), "assuming": names},
                          note=step.payload.get("text", "") or ("" if ok else "could not be proved"))

    def _check(self, step: Step, path: str, region: list[Any], top: bool, _s: Any) -> Any:
        from symest.ledger import StepRecord

        claim = step.payload["claim"]
        prior: Prior = step.payload["prior"]
        values = weight_values(self.model)
        ok = bool(evaluate(claim, values))
        measured = _measured(claim, values)
        bits = prior.bits(claim)
        if ok:
            self.facts[path] = claim
        return StepRecord(path=path, kind="check", name=step.name, statement=str(claim), latex=_latex(claim),
                          bits=bits, flops=expr_flops(claim), verified=ok,
                          spec={"claim": expr_to_tree(claim)},
                          prior={**prior.spec(), "form": claim_form(claim), "log2_probability": -bits},
                          measured=measured, note=step.payload.get("text", ""))

    def _split(self, step: Step, path: str, region: list[Any], top: bool, stratum: Any) -> Any:
        from symest.ledger import BranchRecord, StepRecord

        branches: list[Branch] = step.payload["branches"]
        values = weight_values(self.model)
        n = self.model.seq_len
        regions = [[*region, *(c if isinstance(c, np.ndarray) else _as_relation(c) for c in b.region)]
                   for b in branches]
        ok, note, masses = _verify_partition(region, regions, n, values, step.payload["verify"])
        brecs = []
        for b, reg, mass in zip(branches, regions, masses, strict=True):
            sub = self.steps(b.derivation.steps, f"{path}/{b.name}/", reg, False, b.stratum or stratum)
            brecs.append(BranchRecord(name=b.name, region=[_region_item(c) for c in b.region],
                                      region_text=[_region_text(c) for c in b.region],
                                      stratum=list(b.stratum) if b.stratum is not None else None, mass=mass, steps=sub))
        return StepRecord(path=path, kind="split", name=step.name,
                          statement=f"case split into {len(branches)} regions: " + ", ".join(b.name for b in branches),
                          latex="", bits=0.0, flops=0, verified=ok, spec={"verify": step.payload["verify"]},
                          note=note, branches=brecs)

    def _presume(self, step: Step, path: str, region: list[Any], top: bool, stratum: Any) -> Any:
        from symest.ledger import StepRecord

        p = step.payload
        value = p["value"]
        flops = 0
        recomputed = True
        eb = 0.0
        if callable(value):
            recomputed = not isinstance(value, _Frozen)
            got = value(Context(self.model, region, self.results))
            v, flops, eb, _ex = _unpack(got)
        else:
            v = None if value is None else float(value)
        unc = float(eb if p["uncertainty"] is None else p["uncertainty"])
        self.kinds.append("approximate")
        self.uncertainties.append(unc)
        if v is not None:
            self.results[step.name] = v
            self.contribute(v, p["stratum"] or stratum)
        st = p["statement"]
        text = st if isinstance(st, str) else str(st)
        return StepRecord(path=path, kind="presume", name=step.name, statement=text,
                          latex=sp.latex(st) if isinstance(st, sp.Basic) else "", bits=0.0, flops=int(flops),
                          verified=None, spec={"uncertainty": unc, "callable": callable(value),
                                               "stratum": list(p["stratum"]) if p["stratum"] else None},
                          value=v, contribution=v, value_kind="approximate", uncertainty=unc,
                          recomputed=recomputed)

    def _compute(self, step: Step, path: str, region: list[Any], top: bool, stratum: Any) -> Any:
        from symest.ledger import StepRecord

        p = step.payload
        what = p["what"]
        values = weight_values(self.model)
        n = self.model.seq_len
        recomputed = True
        spec: dict[str, Any]
        if isinstance(what, Measure_):
            cons = [*(region if what.within_region else []), *what.constraints]
            m = cone_measure(constraint_normals(cons, n, values))
            v, flops, eb, exact = m.value, m.flops + _constraint_flops(cons, n), m.error_bound, m.exact
            spec = {"type": "measure", "within_region": what.within_region,
                    "constraints": [_region_item(c) for c in what.constraints]}
            statement = what.describe()
            latex = ""
        elif callable(what):
            recomputed = not isinstance(what, _Frozen)
            v, flops, eb, exact = _unpack(what(Context(self.model, region, self.results)))
            spec = {"type": "callable", "label": what.label if isinstance(what, _Frozen)
                    else getattr(what, "__qualname__", type(what).__name__)}
            statement = p.get("text") or f"computed by {spec['label']}"
            latex = ""
        else:
            v = float(evaluate(what, values)) if what.free_symbols else float(what)
            flops, eb, exact = expr_flops(what), 0.0, True
            spec = {"type": "expression", "expr": expr_to_tree(what)}
            statement, latex = str(what), sp.latex(what)
        kind = "exact" if exact and p["kind"] == "exact" else "numerical"
        self.kinds.append(kind)
        self.error_bound += abs(p["coef"]) * eb
        self.results[step.name] = v
        contribution = None
        if p["contributes"]:
            contribution = p["coef"] * v
            self.contribute(contribution, p["stratum"] or stratum)
        spec.update({"kind": p["kind"], "contributes": p["contributes"], "coef": p["coef"],
                     "stratum": list(p["stratum"]) if p["stratum"] else None})
        return StepRecord(path=path, kind="compute", name=step.name, statement=statement, latex=latex, bits=0.0,
                          flops=int(flops), verified=None, spec=spec, value=v, contribution=contribution,
                          value_kind=kind, error_bound=eb, recomputed=recomputed, note=p.get("text", ""))


def _contains_standardize(tr: Any) -> bool:
    return isinstance(tr, Standardize) or (isinstance(tr, Compose) and any(_contains_standardize(p) for p in tr.parts))


def _unpack(got: Any) -> tuple[float, int, float, bool]:
    from symest.cones import Measure

    if isinstance(got, Computed):
        return float(got.value), int(got.flops), float(got.error_bound), bool(got.exact)
    if isinstance(got, Measure):
        return float(got.value), int(got.flops), float(got.error_bound), bool(got.exact)
    if isinstance(got, tuple) and len(got) == 2:
        return float(got[0]), int(got[1]), 0.0, True
    if isinstance(got, (int, float, np.floating, np.integer)):
        return float(got), 0, 0.0, True
    raise DerivationError(f"a compute callable must return a number, (value, flops), Computed or Measure; "
                          f"got {type(got).__name__}")


def _prove(st: sp.Expr, facts: list[sp.Expr]) -> bool:
    """Prove a deduce statement from facts (results cached: audits re-prove the same statements)."""
    return _prove_cached(st, tuple(sorted(set(facts), key=sp.default_sort_key)))


@functools.lru_cache(maxsize=2048)
def _prove_cached(st: sp.Expr, facts: tuple[sp.Expr, ...]) -> bool:
    facts = list(facts)
    if isinstance(st, sp.And):
        return all(_prove(a, facts) for a in st.args)
    if isinstance(st, sp.Equality):
        return prove_identity(st.args[0], st.args[1], facts)
    lhs, rhs = st.args
    g = lhs - rhs if isinstance(st, (sp.StrictGreaterThan, sp.GreaterThan)) else rhs - lhs
    if isinstance(st, (sp.GreaterThan, sp.LessThan)) and prove_identity(g, 0, facts):
        return True
    return prove_positive(g, facts)


def _measured(claim: sp.Expr, values: Mapping[sp.Symbol, float]) -> dict[str, Any]:
    if isinstance(claim, sp.And):
        return {"parts": [_measured(a, values) for a in claim.args]}
    if isinstance(claim, Agree):
        a, b = (float(evaluate(arg, values)) for arg in claim.args[:2])
        return {"a": a, "b": b, "agreement_bits": agreement_bits(a, b)}
    lhs, rhs = claim.args
    return {"lhs": float(evaluate(lhs, values)), "rhs": float(evaluate(rhs, values))}


def _region_item(c: Any) -> Any:
    if isinstance(c, np.ndarray):
        return {"normals": np.asarray(c, dtype=np.float64).reshape(-1, c.shape[-1]).tolist()}
    return expr_to_tree(c)


def _region_text(c: Any) -> str:
    if isinstance(c, np.ndarray):
        return "normals " + np.array2string(np.asarray(c).reshape(-1, c.shape[-1]), precision=4)
    return str(c)


PARTITION_MAX_BRANCHES = 24
PARTITION_MAX_DIM = 3


def _verify_partition(parent: list[Any], regions: list[list[Any]], n: int, values: Mapping[sp.Symbol, float],
                      mode: str) -> tuple[bool | None, str, list[float | None]]:
    """Whether the regions partition the parent (up to measure zero): measures add up and pairwise
    intersections have empty interior. Skipped ("auto") above 24 branches or 3 dimensions."""
    k = len(regions)
    if mode == "never" or (mode == "auto" and (k > PARTITION_MAX_BRANCHES or n > PARTITION_MAX_DIM)):
        return None, "partition not verified (too many branches or dimensions for a cheap check)", [None] * k
    normals = [constraint_normals(r, n, values) for r in regions]
    ms = [cone_measure(a) for a in normals]
    parent_m = cone_measure(constraint_normals(parent, n, values))
    total = sum(m.value for m in ms)
    tol = 1e-9 + sum(m.error_bound for m in ms) + parent_m.error_bound
    adds = abs(total - parent_m.value) <= tol
    overlaps = [(i, j) for i, j in itertools.combinations(range(k), 2)
                if not _cone_empty(np.vstack([normals[i], normals[j]]))]
    ok = adds and not overlaps
    note = f"measures add up to {total:.12g} (enclosing region {parent_m.value:.12g})"
    if overlaps:
        note += f"; overlapping branches {overlaps[:3]}"
    return ok, note, [m.value for m in ms]


# ----------------------------------------------------------------------------------------------
# Proof files
# ----------------------------------------------------------------------------------------------


def load_proof(path: str | Path) -> Any:
    """Import a proof file (``derive(model) -> Derivation`` and ``MODEL``) by path."""
    p = Path(path)
    if not p.is_file():
        raise DerivationError(f"proof file {p} not found")
    name = "symest_proof_" + re.sub(r"\W", "_", p.stem) + "_" + hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise DerivationError(f"{p} is not a Python file")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except SymestError:
        raise
    except Exception as e:
        raise DerivationError(f"proof {p.name} failed to load: {type(e).__name__}: {_one_line(e)}") from None
    if not callable(getattr(mod, "derive", None)) or not isinstance(getattr(mod, "MODEL", None), str):
        raise DerivationError(f"proof {p.name} must define derive(model) -> Derivation and MODEL = '<model name>'")
    return mod


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


def run_proof(path: str | Path, model_name: str | None = None, *, samples: int | None = 1 << 20,
              seed: int = 0, model: Model | None = None) -> tuple[Estimate, Any]:
    """Load a proof file, build its derivation for the model (its ``MODEL`` unless
    ``model_name``/``model`` is given) and run it: (Estimate, Ledger). Every failure is a
    one-line :class:`DerivationError` (or another SymestError)."""
    mod = load_proof(path)
    if model is None:
        from symest.zoo import load

        model = load(model_name or mod.MODEL)
    deriv = build_proof(path, model, mod)
    try:
        return deriv.run(model, samples=samples, seed=seed)
    except SymestError as e:
        raise type(e)(f"proof {Path(path).name} on {model.name}: {_one_line(e)}") from None
    except Exception as e:
        raise DerivationError(f"proof {Path(path).name} on {model.name} failed: {type(e).__name__}: "
                              f"{_one_line(e)}") from None


def build_proof(path: str | Path, model: Model, mod: Any = None) -> Derivation:
    """The Derivation a proof file builds for ``model`` (errors as one-line SymestErrors)."""
    mod = mod or load_proof(path)
    try:
        deriv = mod.derive(model)
    except SymestError as e:
        raise type(e)(f"proof {Path(path).name} on {model.name}: {_one_line(e)}") from None
    except Exception as e:
        raise DerivationError(f"proof {Path(path).name} on {model.name} failed: {type(e).__name__}: "
                              f"{_one_line(e)}") from None
    if not isinstance(deriv, Derivation):
        raise DerivationError(f"proof {Path(path).name}: derive() returned {type(deriv).__name__}, not a Derivation")
    return deriv
