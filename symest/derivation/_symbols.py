"""Weight and input symbols of an RNN, its weight values and fingerprint, and SymPy coercion."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
import sympy as sp

from symest.derivation._errors import DerivationError
from symest.model import Model

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


def _sym(obj: Any) -> Any:
    """SymPy object from a SymPy object or a number; strings are refused (never parsed/evaluated)."""
    if isinstance(obj, str):
        raise DerivationError(f"expected a SymPy expression, got the string {obj[:40]!r} (build claims with "
                              "symest.derivation.w/x and SymPy, strings are never parsed)")
    try:
        return sp.sympify(obj, strict=True)
    except sp.SympifyError:
        raise DerivationError(f"expected a SymPy expression or a number, got {type(obj).__name__}") from None
