"""Ledgers: JSON round trip and validation, Markdown, audit (pass, failures, tampering)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import sympy as sp

from symest.derivation import Branch, Derivation, Prior, agree, measure, piece_constraints, w, x
from symest.ledger import Ledger, LedgerError, audit, audit_file, iter_steps
from tests.test_derivation import m22_like


def small_derivation() -> Derivation:
    a, b = w("W_hh", 0, 1), w("W_hh", 1, 0)
    inner = Derivation("upper").check("sign a", a > 0).compute("mass", measure(x(1) >= x(0)), stratum=(1, 0))
    lower = Derivation("lower").compute("mass", measure(), stratum=(0, 1))
    return (Derivation("small", task="2nd_argmax", seq_len=2, description="a test ledger")
            .standardize()
            .check("order", a > b)
            .check("agree", agree(a, b, 2))
            .deduce("relu", sp.Eq(sp.Max(x(0), 0) - sp.Max(-x(0), 0), x(0), evaluate=False))
            .split("halves", [Branch("x1>=x0", [x(1) - x(0) >= 0], inner), Branch("x0>=x1", [x(0) - x(1) >= 0], lower)])
            .compute("closed form", sp.atan2(sp.Abs(a - b), a + b) / (2 * sp.pi), contributes=False)
            .compute("callable", lambda ctx: (0.0, 3), contributes=False))


@pytest.fixture(scope="module")
def ran():
    return small_derivation().run(m22_like(), samples=1 << 12, seed=1)


def test_round_trip_and_totals(ran):
    est, led = ran
    text = led.dumps()
    back = Ledger.from_json(text)
    assert back.dumps() == text
    t = led.totals()
    assert t["explanation_bits"] == pytest.approx(sum(s.bits for s in iter_steps(led.steps))) == 4
    assert t["total_bits"] == pytest.approx(t["explanation_bits"] + t["residual_bits"])
    assert t["weight_bits"] == 320 and t["valid"]
    assert t["flops"] == est.flops
    assert est.value == pytest.approx(1.0)
    assert est.details["strata"] == {"0,1": pytest.approx(1.0), "1,0": pytest.approx(1.0)}
    data = json.loads(text)
    assert data["schema"] == "symest-ledger" and data["version"] == 1
    steps = {s["name"]: s for s in data["steps"]}
    assert steps["order"]["prior"]["form"] == "ordering" and steps["order"]["latex"]
    assert steps["agree"]["measured"]["agreement_bits"] >= 2


def test_markdown(ran):
    md = ran[1].to_markdown()
    assert "| explanation bits | 4.00 |" in md and "weight-bits bound" in md and "`halves/x1>=x0/sign a`" in md


@pytest.mark.parametrize("mutate, match", [
    (lambda d: "{not json", "not valid JSON"),
    (lambda d: [1, 2], "JSON object"),
    (lambda d: {**d, "schema": "other"}, "not a symest ledger"),
    (lambda d: {**d, "version": 2}, "unsupported ledger version"),
    (lambda d: {k: v for k, v in d.items() if k != "model"}, "model"),
    (lambda d: {**d, "steps": "x"}, "steps must be a list"),
    (lambda d: {**d, "steps": [{**d["steps"][0], "kind": "magic"}]}, "unknown step kind"),
    (lambda d: {**d, "steps": [{**d["steps"][1], "spec": {"claim": {"op": "eval", "args": []}}}]}, "not allowed"),
    (lambda d: {**d, "steps": [{**d["steps"][1], "bits": -1}]}, "bits"),
    (lambda d: {**d, "steps": [{**d["steps"][1], "verified": "yes"}]}, "verified"),
])
def test_malformed_ledgers_are_one_line_errors(ran, mutate, match):
    data = json.loads(ran[1].dumps())
    bad = mutate(copy.deepcopy(data))
    with pytest.raises(LedgerError, match=match) as e:
        Ledger.from_json(bad if isinstance(bad, str) else json.dumps(bad))
    assert "\n" not in str(e.value)


def test_audit_passes_on_its_own_model(ran, tmp_path):
    led = ran[1]
    path = tmp_path / "l.json"
    led.save(path)
    res = audit_file(path, m22_like())
    assert res.ok and res.same_model and not res.failed and not res.tampered
    statuses = {r["path"]: r["status"] for r in res.rows}
    assert statuses["order"] == "pass" and statuses["closed form"] == "recomputed"
    assert statuses["callable"] == "not recomputed"  # never a pass it did not recompute
    assert any("callable" in n for n in res.not_recomputed)
    assert res.recomputed_estimate is None  # a callable value was not recomputed
    assert "PASS" in res.summary() and res.exit_code == 0


def test_audit_names_failing_checks_on_other_weights(ran):
    m = m22_like()
    w_hh = np.array(m.W_hh)
    w_hh[0, 1] = -1.0
    other = m.with_weights({**m.weights, "rnn.weight_hh_l0": w_hh})
    res = audit(ran[1], other)
    assert not res.same_model and not res.ok and not res.tampered
    assert any(f.startswith("order:") for f in res.failed)
    assert any(f.startswith("halves/x1>=x0/sign a:") for f in res.failed)
    assert "FAIL" in res.summary()


def _edit(led: Ledger, fn) -> dict:
    data = json.loads(led.dumps())
    fn(data)
    return data


def _step(data, name):
    return next(s for s in data["steps"] if s["name"] == name)


@pytest.mark.parametrize("tamper", [
    lambda d: _step(d, "order").update(bits=0.25),
    lambda d: _step(d, "order").update(verified=False),
    lambda d: _step(d, "agree").update(measured={"a": 1.0, "b": 1.0, "agreement_bits": 52}),
    lambda d: _step(d, "order").update(statement="W_hh_0_1 > 1000"),
    lambda d: _step(d, "closed form").update(value=0.5),
    lambda d: d["estimate"].update(value=0.5),
    lambda d: d["totals"].update(explanation_bits=1.0),
    lambda d: _step(d, "relu").update(bits=3.0),
    lambda d: _step(d, "relu").update(verified=False),
    lambda d: _step(d, "order").update(flops=1),
])
def test_tampering_is_detected(ran, tamper):
    data = _edit(ran[1], tamper)
    res = audit(data, m22_like())
    assert res.tampered and not res.ok


def test_tampered_claim_that_fails_is_reported(ran):
    # change the claim itself (and its text): a consistent but false claim must fail, not pass
    def flip(d):
        s = _step(d, "order")
        s["spec"]["claim"]["op"] = "StrictLessThan"
        s["statement"] = "W_hh_0_1 < W_hh_1_0"
    res = audit(_edit(ran[1], flip), m22_like())
    assert any(f.startswith("order:") for f in res.failed) and res.tampered  # verdict recorded true


def test_unregistered_prior_bits_are_not_recomputed():
    custom = Prior("private", lambda c: 0.125)
    d = Derivation("p").check("c", w("W_hh", 0, 1) > 0, prior=custom).compute("one", 1)
    _, led = d.run(m22_like())
    res = audit(led, m22_like())
    assert res.ok and any("private" in n for n in res.not_recomputed)


def test_symbolic_regions_are_recomputed_on_other_weights():
    m = m22_like()
    from symest.derivation import linear_pieces

    branches = [Branch(str(p), piece_constraints(2, 2, p), Derivation(str(p)).compute("mass", measure()))
                for p in linear_pieces(m)]
    _, led = Derivation("pieces").split("pieces", branches).run(m)
    rng = np.random.default_rng(0)
    other = m.with_weights({k: v + 0.05 * rng.standard_normal(v.shape) for k, v in m.weights.items()})
    res = audit(led, other)
    assert res.ok and res.recomputed_estimate == pytest.approx(1.0)
