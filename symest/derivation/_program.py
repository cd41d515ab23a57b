"""The Derivation: an estimate as a program of steps."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from symest.derivation._errors import DerivationError
from symest.derivation._measure import Context, Measure_
from symest.derivation._priors import AUTO, Prior, claim_form
from symest.derivation._reparam import Standardize
from symest.derivation._runner import _Runner
from symest.derivation._symbols import _require_rnn, _sym
from symest.derivation._trees import expr_to_tree
from symest.estimate import Estimate
from symest.model import Model


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
    """An estimate as a program of steps; see :mod:`symest.derivation`. Builder methods return self."""

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
