"""Running a derivation: the per-step evaluation that produces ledger records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from symest.derivation._agree import Agree, agreement_bits
from symest.derivation._errors import DerivationError
from symest.derivation._evaluate import _latex, evaluate, expr_flops
from symest.derivation._measure import (
    Computed,
    Context,
    Measure_,
    _as_relation,
    _constraint_flops,
    _region_item,
    _region_text,
    _verify_partition,
    cone_measure,
    constraint_normals,
)
from symest.derivation._priors import Prior, claim_form
from symest.derivation._proving import _prove
from symest.derivation._reparam import _contains_standardize, apply_reparametrization
from symest.derivation._symbols import w, weight_values
from symest.derivation._trees import expr_to_tree
from symest.model import Model

if TYPE_CHECKING:
    from symest.derivation._program import Branch, Step


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


def _measured(claim: sp.Expr, values: Mapping[sp.Symbol, float]) -> dict[str, Any]:
    if isinstance(claim, sp.And):
        return {"parts": [_measured(a, values) for a in claim.args]}
    if isinstance(claim, Agree):
        a, b = (float(evaluate(arg, values)) for arg in claim.args[:2])
        return {"a": a, "b": b, "agreement_bits": agreement_bits(a, b)}
    lhs, rhs = claim.args
    return {"lhs": float(evaluate(lhs, values)), "rhs": float(evaluate(rhs, values))}
