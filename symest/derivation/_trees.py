"""Expression (de)serialization as JSON trees: a whitelist of node types, no eval."""

from __future__ import annotations

import re
from typing import Any

import sympy as sp

from symest.derivation._agree import Agree
from symest.derivation._errors import DerivationError
from symest.derivation._symbols import _sym

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
