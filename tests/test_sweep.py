"""The sweep: exact line integrals over the last input, quadrature over the direction of the rest."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings

from symest import BudgetError, MethodError, estimate, load
from symest.bench import noisy_copy
from symest.estimators.sweep import _arrays, _costs, half_circle_rule, sweep_estimate, sweep_g
from symest.flops import count
from symest.handcrafted import handcrafted_2, handcrafted_3
from symest.testing import assert_invariant_under_reparametrization, reparametrizations, rnn_models

M43 = load("2nd_argmax_4_3")


def _no_denormal_scale(model):
    """Exact treats margins below 1e-12 of their terms' size as structural ties (its documented
    rule), the sweep follows float semantics; they differ only for weights like 1e-27 next to 1."""
    w = np.concatenate([np.ravel(v) for v in model.weights.values()])
    return bool(np.all((w == 0) | (np.abs(w) > 1e-6)))


@settings(max_examples=25, deadline=None)
@given(rnn_models("2nd_argmax", hidden=3, seq_len=2))
def test_n2_equals_the_exact_method(model):
    """n = 2: two sweeps (u = -1, +1) give the accuracy exactly; exact's cone sum must agree."""
    assume(_no_denormal_scale(model))
    assert sweep_estimate(model).value == pytest.approx(estimate(model, "exact").value, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(rnn_models("argmax", hidden=2, seq_len=2))
def test_n2_argmax_equals_the_exact_method(model):
    assume(_no_denormal_scale(model))
    assert sweep_estimate(model).value == pytest.approx(estimate(model, "exact").value, abs=1e-12)


def test_zoo_m22_and_structural_ties():
    m22 = load("2nd_argmax_2_2")
    e = estimate(m22, "sweep")
    assert e.kind == "exact" and abs(e.value - estimate(m22, "exact").value) <= 1e-12
    # handcrafted n = 2 has logit differences identically zero on whole regions (ties broken by
    # argmax's first index): the tie rule must still give exactly 1
    assert estimate(handcrafted_2(), "sweep").value == pytest.approx(1.0, abs=1e-12)


def test_n3_converges_to_the_exact_value():
    truth = estimate(M43, "exact").value
    errors = [abs(sweep_estimate(M43, per_half=k).value - truth) for k in (2, 16, 128)]
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 2e-5  # float32 sweeps; the quadrature error at 256 nodes is ~1e-5 here
    hc = handcrafted_3(lam=3)
    assert sweep_estimate(hc, per_half=128).value == pytest.approx(estimate(hc, "exact").value, abs=1e-4)
    argmedian = load("argmedian_4_3")  # another rank rule (the median's position)
    assert sweep_estimate(argmedian, per_half=256).value == pytest.approx(estimate(argmedian, "exact").value, abs=5e-4)


def test_beats_sampling_at_1e4_flops_on_m43_copies():
    """The cheap end of ARC's protocol: at 1e4 FLOPs sampling has 80 samples; the sweep's RMS error
    over 24 noisy copies must be below sampling's analytic RMS sqrt(mean p(1-p) / 80)."""
    models = [noisy_copy(M43, 0.05, 0, k) for k in range(24)]
    truths = np.array([estimate(m, "exact", certify=False).value for m in models])
    est = [estimate(m, "sweep", budget=1e4) for m in models]
    assert all(e.flops <= 1e4 for e in est)
    rms = math.sqrt(np.mean((np.array([e.value for e in est]) - truths) ** 2))
    sampling = math.sqrt(np.mean(truths * (1 - truths)) / (1e4 // 124))
    assert rms < sampling / 2


def test_flops_are_flopscopes_bill():
    one, setup = _costs(4, 3, 3, 1, "float32")
    e = estimate(M43, "sweep", per_half=3)
    assert e.flops == setup + 6 * one
    angles, _ = half_circle_rule(3)
    w = _arrays(M43.W_hi[:, 0], M43.W_hh, M43.W_oh, 3, "float32")
    billed = count(lambda fnp, w_, a: sweep_g(fnp, w_, fnp.stack([fnp.cos(a), fnp.sin(a)], axis=1), 1),
                   w, angles.astype("float32"))
    assert billed == 6 * one  # batched over nodes: the bill is linear in the node count


def test_budget_is_kept_and_too_small_a_budget_is_refused():
    for budget in (5e3, 1e4, 1e5):
        e = estimate(M43, "sweep", budget=budget)
        assert e.flops <= budget and e.details["nodes"] >= 2
    with pytest.raises(BudgetError, match="needs at least"):
        estimate(M43, "sweep", budget=1e3)


def test_quadrature_rule_integrates_the_circle():
    angles, weights = half_circle_rule(5)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.dot(weights, np.cos(angles) ** 2) == pytest.approx(0.5, abs=1e-12)


def test_deterministic_and_invariant_under_reparametrization():
    a, b = estimate(M43, "sweep", budget=3e4), estimate(M43, "sweep", budget=3e4)
    assert a.value == b.value and a.flops == b.flops


@settings(max_examples=10, deadline=None)
@given(reparametrizations(M43))
def test_rescaling_and_permuting_neurons_keeps_the_estimate(reparam):
    assert_invariant_under_reparametrization(lambda m: sweep_estimate(m, per_half=8).value, M43, reparam, tol=1e-5)


@pytest.mark.parametrize("name, match", [("2nd_argmax_4_5", "sequence length 2 or 3"),
                                         ("median_4_3", "rank tasks"),
                                         ("longest_cycle_4_4", "rank tasks")])
def test_inapplicable_models_get_one_clear_error(name, match):
    with pytest.raises(MethodError, match=match):
        estimate(load(name), "sweep")
