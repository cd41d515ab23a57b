"""Every proof in proofs/ runs on its model; its ledger verifies and audits; M_{2,2} specifics.

Zoo models that are not bundled yet fall back to stand-ins trained with symest's recipe
(``symest.train.train(get_task("2nd_argmax"), d, n, seed=0, sequences=...)``), whose float32
weights are embedded below; a proof whose model is neither bundled nor embedded is skipped.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import symest
from symest.derivation import run_proof
from symest.ledger import Ledger, audit, iter_steps

PROOFS = sorted((Path(__file__).resolve().parent.parent / "proofs").glob("*.py"))

STAND_INS = {
    # symest.train, seed 0, 2^22 sequences: exact accuracy 0.99990276
    "2nd_argmax_2_2": (2, {
        "rnn.weight_ih_l0": [[-2.9812145233154297], [3.9970438480377197]],
        "rnn.weight_hh_l0": [[0.1189766526222229, 1.4984081983566284], [2.2210192680358887, -0.40657052397727966]],
        "linear.weight": [[-3.463979721069336, 3.8403520584106445], [2.4010040760040283, -3.618161201477051]]}),
    # symest.train, seed 0, 2^26 sequences: about 94.5% (ARC's M_{4,3} reaches 98.5% with 2^30)
    "2nd_argmax_4_3": (3, {
        "rnn.weight_ih_l0": [[-5.897322654724121], [1.6288055181503296], [-2.736164093017578], [2.2121129035949707]],
        "rnn.weight_hh_l0": [[-7.633506774902344, 1.2796926498413086, -1.5762311220169067, 2.1384925842285156],
                             [3.2854602336883545, -3.531005382537842, 3.7683911323547363, -0.7519115209579468],
                             [2.583815574645996, -3.1394729614257812, 3.1805760860443115, -0.2852861285209656],
                             [1.0528502464294434, 1.3521925210952759, -1.310606837272644, 0.5344127416610718]],
        "linear.weight": [[1.08838951587677, 3.1977715492248535, -3.3780393600463867, -1.2343906164169312],
                          [-1.6687620878219604, -2.926888942718506, 3.2781825065612793, 1.3182874917984009],
                          [0.08532002568244934, 0.09291239082813263, 0.250077486038208, 0.291821151971817]]}),
}


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"proof_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def model_for(name: str) -> symest.Model:
    from symest.handcrafted import HANDCRAFTED
    from symest.zoo import names

    if name in HANDCRAFTED or name in names():
        return symest.load(name)
    if name in STAND_INS:
        n, w = STAND_INS[name]
        return symest.make_model(symest.get_task("2nd_argmax"), n,
                                 {k: np.array(v, dtype=np.float32) for k, v in w.items()}, name=name)
    pytest.skip(f"model {name} is not bundled yet")


_CACHE: dict[Path, tuple] = {}


def ran(path: Path):
    if path not in _CACHE:
        mod = _module(path)
        model = model_for(mod.MODEL)
        est, led = run_proof(path, model=model, samples=1 << 16, seed=0)
        _CACHE[path] = (mod, model, est, led)
    return _CACHE[path]


@pytest.mark.parametrize("path", PROOFS, ids=[p.stem for p in PROOFS])
def test_proof_runs_verifies_and_audits(path):
    mod, model, est, led = ran(path)
    assert isinstance(mod.MODEL, str)
    assert led.valid, [s.path for s in iter_steps(led.steps) if s.verified is False]
    assert 0.0 <= est.value <= 1.0
    # bits are additive; reparametrize / deduce / split / compute / presume cost nothing
    assert led.explanation_bits == pytest.approx(sum(s.bits for s in iter_steps(led.steps)))
    assert all(s.bits == 0 for s in iter_steps(led.steps) if s.kind != "check")
    assert led.total_bits == pytest.approx(led.explanation_bits + led.residual_bits)
    assert est.flops == led.flops > 0
    # JSON round trip, then audit on the very weights: everything recomputed passes, nothing tampered
    back = Ledger.from_json(led.dumps())
    res = audit(back, model)
    assert res.ok and res.same_model, (res.failed, res.tampered)
    assert res.recomputed_bits == pytest.approx(led.explanation_bits)
    assert res.recomputed_estimate is None or res.recomputed_estimate == pytest.approx(est.value, abs=1e-12)
    md = led.to_markdown()
    assert "explanation bits" in md


@pytest.mark.parametrize("path", PROOFS, ids=[p.stem for p in PROOFS])
def test_proof_estimate_agrees_with_sampling(path):
    _mod, _model, est, led = ran(path)
    r = led.residual
    p = min(max(r["observed"], 1 / r["samples"]), 1 - 1 / r["samples"])
    se = (p * (1 - p) / r["samples"]) ** 0.5
    slack = 5 * se + (est.error_bound or 0) + 5 * (est.stderr or 0)
    assert abs(est.value - r["observed"]) <= slack


# -- M_{2,2} ---------------------------------------------------------------------------------------

M22 = next(p for p in PROOFS if p.stem == "m22")


def test_m22_matches_the_exact_method_and_costs_tens_of_bits():
    _mod, model, est, led = ran(M22)
    exact = symest.estimate(model, "exact")
    assert abs(est.value - exact.value) <= 1e-9
    assert est.kind == "exact"
    assert 14 < led.explanation_bits < 100  # tens of bits, not hundreds
    forms = led.totals()["bits_by_form"]
    assert forms["sign"] == 10 and forms["magnitude"] == 4
    assert 10 <= forms["agreement"] <= 40
    assert led.residual_bits < 8


def test_m22_audit_names_failing_checks_on_noisy_weights():
    _mod, model, _est, led = ran(M22)
    rng = np.random.default_rng(3)
    noisy = model.with_weights({k: v + 0.3 * rng.standard_normal(v.shape) for k, v in model.weights.items()},
                               name="noisy")
    res = audit(json.loads(led.dumps()), noisy)
    assert not res.ok and not res.same_model and not res.tampered
    assert res.failed and all(":" in f for f in res.failed)
    assert any("agree" in f for f in res.failed)


def test_m22_proof_rejects_a_wrong_model():
    with pytest.raises(symest.SymestError, match=r"hidden size 2|sequence length 2"):
        run_proof(M22, model_name="handcrafted_2nd_argmax_3", samples=None)


# -- handcrafted ----------------------------------------------------------------------------------


def test_handcrafted_2_is_exactly_one():
    _mod, _model, est, _led = ran(next(p for p in PROOFS if p.stem == "handcrafted_2nd_argmax_2"))
    assert est.value == pytest.approx(1.0, abs=1e-12) and est.kind == "exact"


def test_handcrafted_3_accuracy_as_a_function_of_lambda():
    path = next(p for p in PROOFS if p.stem == "handcrafted_2nd_argmax_3")
    mod, model, est, _led = ran(path)
    lam = -float(model.W_oh[1, 0])
    assert est.value == pytest.approx(mod.accuracy(lam), abs=1e-12)
    for lam in (1.0, 3.0, 10.0):  # where the region tree is well conditioned, the exact method agrees
        assert mod.accuracy(lam) == pytest.approx(symest.estimate(symest.handcrafted_3(lam), "exact").value, abs=1e-9)
    vals = [mod.accuracy(lam) for lam in (1.0, 10.0, 100.0, 1000.0)]
    assert all(a < b for a, b in itertools.pairwise(vals)) and vals[-1] > 1 - 1e-6


def test_handcrafted_10_is_the_tie_rule_fraction():
    _mod, _model, est, _led = ran(next(p for p in PROOFS if p.stem == "handcrafted_2nd_argmax_10"))
    want = Fraction(1013, 1024) + Fraction(10, 1024 * 9) + Fraction(1, 1024 * 10)
    assert est.value == pytest.approx(float(want), abs=1e-15)


# -- M_{4,3} and M_{16,10} --------------------------------------------------------------------------


def test_m43_latent_coupling_estimators():
    path = next(p for p in PROOFS if p.stem == "m43")
    mod, model, est, led = ran(path)
    exact = symest.estimate(model, "exact").value
    assert est.kind == "approximate" and est.stderr > 0
    assert abs(est.value - exact) < 0.15  # a presumption, not a bound (ARC: ~3% RMS on its model)
    assert led.totals()["bits_by_form"] == {"sign": 16.0}
    assert set(est.details["strata"]) == {f"{a},{b}" for a in range(3) for b in range(3) if a != b}
    presumed = [s for s in iter_steps(led.steps) if s.kind == "presume"]
    assert presumed and all(s.value_kind == "approximate" for s in presumed)
    a, b = mod.latent_values(0.1)
    assert 0.8 * a + 0.2 * b == pytest.approx(0.1)
    assert 0.8 * (a - 0.1) ** 2 + 0.2 * (b - 0.1) ** 2 == pytest.approx(0.09)
    a, b = mod.latent_values(0.9)
    assert a > 0.9 > b


def test_m16_10_finds_the_running_max_circuit_in_the_handcrafted_model():
    path = next(p for p in PROOFS if p.stem == "m16_10")
    mod = _module(path)
    m = symest.handcrafted_10()
    (circuit,) = mod.find_circuits(m)  # more in tests/test_m16_10.py
    assert (circuit.b, circuit.carriers) == (19, (20,)) and 21 in [r.neuron for r in circuit.readers]
    est, led = mod.derive(m).run(m, samples=1 << 12)
    assert led.valid and est.kind == "approximate" and est.value == 0.5
    assert led.residual["bits"] == pytest.approx(led.residual["baseline_bits"], abs=1e-6)  # nothing predicted
