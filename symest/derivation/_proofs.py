"""Proof files: load, build and run a ``derive(model)`` file."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from symest._errors import SymestError
from symest.derivation._errors import DerivationError
from symest.derivation._program import Derivation
from symest.estimate import Estimate
from symest.model import Model


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


def split_proof_name(text: str | Path) -> tuple[str, str]:
    """(path, function) of ``FILE[:FUNCTION]``: a trailing ``:identifier`` names the function that
    builds the derivation (``derive`` unless named), e.g. ``proofs/m43.py:derive_symmetric``."""
    text = str(text)
    if ":" in text:
        head, tail = text.rsplit(":", 1)
        if tail.isidentifier() and head:
            return head, tail
    return text, "derive"


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


def run_proof(path: str | Path, model_name: str | None = None, *, samples: int | None = 1 << 20,
              seed: int = 0, model: Model | None = None) -> tuple[Estimate, Any]:
    """Load a proof file (``FILE[:FUNCTION]``), build its derivation for the model (its ``MODEL``
    unless ``model_name``/``model`` is given) and run it: (Estimate, Ledger). Every failure is a
    one-line :class:`DerivationError` (or another SymestError)."""
    mod = load_proof(split_proof_name(path)[0])
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
    """The Derivation a proof file (``FILE[:FUNCTION]``) builds for ``model`` (errors as one-line
    SymestErrors)."""
    path, func = split_proof_name(path)
    mod = mod or load_proof(path)
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise DerivationError(f"proof {Path(path).name} has no function {func}(model) -> Derivation")
    try:
        deriv = fn(model)
    except SymestError as e:
        raise type(e)(f"proof {Path(path).name} on {model.name}: {_one_line(e)}") from None
    except Exception as e:
        raise DerivationError(f"proof {Path(path).name} on {model.name} failed: {type(e).__name__}: "
                              f"{_one_line(e)}") from None
    if not isinstance(deriv, Derivation):
        raise DerivationError(f"proof {Path(path).name}: {func}() returned {type(deriv).__name__}, not a Derivation")
    return deriv
