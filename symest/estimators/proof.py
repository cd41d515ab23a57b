"""Proof files as estimators: ``proof:<path>`` or ``proof:<path>:<function>``.

The method name names a proof file (see :func:`symest.derivation.load_proof`) and a function in it
that builds a :class:`~symest.derivation.Derivation` for a model (``derive`` unless named), e.g.
``proof:proofs/m43.py:derive_symmetric``. The estimate is the derivation's own (its value, kind,
stated uncertainty and FLOPs as the derivation bills them); no residual sampling is done
(``samples`` is None). A derivation costs what it costs: when its FLOPs exceed ``budget`` the
estimator raises :class:`~symest._errors.BudgetError` (the benchmark reports "unable").

The path is tried as given (absolute, or relative to the working directory), then relative to the
repository root (the folder above the ``symest`` package), so the names work in the benchmark's
spawned worker processes. A derivation does not depend on the budget or the seed, so its result is
remembered per process, keyed by (file, function, weights fingerprint): one run per noisy copy
serves every budget.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from pathlib import Path
from typing import Any

from symest._errors import BudgetError, MethodError, SymestError
from symest.estimate import Estimate
from symest.model import Model

PREFIX = "proof:"
_CACHE: OrderedDict[tuple[str, int, str, str], Estimate] = OrderedDict()
_CACHE_SIZE = 8192


def is_proof_method(name: object) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def parse(name: str) -> tuple[str, str]:
    """(path text, function name) of ``proof:<path>[:<function>]``."""
    if not is_proof_method(name):
        raise MethodError(f"not a proof method: {name!r} (expected proof:<path> or proof:<path>:<function>)")
    from symest.derivation import split_proof_name

    path, func = split_proof_name(name[len(PREFIX):])
    if not path:
        raise MethodError(f"method {name!r} names no proof file (expected proof:<path>[:<function>])")
    return path, func


def _repo_root() -> Path:
    import symest

    return Path(symest.__file__).resolve().parent.parent


def resolve(path: str) -> Path:
    """The proof file: as given (absolute or relative to the working directory), else relative to
    the repository root, else among the bundled proofs; MethodError if none exists."""
    from symest.zoo import bundled_dir

    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, _repo_root() / p, bundled_dir("proofs") / p.name]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise MethodError(f"proof file {path!r} not found (tried {', '.join(str(c) for c in candidates)})")


def known(name: str) -> bool:
    """Whether ``name`` is a proof method whose file exists (the function is checked on use)."""
    try:
        resolve(parse(name)[0])
    except SymestError:
        return False
    return True


def _function(path: Path, func: str) -> Any:
    from symest.derivation import DerivationError, load_proof

    mod = load_proof(path)
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise DerivationError(f"proof {path.name} has no function {func}(model) -> Derivation")
    return fn


def proof_estimate(model: Model, method: str, *, budget: float | None = None, **_: Any) -> Estimate:
    """Run the derivation ``method`` names on ``model`` (see the module docstring)."""
    from symest.derivation import Derivation, DerivationError, _one_line, fingerprint

    path_text, func = parse(method)
    path = resolve(path_text)
    key = (str(path), path.stat().st_mtime_ns, func, fingerprint(model))
    est = _CACHE.get(key)
    if est is None:
        fn = _function(path, func)
        try:
            deriv = fn(model)
            if not isinstance(deriv, Derivation):
                raise DerivationError(f"{func}() returned {type(deriv).__name__}, not a Derivation")
            est, _ledger = deriv.run(model, samples=None)
        except SymestError as e:
            raise type(e)(f"proof {path.name}:{func} on {model.name}: {_one_line(e)}") from None
        except Exception as e:
            raise DerivationError(f"proof {path.name}:{func} on {model.name} failed: {type(e).__name__}: "
                                  f"{_one_line(e)}") from None
        est = dataclasses.replace(est, method=method, samples=None)
        _CACHE[key] = est
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    if budget is not None and est.flops > budget:
        raise BudgetError(f"{method} costs {est.flops:.3g} FLOPs on {model.name}, above the budget {budget:.3g}")
    return est
