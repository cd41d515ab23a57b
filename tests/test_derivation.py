"""Derivations: symbols, serialization, each step kind, bits, FLOPs, kinds, proof loading, testing kit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symest
from symest.derivation import (
    Branch,
    Compose,
    Computed,
    Derivation,
    DerivationError,
    Permute,
    Prior,
    Rescale,
    Standardize,
    agree,
    agreement_bits,
    apply_reparametrization,
    evaluate,
    expr_from_tree,
    expr_to_tree,
    linear_pieces,
    measure,
    network_outputs,
    piece_constraints,
    piece_outputs,
    prove_identity,
    prove_positive,
    register_prior,
    relu,
    run_proof,
    w,
    weight_symbols,
    weight_values,
    x,
)
from symest.forward import forward_numpy
from symest.testing import (
    assert_agrees_with_sampling,
    assert_exact_limit,
    assert_invariant_under_reparametrization,
    cones,
    covariances,
    reparametrizations,
    rnn_models,
)


def m22_like() -> symest.Model:
    w_ = {"rnn.weight_ih_l0": [[-2.9812145233154297], [3.9970438480377197]],
          "rnn.weight_hh_l0": [[0.1189766526222229, 1.4984081983566284], [2.2210192680358887, -0.40657052397727966]],
          "linear.weight": [[-3.463979721069336, 3.8403520584106445], [2.4010040760040283, -3.618161201477051]]}
    weights = {k: np.array(v, dtype=np.float32) for k, v in w_.items()}
    return symest.make_model(symest.get_task("2nd_argmax"), 2, weights, name="m22_like")


# -- symbols and serialization ----------------------------------------------------------------


def test_weight_symbols_round_trip():
    m = m22_like()
    assert w("W_hh", 0, 1) == sp.Symbol("W_hh_0_1", real=True)
    assert w("W_hi", 1).name == "W_hi_1_0"
    syms = weight_symbols(m)
    assert syms["W_hh"][0, 1] == w("W_hh", 0, 1)
    vals = weight_values(m)
    assert len(vals) == m.n_params
    assert vals[w("W_hh", 1, 0)] == pytest.approx(float(m.W_hh[1, 0]))
    with pytest.raises(DerivationError):
        w("W_xx", 0, 0)


def test_agreement_bits_and_claim():
    assert agreement_bits(1.0, 1.0 + 1.5 * 2**-11) == 10
    assert agreement_bits(1.0, 1.0 + 0.9 * 2**-11) == 11
    assert agreement_bits(3.0, 3.0) == 52
    assert agreement_bits(1.0, -1.0) == 0
    a, b = sp.symbols("a b", real=True)
    k = agreement_bits(47.26, 47.30)
    assert evaluate(agree(a, b, k), {a: 47.26, b: 47.30}) is True
    assert evaluate(agree(a, b, k + 1), {a: 47.26, b: 47.30}) is False
    assert agree(sp.Float(1.0), sp.Float(1.0001), 10) == sp.true


@pytest.mark.parametrize("expr", [
    w("W_hh", 0, 1) > 0,
    sp.Abs(w("W_hh", 1, 1)) < 1,
    agree(w("W_oh", 0, 0) * w("W_hh", 0, 1), -w("W_oh", 1, 1) + sp.Rational(1, 3), 11),
    sp.And(sp.Eq(w("W_hi", 0), 1), sp.GreaterThan(w("W_hh", 0, 0), w("W_hh", 1, 1) * 2.5)),
    sp.Eq(relu(x(0)) - relu(-x(0)), x(0), evaluate=False),
    sp.atan2(w("W_hh", 0, 0), 1 + w("W_hh", 0, 1) ** 2) / (2 * sp.pi),
    sp.Symbol("S", nonnegative=True) + sp.Max(sp.Symbol("p", real=True), 0),
])
def test_expression_round_trip(expr):
    back = expr_from_tree(expr_to_tree(expr))
    assert sp.srepr(back) == sp.srepr(expr)


@pytest.mark.parametrize("tree", [
    {"op": "__import__", "args": []},
    {"op": "Add", "args": [{"s": "os.system"}]},
    {"s": "x; import os"},
    {"i": "1e5"},
    {"c": "builtins"},
    {"f": "nan-ish"},
    [1, 2],
    {"op": "Add", "args": "notalist"},
])
def test_deserializer_rejects_anything_not_whitelisted(tree):
    with pytest.raises(DerivationError):
        expr_from_tree(tree)


def test_serializer_rejects_unknown_functions():
    with pytest.raises(DerivationError):
        expr_to_tree(sp.gamma(w("W_hh", 0, 0)))


# -- reparametrize ------------------------------------------------------------------------------


def test_standardize_is_free_and_exact():
    m = m22_like()
    d = Derivation("std").standardize().compute("one", 1)
    _est, led = d.run(m)
    rec = led.steps[0]
    assert rec.kind == "reparametrize" and rec.verified and rec.bits == 0
    new, ok, _, _ = apply_reparametrization(m, Standardize())
    assert ok and np.allclose(np.abs(new.W_hi), 1.0)
    probe = np.random.default_rng(0).standard_normal((32, 2))
    assert np.allclose(forward_numpy(m, probe), forward_numpy(new, probe), rtol=1e-12, atol=1e-12)


def test_standardize_leaves_zero_input_neurons_alone():
    m = symest.handcrafted_10()
    new, ok, _, _ = apply_reparametrization(m, Standardize())
    assert ok
    assert np.array_equal(new.W_hh[0], m.W_hh[0])  # neuron 0 has W_hi = 0


@settings(max_examples=15)
@given(st.data())
def test_rescalings_and_permutations_preserve_the_function(data):
    m = data.draw(rnn_models("2nd_argmax", hidden=3, seq_len=3))
    r = data.draw(reparametrizations(m))
    new, ok, note, _flops = apply_reparametrization(m, r)
    assert ok, note
    probe = np.random.default_rng(1).standard_normal((16, 3))
    a, b = forward_numpy(m, probe), forward_numpy(new, probe)
    assert np.allclose(a, b, rtol=1e-9, atol=1e-9 * (1 + np.abs(a).max()))


@pytest.mark.parametrize("bad", [Rescale((1.0, -1.0)), Rescale((1.0, float("inf"))), Permute((0, 0)),
                                 Compose((Permute((1, 0)), Rescale((0.0, 1.0))))])
def test_disallowed_transforms_are_not_verified(bad):
    _, ok, note, _ = apply_reparametrization(m22_like(), bad)
    assert not ok and note


def test_reparametrize_only_at_top_level():
    sub = Derivation("inner").standardize()
    d = Derivation("outer").split("s", [Branch("all", [], sub)])
    with pytest.raises(DerivationError):
        d.run(m22_like())


# -- deduce ---------------------------------------------------------------------------------


def test_deduce_identities_cost_nothing():
    a = sp.Symbol("a", real=True)
    d = (Derivation("d")
         .deduce("relu pair", sp.Eq(relu(a) - relu(-a), a, evaluate=False))
         .deduce("abs", sp.Eq(relu(a) + relu(-a), sp.Abs(a), evaluate=False))
         .deduce("wrong", sp.Eq(relu(a), a, evaluate=False))
         .compute("one", 1))
    _, led = d.run(m22_like())
    recs = {s.name: s for s in led.steps}
    assert recs["relu pair"].verified and recs["abs"].verified
    assert recs["wrong"].verified is False and not led.valid
    assert all(s.bits == 0 and s.flops == 0 for s in led.steps if s.kind == "deduce")


def test_piecewise_linear_identities():
    m, p, y = sp.Symbol("m", nonnegative=True), sp.Symbol("p", real=True), sp.Symbol("y", real=True)
    assert prove_identity(sp.Max(sp.Max(p - m, 0) + m, 0), sp.Max(m, p))
    assert prove_identity(sp.Max(y - sp.Max(p - m, 0) - m, 0), sp.Max(y - sp.Max(m, p), 0))
    assert not prove_identity(sp.Max(p - m, 0) + m, sp.Max(p, 0))  # false for p < 0 < m... and m > p
    n = network_outputs(2, 2)
    facts = [sp.Eq(w("W_hi", 0), 1), sp.Eq(w("W_hi", 1), -1)] + [
        sp.Eq(w(nm, i, j), v) for nm, t in (("W_hh", ((-1, 1), (1, -1))), ("W_oh", ((1, -1), (-1, 1))))
        for i in range(2) for j in range(2) for v in [t[i][j]]]
    assert prove_identity(n[1] - n[0], 2 * (x(0) - x(1)), facts)
    assert not prove_identity(n[1] - n[0], 2 * (x(1) - x(0)), facts)


def test_positivity_from_sign_and_magnitude_facts():
    a, b, c = w("W_hh", 0, 0), w("W_hh", 0, 1), w("W_oh", 0, 0)
    facts = [a > 0, b < 0, sp.Abs(a) > 1, sp.Abs(b) < 1, c > 0]
    assert prove_positive(a - 1, facts)
    assert prove_positive(c * (a + 1) - c * b, facts)
    assert prove_positive(1 + b, facts)
    assert not prove_positive(a - 2, facts)
    assert not prove_positive(a * w("W_oh", 1, 1), facts)  # W_oh_1_1 has no sign fact
    d = (Derivation("pos").check("a>0", a > 0).check("|a|>1", sp.Abs(a) > 1).check("b<0", b < 0)
         .deduce("a - b > 1", a - b > 1).compute("one", 1))
    mm = m22_like().with_weights({"rnn.weight_ih_l0": np.ones((2, 1)), "rnn.weight_hh_l0": np.array([[2.0, -0.5],
                                  [1.0, 1.0]]), "linear.weight": np.ones((2, 2))})
    _, led = d.run(mm)
    assert led.valid
    with pytest.raises(DerivationError):
        Derivation("x").deduce("s", "a string").run(mm)


def test_deduce_assuming_unknown_fact_is_an_error():
    d = Derivation("u").deduce("p", w("W_hh", 0, 0) > 0, assuming=["nope"])
    with pytest.raises(DerivationError):
        d.run(m22_like())


# -- check ----------------------------------------------------------------------------------


def test_check_bits_by_form_and_prior():
    m = m22_like()
    vals = weight_values(symest.derivation.apply_reparametrization(m, Standardize())[0])
    a, b = w("W_hh", 0, 1), w("W_hh", 1, 0)
    k = agreement_bits(vals[a], vals[b])
    custom = register_prior(Prior("one in eight", lambda c: 1 / 8))
    d = (Derivation("bits").standardize()
         .check("sign", a > 0).check("mag", sp.Abs(a) > 1).check("order", a > b)
         .check("agree", agree(a, b, k)).check("exact", sp.Eq(w("W_hi", 0), -1))
         .check("custom", b > 0, prior=custom).check("fixed", b > 0, prior=Prior.fixed(0.25))
         .check("both", sp.And(a > 0, sp.Abs(a) > 1))
         .check("false", a < 0)
         .compute("one", 1))
    est, led = d.run(m)
    bits = {s.name: s.bits for s in led.steps}
    assert bits == {"standardize": 0, "sign": 1, "mag": 1, "order": 1, "agree": k, "exact": 32, "custom": 3,
                    "fixed": 2, "both": 2, "false": 1, "one": 0}
    recs = {s.name: s for s in led.steps}
    assert recs["false"].verified is False and not led.valid and est.details["valid"] is False
    assert all(recs[n].verified for n in ("sign", "mag", "order", "agree", "exact", "custom", "fixed", "both"))
    assert recs["agree"].measured["agreement_bits"] == k
    assert all(recs[n].flops > 0 for n in ("sign", "mag", "agree"))
    assert led.explanation_bits == sum(bits.values())


def test_check_needs_a_relation_about_weights():
    with pytest.raises(DerivationError):
        Derivation("c").check("not a claim", w("W_hh", 0, 0) + 1)
    d = Derivation("c").check("mentions x", x(0) > 0)
    with pytest.raises(DerivationError):
        d.run(m22_like())


# -- split, compute, presume, estimate kinds ----------------------------------------------------


def test_split_verifies_partitions():
    halves = [Branch("x0>=0", [x(0) >= 0], Derivation("a").compute("m", measure())),
              Branch("x0<=0", [x(0) <= 0], Derivation("b").compute("m", measure()))]
    est, led = Derivation("s").split("halves", halves).run(m22_like())
    assert led.steps[0].verified and est.value == pytest.approx(1.0) and est.kind == "exact"
    overlapping = [Branch("x0>=0", [x(0) >= 0], Derivation("a")), Branch("x1>=0", [x(1) >= 0], Derivation("b"))]
    _, led = Derivation("s").split("bad", overlapping).run(m22_like())
    assert led.steps[0].verified is False
    missing = [Branch("x0>=0", [x(0) >= 0], Derivation("a"))]
    _, led = Derivation("s").split("bad", missing).run(m22_like())
    assert led.steps[0].verified is False
    _, led = Derivation("s").split("unchecked", missing, verify="never").run(m22_like())
    assert led.steps[0].verified is None


def test_split_by_linear_pieces_with_symbolic_constraints():
    m = m22_like()
    branches = [Branch(str(p), piece_constraints(2, 2, p), Derivation(str(p)).compute("mass", measure()))
                for p in linear_pieces(m)]
    est, led = Derivation("pieces").split("pieces", branches).run(m)
    assert led.steps[0].verified and est.value == pytest.approx(1.0, abs=1e-12)
    out = piece_outputs(2, 2, linear_pieces(m)[0])
    assert out.shape == (2, 1) or out.shape == (2,) or len(out) == 2


def test_kinds_flops_and_uncertainty_add_up():
    def numeric(ctx):
        return Computed(0.25, flops=100, error_bound=1e-6, exact=False)

    d = (Derivation("k").compute("exact part", sp.Rational(1, 2))
         .compute("numeric part", numeric)
         .compute("not counted", 7.0, contributes=False)
         .compute("scaled", lambda ctx: (ctx.result("not counted") / 28, 5), coef=-1.0))
    est, led = d.run(m22_like())
    assert est.value == pytest.approx(0.5 + 0.25 - 0.25)
    assert est.kind == "numerical" and est.error_bound == pytest.approx(1e-6)
    assert est.flops == sum(s.flops for s in led.steps) == 105
    d.presume("independence", "x and y independent", value=0.01, uncertainty=0.02)
    d.presume("coupling", "latent q = 0.2", value=lambda ctx: (0.0, 11), uncertainty=0.02)
    est, _ = d.run(m22_like())
    assert est.kind == "approximate" and est.stderr == pytest.approx(math.hypot(0.02, 0.02))
    assert est.value == pytest.approx(0.51) and est.flops == 116


def test_duplicate_and_bad_step_names():
    d = Derivation("n").compute("a", 1)
    with pytest.raises(DerivationError):
        d.compute("a", 2)
    with pytest.raises(DerivationError):
        d.compute("a/b", 2)
    with pytest.raises(DerivationError):
        d.compute("c", "not a number")


def test_wrong_model_is_a_one_line_error():
    d = Derivation("needs n=3", task="2nd_argmax", seq_len=3, hidden=4)
    with pytest.raises(DerivationError, match="sequence length 3") as e:
        d.run(m22_like())
    assert "\n" not in str(e.value)


# -- proof files ---------------------------------------------------------------------------------


def test_run_proof_errors_are_one_line(tmp_path):
    with pytest.raises(DerivationError, match="not found"):
        run_proof(tmp_path / "missing.py")
    (tmp_path / "noderive.py").write_text("MODEL = 'handcrafted_2nd_argmax_2'\n")
    with pytest.raises(DerivationError, match="must define derive"):
        run_proof(tmp_path / "noderive.py")
    (tmp_path / "syntax.py").write_text("def derive(:\n")
    with pytest.raises(DerivationError, match="failed to load"):
        run_proof(tmp_path / "syntax.py")
    (tmp_path / "raises.py").write_text("MODEL = 'handcrafted_2nd_argmax_2'\n"
                                        "def derive(model):\n    raise ValueError('boom\\nsecond line')\n")
    with pytest.raises(DerivationError, match="boom second line") as e:
        run_proof(tmp_path / "raises.py", samples=None)
    assert "\n" not in str(e.value)
    (tmp_path / "shape.py").write_text(
        "from symest.derivation import Derivation\nMODEL = 'handcrafted_2nd_argmax_2'\n"
        "def derive(model):\n    return Derivation('x', task='2nd_argmax', seq_len=3)\n")
    with pytest.raises(symest.SymestError, match="sequence length 3"):
        run_proof(tmp_path / "shape.py", samples=None)
    with pytest.raises(symest.SymestError):
        run_proof(tmp_path / "shape.py", model_name="no_such_model", samples=None)


# -- the testing kit -------------------------------------------------------------------------------


@settings(max_examples=5)
@given(rnn_models("2nd_argmax", hidden=2, seq_len=2), st.data())
def test_kit_strategies_and_assertions(model, data):
    assert model.hidden == 2 and not model.has_bias
    assert_agrees_with_sampling("exact", model, k=5, samples=1 << 14, seed=0)
    r = data.draw(reparametrizations(model))
    assert_invariant_under_reparametrization("exact", model, r, tol=1e-9)
    assert_exact_limit("exact", "exact", model, tol=1e-12)


@settings(max_examples=10)
@given(covariances(4), cones(3, 5))
def test_kit_covariances_and_cones(cov, cone):
    assert np.allclose(cov, cov.T) and np.linalg.eigvalsh(cov).min() > -1e-9
    assert cone.dim == 3 and cone.n_constraints <= 5


def test_kit_assertions_fail_loudly():
    m = m22_like()
    with pytest.raises(AssertionError):
        assert_agrees_with_sampling(lambda _m: 0.5, m, samples=1 << 12)
    with pytest.raises(AssertionError):
        assert_invariant_under_reparametrization(lambda mm: float(mm.W_hi[0, 0]), m, Rescale((2.0, 1.0)))
    with pytest.raises(AssertionError):
        assert_exact_limit(lambda _m: 0.9, lambda _m: 1.0, m, tol=1e-3)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 10), st.integers(0, 2**32 - 1), st.booleans())
def test_3d_measures_by_spherical_clipping_match_the_general_path(m, seed, rank_task):
    """Derivations measure 3-D cones as clipped spherical polygons; wherever that path applies it
    must agree with symest.cones' general measure (within its bound), and it must decline
    (None) rather than answer for cones that contain a line. Normals in general position
    (seeded Gaussian rows; with ``rank_task`` two of them are a rank-task ordering, whose cone
    contains the line through (1, 1, 1))."""
    from symest.cones import Cone, gaussian_measure
    from symest.derivation._measure import _spherical_measure

    normals = np.random.default_rng(seed).normal(size=(m, 3))
    if rank_task:
        normals = np.vstack([[[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]], normals[: m - 1]])
    fast, ref = _spherical_measure(normals), gaussian_measure(Cone(normals))
    if fast is not None:
        assert abs(fast.value - ref.value) <= ref.error_bound + 1e-9
    else:
        assert np.linalg.matrix_rank(np.vstack([normals, np.ones(3)])) < 3 or len(normals) == 1
