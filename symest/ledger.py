r"""The surprise ledger of a derivation: bits and FLOPs per step, residual, totals; JSON and
Markdown; and :func:`audit`, which re-verifies a saved ledger against (possibly other) weights.

Schema: ``docs/ledger-schema.md`` (``"schema": "symest-ledger", "version": 1``).

Totals (ARC's surprise accounting):

* explanation bits: the sum of the steps' bits (checks only; reparametrize, deduce, split,
  presume and compute cost 0 bits);
* residual bits: ``-log2`` of the probability the estimate (with its stated uncertainty) gave to
  the observed behaviour (k correct of N samples), relative to the best possible (p = k/N)
  (:func:`symest.check.residual_bits`); ``null`` if no samples were drawn;
* total bits = explanation + residual; weight bits = 32 x parameter count (the upper bound on the
  bits of optimization that selected the model).

An audit never reports a pass it did not recompute: each step is ``pass``, ``fail`` or ``not
recomputed`` (callables restored from JSON, priors not registered here), and disagreements
between what a ledger records and what its own statements give on the model it names (same
weights fingerprint) are reported as tampering.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symest._errors import SymestError
from symest.model import Model

SCHEMA = "symest-ledger"
VERSION = 1
KINDS = ("reparametrize", "deduce", "check", "split", "presume", "compute")


class LedgerError(SymestError):
    """A ledger file is unreadable, not a symest ledger, or malformed."""


@dataclass
class BranchRecord:
    name: str
    region: list[Any]
    region_text: list[str]
    stratum: list[int] | None
    mass: float | None
    steps: list[StepRecord]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "region": self.region, "region_text": self.region_text, "stratum": self.stratum,
                "mass": self.mass, "steps": [s.to_json() for s in self.steps]}


@dataclass
class StepRecord:
    path: str
    kind: str
    name: str
    statement: str
    latex: str
    bits: float
    flops: int
    verified: bool | None
    spec: dict[str, Any]
    prior: dict[str, Any] | None = None
    measured: dict[str, Any] | None = None
    value: float | None = None
    contribution: float | None = None
    value_kind: str | None = None
    error_bound: float | None = None
    uncertainty: float | None = None
    recomputed: bool = True
    note: str = ""
    branches: list[BranchRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "name": self.name, "statement": self.statement,
                               "latex": self.latex, "bits": self.bits, "flops": self.flops, "verified": self.verified,
                               "spec": self.spec}
        for key in ("prior", "measured", "value", "contribution", "value_kind", "error_bound", "uncertainty"):
            if (v := getattr(self, key)) is not None:
                out[key] = v
        if not self.recomputed:
            out["recomputed"] = False
        if self.note:
            out["note"] = self.note
        if self.branches:
            out["branches"] = [b.to_json() for b in self.branches]
        return out


def iter_steps(steps: list[StepRecord]) -> Iterator[StepRecord]:
    """Depth-first over steps and their branches' steps."""
    for s in steps:
        yield s
        for b in s.branches:
            yield from iter_steps(b.steps)


@dataclass
class Ledger:
    derivation: dict[str, Any]
    model: dict[str, Any]
    steps: list[StepRecord]
    estimate: dict[str, Any]
    residual: dict[str, Any] | None = None
    schema: str = SCHEMA
    version: int = VERSION

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def build(cls, deriv: Any, model: Model, steps: list[StepRecord], est: Any,
              residual: Mapping[str, Any] | None) -> Ledger:
        from symest.derivation import fingerprint

        info = {"name": model.name, "task": model.task.name, "seq_len": model.seq_len, "hidden": model.hidden,
                "n_params": model.n_params, "dtype": model.dtype, "fingerprint": fingerprint(model)}
        estimate = {"value": est.value, "kind": est.kind, "metric": est.metric, "flops": est.flops,
                    "error_bound": est.error_bound, "stderr": est.stderr}
        if "strata" in est.details:
            estimate["strata"] = dict(est.details["strata"])
        d = {"name": deriv.name, "description": deriv.description, "model": deriv.model_name,
             "requires": dict(deriv.requires)}
        return cls(d, info, steps, estimate, dict(residual) if residual else None)

    # -- totals ---------------------------------------------------------------------------
    def all_steps(self) -> Iterator[StepRecord]:
        return iter_steps(self.steps)

    @property
    def explanation_bits(self) -> float:
        return float(sum(s.bits for s in self.all_steps()))

    @property
    def residual_bits(self) -> float | None:
        return None if self.residual is None else float(self.residual["bits"])

    @property
    def total_bits(self) -> float:
        return self.explanation_bits + (self.residual_bits or 0.0)

    @property
    def weight_bits(self) -> int:
        return 32 * int(self.model["n_params"])

    @property
    def flops(self) -> int:
        return int(sum(s.flops for s in self.all_steps()))

    @property
    def valid(self) -> bool:
        return all(s.verified is not False for s in self.all_steps())

    def bits_by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.all_steps():
            if s.kind == "check":
                form = (s.prior or {}).get("form", "check")
                out[form] = out.get(form, 0.0) + s.bits
        return out

    def totals(self) -> dict[str, Any]:
        return {"explanation_bits": self.explanation_bits, "residual_bits": self.residual_bits,
                "total_bits": self.total_bits, "weight_bits": self.weight_bits, "flops": self.flops,
                "valid": self.valid, "bits_by_form": self.bits_by_kind()}

    # -- serialization --------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "version": self.version, "derivation": self.derivation, "model": self.model,
                "steps": [s.to_json() for s in self.steps], "estimate": self.estimate, "residual": self.residual,
                "totals": self.totals()}

    def dumps(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_json(), indent=indent, allow_nan=True)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps())

    @classmethod
    def from_json(cls, data: Any) -> Ledger:
        """Parse and validate a ledger (a dict or JSON text); LedgerError (one line) if malformed."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise LedgerError(f"ledger is not valid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
        if not isinstance(data, dict):
            raise LedgerError("ledger must be a JSON object")
        if data.get("schema") != SCHEMA:
            raise LedgerError(f"not a symest ledger (schema {str(data.get('schema'))[:40]!r}, expected {SCHEMA!r})")
        if data.get("version") != VERSION:
            raise LedgerError(f"unsupported ledger version {data.get('version')!r} (this symest reads {VERSION})")
        try:
            deriv = _obj(data, "derivation")
            model = _obj(data, "model")
            for key, typ in (("name", str), ("task", str), ("seq_len", int), ("hidden", int), ("n_params", int),
                             ("fingerprint", str)):
                _typed(model, key, typ, "model")
            _typed(deriv, "name", str, "derivation")
            estimate = _obj(data, "estimate")
            _typed(estimate, "value", (int, float), "estimate")
            _typed(estimate, "kind", str, "estimate")
            residual = data.get("residual")
            if residual is not None:
                if not isinstance(residual, dict):
                    raise LedgerError("residual must be an object or null")
                _typed(residual, "bits", (int, float), "residual")
            steps_raw = data.get("steps")
            if not isinstance(steps_raw, list):
                raise LedgerError("steps must be a list")
            steps = [_step_from_json(s, 0) for s in steps_raw]
        except LedgerError:
            raise
        except SymestError as e:
            raise LedgerError(f"malformed ledger: {e}") from None
        except (KeyError, TypeError, ValueError) as e:
            raise LedgerError(f"malformed ledger: {type(e).__name__}: {e}") from None
        led = cls(deriv, model, steps, estimate, residual)
        led._recorded_totals = data.get("totals")  # type: ignore[attr-defined]
        return led

    @classmethod
    def load(cls, path: str | Path) -> Ledger:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise LedgerError(f"cannot read ledger {p}: {e.strerror or e}") from None
        return cls.from_json(text)

    # -- rendering ------------------------------------------------------------------------
    def to_markdown(self) -> str:
        m, e = self.model, self.estimate
        lines = [f"# Ledger: {self.derivation['name']}", ""]
        if self.derivation.get("description"):
            lines += [self.derivation["description"], ""]
        lines += [f"Model `{m['name']}` ({m['task']}, n = {m['seq_len']}, hidden {m['hidden']}, "
                  f"{m['n_params']} parameters, fingerprint `{m['fingerprint']}`).", "",
                  "| step | kind | statement | bits | FLOPs | verified |", "|---|---|---|---:|---:|---|"]
        for s in self.all_steps():
            stmt = s.statement if len(s.statement) <= 90 else s.statement[:87] + "..."
            if s.value is not None:
                stmt += f" = {s.value:.6g}"
            ver = {True: "yes", False: "**NO**", None: "-"}[s.verified]
            lines.append(f"| `{s.path}` | {s.kind} | {_md(stmt)} | {s.bits:.2f} | {s.flops} | {ver} |")
        t = self.totals()
        lines += ["", "| total | value |", "|---|---:|",
                  f"| explanation bits | {t['explanation_bits']:.2f} |"]
        for form, bits in sorted(t["bits_by_form"].items()):
            lines.append(f"| &nbsp; of which {form} | {bits:.2f} |")
        rb = t["residual_bits"]
        lines += [f"| residual bits | {'n/a' if rb is None else f'{rb:.2f}'} |",
                  f"| total bits | {t['total_bits']:.2f} |",
                  f"| weight-bits bound (32 x {m['n_params']}) | {t['weight_bits']} |",
                  f"| estimate | {e['value']:.10g} ({e['kind']}) |",
                  f"| FLOPs | {t['flops']} |"]
        if self.residual:
            r = self.residual
            lines.append(f"| observed (residual) | {r.get('correct')}/{r.get('samples')} = "
                         f"{r.get('observed', float('nan')):.8g} (seed {r.get('seed')}) |")
        lines.append(f"| all checks verified | {'yes' if t['valid'] else '**no**'} |")
        return "\n".join(lines) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _obj(d: Mapping[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    if not isinstance(v, dict):
        raise LedgerError(f"ledger field {key!r} must be an object")
    return v


def _typed(d: Mapping[str, Any], key: str, typ: Any, where: str) -> None:
    v = d.get(key)
    if not isinstance(v, typ) or (isinstance(v, bool) and typ is not bool):
        raise LedgerError(f"ledger field {where}.{key} is missing or has the wrong type")


def _step_from_json(s: Any, depth: int) -> StepRecord:
    from symest.derivation import expr_from_tree

    if depth > 50:
        raise LedgerError("ledger steps nest too deeply")
    if not isinstance(s, dict):
        raise LedgerError("each step must be an object")
    for key, typ in (("path", str), ("kind", str), ("name", str), ("statement", str), ("bits", (int, float)),
                     ("flops", int), ("spec", dict)):
        _typed(s, key, typ, "step")
    if s["kind"] not in KINDS:
        raise LedgerError(f"unknown step kind {s['kind']!r} at {s['path']}")
    if s.get("verified") not in (True, False, None):
        raise LedgerError(f"step {s['path']}: verified must be true, false or null")
    if not math.isfinite(float(s["bits"])) or s["bits"] < 0:
        raise LedgerError(f"step {s['path']}: bits must be finite and >= 0")
    spec = s["spec"]
    # parse every embedded expression now, so malformed claims fail at load time
    if s["kind"] == "check":
        expr_from_tree(spec.get("claim"))
    if s["kind"] == "deduce":
        expr_from_tree(spec.get("statement"))
    if s["kind"] == "compute" and spec.get("type") == "expression":
        expr_from_tree(spec.get("expr"))
    branches = []
    for b in s.get("branches", []) or []:
        if not isinstance(b, dict) or not isinstance(b.get("name"), str) or not isinstance(b.get("steps"), list):
            raise LedgerError(f"step {s['path']}: malformed branch")
        region = b.get("region", [])
        if not isinstance(region, list):
            raise LedgerError(f"step {s['path']}: branch region must be a list")
        for item in region:
            _region_from_json(item)
        branches.append(BranchRecord(b["name"], region, list(b.get("region_text", [])), b.get("stratum"),
                                     b.get("mass"), [_step_from_json(c, depth + 1) for c in b["steps"]]))
    return StepRecord(path=s["path"], kind=s["kind"], name=s["name"], statement=s["statement"],
                      latex=str(s.get("latex", "")), bits=float(s["bits"]), flops=int(s["flops"]),
                      verified=s.get("verified"), spec=spec, prior=s.get("prior"), measured=s.get("measured"),
                      value=s.get("value"), contribution=s.get("contribution"), value_kind=s.get("value_kind"),
                      error_bound=s.get("error_bound"), uncertainty=s.get("uncertainty"),
                      recomputed=bool(s.get("recomputed", True)), note=str(s.get("note", "")), branches=branches)


def _region_from_json(item: Any) -> Any:
    from symest.derivation import expr_from_tree

    if isinstance(item, dict) and "normals" in item:
        arr = np.asarray(item["normals"], dtype=np.float64)
        if arr.ndim != 2 or not np.isfinite(arr).all():
            raise LedgerError("branch normals must be a finite 2-D array")
        return arr
    return expr_from_tree(item)


# ----------------------------------------------------------------------------------------------
# Rebuilding a derivation from a ledger
# ----------------------------------------------------------------------------------------------


def derivation_from_ledger(ledger: Ledger) -> Any:
    """The step program a ledger records (callables frozen at their recorded values)."""
    from symest.derivation import Derivation

    d = ledger.derivation
    req = d.get("requires") or {}
    out = Derivation(d["name"], model=d.get("model"), task=req.get("task"), seq_len=req.get("seq_len"),
                     hidden=req.get("hidden"), description=d.get("description", ""))
    out.steps = [_step_program(s) for s in ledger.steps]
    return out


def _step_program(rec: StepRecord) -> Any:
    from symest.derivation import (
        Branch,
        Derivation,
        Measure_,
        Prior,
        Step,
        _Frozen,
        expr_from_tree,
        prior_from_spec,
        transform_from_spec,
    )

    sp_ = rec.spec
    if rec.kind == "reparametrize":
        return Step("reparametrize", rec.name, {"transform": transform_from_spec(sp_["transform"])})
    if rec.kind == "deduce":
        return Step("deduce", rec.name, {"statement": expr_from_tree(sp_["statement"]), "assuming": sp_.get("assuming"),
                                         "text": rec.note})
    if rec.kind == "check":
        prior = prior_from_spec(rec.prior or {})
        if prior is None:
            bits = -float((rec.prior or {}).get("log2_probability", 0.0))
            prior = Prior("unregistered:" + str((rec.prior or {}).get("name")), bits_fn=lambda _c, b=bits: b)
        return Step("check", rec.name, {"claim": expr_from_tree(sp_["claim"]), "prior": prior, "text": rec.note})
    if rec.kind == "split":
        branches = []
        for b in rec.branches:
            sub = Derivation(b.name)
            sub.steps = [_step_program(s) for s in b.steps]
            branches.append(Branch(b.name, [_region_from_json(item) for item in b.region], sub,
                                   tuple(b.stratum) if b.stratum is not None else None))
        return Step("split", rec.name, {"branches": branches, "verify": sp_.get("verify", "auto")})
    if rec.kind == "presume":
        value: Any = rec.value
        if sp_.get("callable"):
            value = _Frozen(float(rec.value or 0.0), rec.flops, 0.0, False, "presumption (recorded)")
        stratum = sp_.get("stratum")
        return Step("presume", rec.name, {"statement": rec.statement, "value": value,
                                          "uncertainty": float(sp_.get("uncertainty", 0.0)),
                                          "stratum": tuple(stratum) if stratum else None})
    # compute
    t = sp_.get("type")
    if t == "measure":
        what: Any = Measure_(tuple(_region_from_json(c) for c in sp_.get("constraints", [])),
                             bool(sp_.get("within_region", True)))
    elif t == "expression":
        what = expr_from_tree(sp_["expr"])
    elif t == "callable":
        what = _Frozen(float(rec.value if rec.value is not None else 0.0), rec.flops, float(rec.error_bound or 0.0),
                       rec.value_kind == "exact", str(sp_.get("label", "callable")))
    else:
        raise LedgerError(f"step {rec.path}: unknown compute type {t!r}")
    stratum = sp_.get("stratum")
    return Step("compute", rec.name, {"what": what, "kind": sp_.get("kind", "exact"),
                                      "contributes": bool(sp_.get("contributes", True)),
                                      "coef": float(sp_.get("coef", 1.0)),
                                      "stratum": tuple(stratum) if stratum else None, "text": rec.note})


# ----------------------------------------------------------------------------------------------
# Audit
# ----------------------------------------------------------------------------------------------


@dataclass
class AuditResult:
    """The outcome of :func:`audit`. ``ok``: every recomputable claim holds and nothing was
    tampered with. ``rows``: one per step: path, kind, status (pass / fail / not recomputed),
    recorded and recomputed verdicts and bits."""

    ledger: str
    model: str
    same_model: bool
    rows: list[dict[str, Any]]
    failed: list[str]
    tampered: list[str]
    not_recomputed: list[str]
    recorded_bits: float
    recomputed_bits: float
    recorded_estimate: float
    recomputed_estimate: float | None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.tampered

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        return {"ledger": self.ledger, "model": self.model, "same_model": self.same_model, "ok": self.ok,
                "failed": self.failed, "tampered": self.tampered, "not_recomputed": self.not_recomputed,
                "recorded_bits": self.recorded_bits, "recomputed_bits": self.recomputed_bits,
                "recorded_estimate": self.recorded_estimate, "recomputed_estimate": self.recomputed_estimate,
                "steps": self.rows}

    def summary(self) -> str:
        head = (f"audit of {self.ledger} against {self.model}"
                f" ({'the weights it names' if self.same_model else 'other weights'}): "
                f"{'PASS' if self.ok else 'FAIL'}")
        lines = [head,
                 f"  steps recomputed: {sum(r['status'] != 'not recomputed' for r in self.rows)}/{len(self.rows)}; "
                 f"bits recorded {self.recorded_bits:.2f}, recomputed {self.recomputed_bits:.2f}"]
        est = "n/a" if self.recomputed_estimate is None else f"{self.recomputed_estimate:.10g}"
        lines.append(f"  estimate recorded {self.recorded_estimate:.10g}, recomputed {est}")
        lines += [f"  FAILED  {f}" for f in self.failed]
        lines += [f"  TAMPERED  {t}" for t in self.tampered]
        lines += [f"  not recomputed  {n}" for n in self.not_recomputed]
        return "\n".join(lines)


def _close(a: Any, b: Any, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def _measured_close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_measured_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_measured_close(p, q) for p, q in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return _close(a, b, 1e-12, 1e-15)
    return a == b


def audit(ledger: Ledger | Mapping[str, Any] | str, model: Model) -> AuditResult:
    """Re-verify a saved ledger against ``model``: reparametrizations are recomputed first, then
    every check, deduction, split and recomputable compute; bits are recomputed from each claim
    and its prior. Failed checks are named; disagreements with what the ledger records on the
    weights it names (same fingerprint), or between its bits and its own claims, are tampering."""
    from symest.derivation import DerivationError, expr_from_tree, fingerprint

    led = ledger if isinstance(ledger, Ledger) else Ledger.from_json(ledger)
    same = fingerprint(model) == led.model["fingerprint"]
    tampered: list[str] = []
    # internal consistency of the recorded numbers
    recorded = getattr(led, "_recorded_totals", None)
    if isinstance(recorded, dict):
        if not _close(recorded.get("explanation_bits"), led.explanation_bits):
            tampered.append(f"totals: explanation_bits {recorded.get('explanation_bits')} is not the sum of the "
                            f"steps' bits ({led.explanation_bits:.6g})")
        if led.residual and not _close(recorded.get("residual_bits"), led.residual_bits):
            tampered.append("totals: residual_bits disagrees with the residual record")
        if not _close(recorded.get("total_bits"), led.total_bits):
            tampered.append("totals: total_bits is not explanation + residual")
        if recorded.get("weight_bits") != led.weight_bits:
            tampered.append("totals: weight_bits is not 32 x n_params")
    contributions = [s.contribution for s in led.all_steps() if s.contribution is not None]
    if contributions and not _close(sum(contributions), led.estimate["value"], 1e-9, 1e-12):
        tampered.append(f"estimate {led.estimate['value']} is not the sum of the recorded contributions "
                        f"({sum(contributions):.12g})")
    for s in led.all_steps():
        if s.kind != "check" and s.bits != 0:
            tampered.append(f"{s.path}: a {s.kind} step costs 0 bits, ledger records {s.bits}")
        if s.kind in ("check", "deduce"):
            tree = s.spec.get("claim") if s.kind == "check" else s.spec.get("statement")
            if str(expr_from_tree(tree)) != s.statement:
                tampered.append(f"{s.path}: statement text does not match its serialized claim")
    try:
        deriv = derivation_from_ledger(led)
        est, new = deriv.run(model)
    except DerivationError as e:
        raise LedgerError(f"cannot audit {led.derivation['name']} on {model.name}: {e}") from None
    except SymestError:
        raise
    except Exception as e:
        raise LedgerError(f"cannot audit {led.derivation['name']} on {model.name}: {type(e).__name__}: "
                          f"{' '.join(str(e).split())[:200]}") from None
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    not_recomputed: list[str] = []
    old_steps = {s.path: s for s in led.all_steps()}
    for s in new.all_steps():
        old = old_steps.get(s.path)
        if old is None:  # pragma: no cover - same program, same paths
            continue
        status = "pass"
        if s.kind == "check":
            if s.prior and str(s.prior.get("name", "")).startswith("unregistered:"):
                not_recomputed.append(f"{s.path}: bits (prior {s.prior['name'][13:]} is not registered here)")
            elif not _close(old.bits, s.bits):
                tampered.append(f"{s.path}: records {old.bits:.6g} bits, its claim under prior "
                                f"{(old.prior or {}).get('name')} costs {s.bits:.6g}")
            if same and old.verified != s.verified:
                tampered.append(f"{s.path}: records verified={old.verified}, recomputed {s.verified} "
                                "on the same weights")
            if same and not _measured_close(old.measured, s.measured):
                tampered.append(f"{s.path}: recorded measurement differs from the recomputed one")
        elif s.kind in ("deduce", "reparametrize", "split"):
            if same and old.verified != s.verified:
                tampered.append(f"{s.path}: records verified={old.verified}, recomputed {s.verified}")
        if s.kind in ("check", "deduce", "reparametrize") or (s.kind == "split" and s.verified is not None):
            status = "pass" if s.verified else "fail"
            if not s.verified:
                failed.append(f"{s.path}: {s.statement}")
        elif s.kind == "split":
            status = "not recomputed"
            not_recomputed.append(f"{s.path}: partition check skipped ({s.note})")
        elif s.kind == "compute":
            if not s.recomputed:
                status = "not recomputed"
                not_recomputed.append(f"{s.path}: value of a callable (recorded {old.value})")
            else:
                status = "recomputed"
                if same and not _close(old.value, s.value, 1e-9, 1e-15):
                    tampered.append(f"{s.path}: records value {old.value}, recomputed {s.value}")
        elif s.kind == "presume":
            status = "not recomputed" if not s.recomputed else "recomputed"
            if not s.recomputed:
                not_recomputed.append(f"{s.path}: presumed value (recorded {old.value})")
        if s.kind in ("check", "compute", "reparametrize") and same and old.flops != s.flops and s.recomputed:
            tampered.append(f"{s.path}: records {old.flops} FLOPs, recomputed {s.flops}")
        rows.append({"path": s.path, "kind": s.kind, "status": status, "recorded_verified": old.verified,
                     "verified": s.verified, "recorded_bits": old.bits, "bits": s.bits,
                     "statement": s.statement})
    all_recomputed = all(s.recomputed for s in new.all_steps() if s.kind in ("compute", "presume"))
    return AuditResult(ledger=led.derivation["name"], model=model.name, same_model=same, rows=rows, failed=failed,
                       tampered=tampered, not_recomputed=not_recomputed, recorded_bits=led.explanation_bits,
                       recomputed_bits=new.explanation_bits, recorded_estimate=float(led.estimate["value"]),
                       recomputed_estimate=est.value if all_recomputed else None)


def audit_file(path: str | Path, model: Model) -> AuditResult:
    """:func:`audit` of a ledger JSON file (for ``symest audit LEDGER_JSON --model M``)."""
    return audit(Ledger.load(path), model)
